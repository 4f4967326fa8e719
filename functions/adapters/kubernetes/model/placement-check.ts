/**
 * Can the cluster's nodes take what the deployment's label preset places by? Two pure judgements of
 * the nodes as plain data (a V1Node is one, so is a parsed kube/nodes/*.yaml):
 *
 *   judgeNodes     the node labels a request may turn into (the preset's label map in
 *                  manifests/placement.ts, the one owner of their names) that no node carries;
 *                  GPU nodes without the CPU labels other nodes have (Node Feature Discovery's
 *                  worker does not tolerate the nvidia.com/gpu taint by default); GPUs nowhere to
 *                  allocate. With Karpenter or EKS Auto Mode a cluster may have no such node yet:
 *                  that is said as expected, and its NodePools are named instead.
 *   judgeRequests  a specification's build and run placed as the Jobs place them (placement()'s
 *                  own affinity, node selector, tolerations and GPU limit): which of its terms no
 *                  node meets, or which nodes fit.
 *
 * Listing nodes takes cluster-wide rights the functions never get (their Role is namespaced), so
 * this runs with the deployer's credentials (infra/deploy.ts, `npm run preflight`) or an operator's
 * kubeconfig (`amun cluster check`); ../kube-api.ts (readNodes) lists them. CPU and memory are not compared.
 */
import type { V1NodeSelectorRequirement, V1Toleration } from '@kubernetes/client-node';
import type { RunRequests } from '../../../core/generated/types.js';
import { GPU_RESOURCE, GPU_TAINT, HARDWARE_FIELDS, placement, PlacementError, type LabelMap, type Placement } from '../manifests/placement.js';

export interface Taint {
  key: string;
  value?: string | undefined;
  effect: string;
}

/** What the check reads of a node. */
export interface NodeFacts {
  metadata?: { name?: string | undefined; labels?: Record<string, string> | undefined } | undefined;
  spec?: { taints?: Taint[] | undefined } | undefined;
  status?: { capacity?: Record<string, string> | undefined; allocatable?: Record<string, string> | undefined } | undefined;
}

/** What the check reads of a Karpenter NodePool (karpenter.sh/v1, also EKS Auto Mode's): its template's requirements and taints. */
export interface NodePoolFacts {
  name: string;
  requirements: V1NodeSelectorRequirement[];
  taints: Taint[];
}

/** The NodePools as listed, or why they could not be (not served: no Karpenter). */
export type NodePoolListing = { pools: NodePoolFacts[] } | { error: string };

export interface NodeVerdict {
  /** Requests that no node can take, each with what to do. */
  problems: string[];
  /** What may keep pods waiting, or is expected (an autoscaler launches nodes on demand). */
  warnings: string[];
  /** One line on the nodes found. */
  found: string;
}

export interface RequestsVerdict {
  problems: string[];
  warnings: string[];
  /** The nodes each placed request fits now, by its JSON Pointer (`/run/requests`). */
  fits: Array<{ path: string; nodes: string[] }>;
}

const NFD_VALUES = 'deploy/helm/node-feature-discovery-values.yaml';
const GFD_INSTALL = "the NVIDIA device plugin's Helm chart with GFD enabled, or the GPU Operator";

/** A label the preset places by, and the request fields it places. */
interface LabelUse {
  key: string;
  fields: string[];
  gpu: boolean;
}

function labelUses(labels: LabelMap): LabelUse[] {
  const uses = new Map<string, LabelUse>();
  const add = (key: string, field: string, gpu = false): void => {
    const use = uses.get(key) ?? { key, fields: [], gpu };
    use.fields.push(field);
    uses.set(key, use);
  };
  if (labels.instanceFamily !== undefined) ['cpu_family', 'cpu_model'].forEach((field) => add(labels.instanceFamily!, field));
  for (const field of HARDWARE_FIELDS) {
    const rule = labels.hardware[field];
    if (rule) add(rule.key, field);
  }
  add(labels.gpuProduct.key, 'gpu.product', true);
  return [...uses.values()];
}

interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  /** nvidia.com/gpu to allocate. */
  gpus: number;
  gpu: boolean;
}

function nodeInfo(node: NodeFacts): NodeInfo {
  const taints = node.spec?.taints ?? [];
  const amount = node.status?.allocatable?.[GPU_RESOURCE] ?? node.status?.capacity?.[GPU_RESOURCE];
  const gpus = Number(amount ?? 0) || 0;
  return { name: node.metadata?.name ?? '(unnamed)', labels: node.metadata?.labels ?? {}, taints, gpus, gpu: gpus > 0 || taints.some((t) => t.key === GPU_TAINT) };
}

function tolerated(tolerations: ReadonlyArray<V1Toleration>, taint: Taint): boolean {
  if (taint.effect === 'PreferNoSchedule') return true;
  return tolerations.some(
    (t) =>
      (!t.effect || t.effect === taint.effect) &&
      (t.key === undefined || t.key === '' ? t.operator === 'Exists' : t.key === taint.key && (t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? ''))),
  );
}

/** The node's taints that keep off a pod with these tolerations. */
const blocking = (node: NodeInfo, tolerations: ReadonlyArray<V1Toleration>): Taint[] => node.taints.filter((t) => !tolerated(tolerations, t));

const taintText = (t: Taint): string => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

function meets(labels: Record<string, string>, r: V1NodeSelectorRequirement): boolean {
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

const requirementText = (r: V1NodeSelectorRequirement): string =>
  r.operator === 'In' && r.values?.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} ${r.operator}${r.values?.length ? ` (${r.values.join(', ')})` : ''}`;

const names = (nodes: ReadonlyArray<NodeInfo>): string => nodes.map((n) => n.name).join(', ');
const orList = (items: ReadonlyArray<string>): string => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : (items[0] ?? ''));
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Who writes a label the preset places by, and how to get it onto the nodes. */
function source(labels: LabelMap, use: LabelUse): string {
  if (labels.provisioner) return `${labels.provisioner} sets it on the nodes it launches`;
  if (use.gpu) return `GPU Feature Discovery writes it (${GFD_INSTALL})`;
  if (labels.name === 'nfd') return `Node Feature Discovery writes it: install it (helm install nfd nfd/node-feature-discovery -f ${NFD_VALUES}; docs/KUBERNETES.md, "Node labels for hardware placement")`;
  return `label the nodes that should take such requests (kubectl label node <node> ${use.key}=<value>)`;
}

/** The tolerations Amun's pods ever carry: a GPU run's, as placement() gives them. */
function amunTolerations(labels: LabelMap): V1Toleration[] {
  return placement({ gpu: { count: 1 } }, labels, '/run/requests').tolerations;
}

function poolLine(listing: NodePoolListing | undefined): string {
  if (!listing) return '';
  if ('error' in listing) return ''; // a warning says why
  return `; NodePools: ${listing.pools.length > 0 ? listing.pools.map((p) => p.name).join(', ') : 'none'}`;
}

/**
 * The cluster's nodes against the labels `labels` places by. `nodePools`: Karpenter's NodePools
 * when the preset has a provisioner (undefined: not looked up).
 */
export function judgeNodes(nodes: ReadonlyArray<NodeFacts>, labels: LabelMap, nodePools?: NodePoolListing): NodeVerdict {
  const problems: string[] = [];
  const warnings: string[] = [];
  const preset = `preset ${labels.name}`;
  const provisioner = labels.provisioner;
  const all = nodes.map(nodeInfo);
  const tolerations = amunTolerations(labels);
  // Nodes tainted otherwise (control plane, dedicated pools) take none of Amun's pods.
  const usable = all.filter((n) => blocking(n, tolerations).length === 0);
  const leftOut = all.filter((n) => blocking(n, tolerations).length > 0);
  const uses = labelUses(labels);
  const gpuNodes = usable.filter((n) => n.gpu);
  const placed = usable.filter((n) => uses.some((u) => !u.gpu && u.key in n.labels));
  const found =
    `${plural(all.length, 'node')}` +
    (leftOut.length > 0 ? ` (${leftOut.length} tainted against Amun's pods: ${leftOut.map((n) => `${n.name} ${blocking(n, tolerations).map(taintText).join(', ')}`).join('; ')})` : '') +
    `, ${gpuNodes.length} with GPUs${gpuNodes.length > 0 ? ` (${gpuNodes.map((n) => `${n.name}: ${n.gpus} ${GPU_RESOURCE}${n.labels[labels.gpuProduct.key] ? ` ${n.labels[labels.gpuProduct.key]}` : ''}`).join('; ')})` : ''}` +
    `; CPU labels of ${preset} on ${placed.length}${placed.length > 0 ? ` (${names(placed)})` : ''}` +
    poolLine(nodePools);

  if (provisioner && nodePools && 'pools' in nodePools && nodePools.pools.length === 0) {
    (usable.length === 0 ? problems : warnings).push(`no NodePool: ${provisioner} launches no node without one, so a request no current node fits waits until its deadline; create one (EKS Auto Mode: enable its built-in general-purpose pool)`);
  } else if (provisioner && nodePools && 'error' in nodePools) {
    warnings.push(`could not list NodePools (${nodePools.error}): ${preset} relies on ${provisioner} launching nodes; check that a NodePool exists (kubectl get nodepools)`);
  }
  if (usable.length === 0) {
    const none = all.length === 0 ? 'no nodes' : `no node Amun's pods may run on (${leftOut.length} tainted against them)`;
    if (provisioner) warnings.push(`${none} yet: expected on a cluster where ${provisioner} launches nodes for pending pods (the first build waits for one)`);
    else problems.push(`${none}: every build and run would wait until its deadline`);
    return { problems, warnings, found };
  }

  // (a) labels the preset places by that no node carries.
  for (const use of uses) {
    if (usable.some((n) => use.key in n.labels)) continue;
    if (use.gpu && gpuNodes.length === 0) continue; // said once below, with the GPUs
    const text = `no node carries ${use.key}, by which ${preset} places ${use.fields.join(' and ')}`;
    if (provisioner) warnings.push(`${text}, yet: expected until ${provisioner} launches a node for such a request (${source(labels, use)}); a NodePool must admit such instances (kubectl get nodepools)`);
    else problems.push(`${text}: a request for ${orList(use.fields)} is never placed (it waits until its deadline); ${source(labels, use)}`);
  }

  // GPUs to allocate.
  if (gpuNodes.length === 0) {
    const text = `no node has ${GPU_RESOURCE} to allocate`;
    warnings.push(
      provisioner
        ? `${text} yet: expected if ${provisioner} launches GPU instances on demand (a NodePool must admit GPU instance types)`
        : `${text}: runs that ask for a GPU are never placed; GPU nodes need the NVIDIA device plugin (or the GPU Operator), and GPU Feature Discovery for ${labels.gpuProduct.key}`,
    );
  }
  for (const n of gpuNodes.filter((n) => n.gpus === 0)) {
    warnings.push(`node ${n.name} is tainted ${GPU_TAINT} but has no ${GPU_RESOURCE} to allocate: the NVIDIA device plugin is not running there (yet), and GPU runs are not placed there`);
  }

  // (b) nodes without labels other nodes carry, grouped by what they lack.
  const carried = uses.filter((u) => usable.some((n) => u.key in n.labels));
  const lacking = new Map<string, { nodes: NodeInfo[]; missing: LabelUse[]; gpu: boolean }>();
  for (const n of usable) {
    const missing = carried.filter((u) => !(u.key in n.labels) && (n.gpu || !u.gpu));
    if (missing.length === 0) continue;
    const group = `${n.gpu}|${missing.map((u) => u.key).join(',')}`;
    const entry = lacking.get(group) ?? { nodes: [], missing, gpu: n.gpu };
    entry.nodes.push(n);
    lacking.set(group, entry);
  }
  for (const { nodes: lack, missing, gpu } of lacking.values()) {
    const keys = missing.map((u) => u.key).join(', ');
    const fields = orList([...new Set(missing.flatMap((u) => u.fields))]);
    const who = `${gpu ? 'GPU ' : ''}${lack.length === 1 ? 'node' : 'nodes'} ${names(lack)}`;
    if (provisioner) {
      warnings.push(`${who} ${lack.length === 1 ? 'lacks' : 'lack'} ${keys}, which other nodes carry: ${provisioner} did not launch ${lack.length === 1 ? 'it' : 'them'}, and requests for ${fields} are placed only on nodes it launches`);
      continue;
    }
    const text = `${who} ${lack.length === 1 ? 'lacks' : 'lack'} ${keys}, which other nodes carry: ${gpu ? 'a GPU run' : 'a request'} that asks for ${fields} is never placed there`;
    const cpu = missing.filter((u) => !u.gpu);
    const tainted = lack.every((n) => n.taints.some((t) => t.key === GPU_TAINT));
    const causes: string[] = [];
    if (gpu && cpu.length > 0 && labels.name === 'nfd' && tainted) {
      causes.push(`Node Feature Discovery's worker does not tolerate the ${GPU_TAINT} taint by default: install it with ${NFD_VALUES} (or use the NFD of the NVIDIA GPU Operator, which tolerates it)`);
    } else if (cpu.length > 0) {
      causes.push(labels.name === 'nfd' ? `Node Feature Discovery's worker is not running there (a taint or node selector it does not match?)` : source(labels, cpu[0]!));
    }
    if (missing.some((u) => u.gpu)) causes.push(`GPU Feature Discovery is not running there (${GFD_INSTALL})`);
    (gpu ? problems : warnings).push(`${text}. ${causes.join('; ')}`);
  }
  return { problems, warnings, found };
}

/** One term of a placement: its text, and whether a node meets it. */
interface Term {
  text: string;
  meets: (node: NodeInfo) => boolean;
}

function terms(place: Placement): Term[] {
  const out: Term[] = place.nodeAffinity.map((r) => ({ text: requirementText(r), meets: (n: NodeInfo) => meets(n.labels, r) }));
  for (const [key, value] of Object.entries(place.nodeSelector)) out.push({ text: `${key}=${value}`, meets: (n) => n.labels[key] === value });
  for (const [resource, amount] of Object.entries(place.limits)) {
    out.push({
      text: `${amount} ${resource} to allocate`,
      meets: resource === GPU_RESOURCE ? (n) => n.gpus >= Number(amount) : () => true,
    });
  }
  return out;
}

/** Whether a NodePool's requirement on the key lets a node meet `wanted` (an In term): approximate, other keys (instance category, size) are not compared. */
function poolAdmits(pool: NodePoolFacts, wanted: V1NodeSelectorRequirement): boolean {
  const values = wanted.operator === 'In' ? (wanted.values ?? []) : undefined;
  if (!values) return true;
  return pool.requirements
    .filter((r) => r.key === wanted.key)
    .every((r) => values.some((v) => meets({ [wanted.key]: v }, r)));
}

/** What the NodePools say about a placement no node fits now; undefined when they admit it. */
function poolsRefuse(listing: NodePoolListing | undefined, place: Placement): string | undefined {
  if (!listing || 'error' in listing) return undefined;
  if (listing.pools.length === 0) return 'there is no NodePool';
  const wanted = [...place.nodeAffinity, ...Object.entries(place.nodeSelector).map(([key, value]) => ({ key, operator: 'In', values: [value] }))];
  const reasons: string[] = [];
  for (const pool of listing.pools) {
    const refused = wanted.find((r) => !poolAdmits(pool, r));
    const taints = pool.taints.filter((t) => !tolerated(place.tolerations, t));
    if (!refused && taints.length === 0) return undefined;
    reasons.push(refused ? `${pool.name} requires ${pool.requirements.filter((r) => r.key === refused.key).map(requirementText).join(', ')}` : `${pool.name} taints ${taints.map(taintText).join(', ')}`);
  }
  return `no NodePool admits it (${reasons.join('; ')})`;
}

/**
 * A specification's build (and, when it has a script, its run) placed as their Jobs are, against the
 * nodes: which terms no node meets. A request the preset cannot express is a problem here as at
 * submit (PlacementError's problems).
 */
export function judgeRequests(
  nodes: ReadonlyArray<NodeFacts>,
  labels: LabelMap,
  spec: { build?: { requests?: RunRequests | undefined } | undefined; run?: { requests?: RunRequests | undefined } | undefined; script?: unknown },
  nodePools?: NodePoolListing,
): RequestsVerdict {
  const problems: string[] = [];
  const warnings: string[] = [];
  const fits: RequestsVerdict['fits'] = [];
  const all = nodes.map(nodeInfo);
  const requested: Array<[RunRequests | undefined, string, string]> = [[spec.build?.requests, '/build/requests', 'the build']];
  if (spec.script !== undefined && spec.script !== null && spec.script !== '') requested.push([spec.run?.requests, '/run/requests', 'the runs']);
  for (const [requests, path, what] of requested) {
    let place: Placement;
    try {
      place = placement(requests, labels, path);
    } catch (error) {
      if (!(error instanceof PlacementError)) throw error;
      problems.push(...error.problems.map((p) => `${p.path}: ${p.message}`));
      continue;
    }
    const wanted = terms(place);
    const open = all.filter((n) => blocking(n, place.tolerations).length === 0);
    const fit = open.filter((n) => wanted.every((t) => t.meets(n)));
    if (fit.length > 0) {
      fits.push({ path, nodes: fit.map((n) => n.name) });
      continue;
    }
    let why: string;
    const nowhere = wanted.filter((t) => !all.some((n) => t.meets(n)));
    const together = all.filter((n) => wanted.every((t) => t.meets(n)));
    if (all.length === 0) why = 'the cluster has no nodes';
    else if (nowhere.length > 0) why = `no node has ${nowhere.map((t) => t.text).join(', nor ')}`;
    else if (together.length > 0) {
      const gpuOnly = together.every((n) => blocking(n, place.tolerations).every((t) => t.key === GPU_TAINT));
      why =
        `${together.map((n) => `${n.name} (tainted ${blocking(n, place.tolerations).map(taintText).join(', ')})`).join(', ')} ${together.length === 1 ? 'has' : 'have'} ${wanted.map((t) => t.text).join(', ')}, ` +
        `but ${what} do not tolerate ${together.length === 1 ? 'its taint' : 'their taints'}${gpuOnly ? ' (only pods that ask for a GPU do)' : ''}`;
    } else if (wanted.length > 0) {
      why = `no node has ${wanted.map((t) => t.text).join(' and ')} together (${wanted.map((t) => `${t.text}: ${names(all.filter((n) => t.meets(n)))}`).join('; ')})`;
    } else {
      why = `every node is tainted against ${what} (${all.map((n) => `${n.name} ${blocking(n, place.tolerations).map(taintText).join(', ')}`).join('; ')})`;
    }
    const provisioner = labels.provisioner;
    const refused = provisioner ? poolsRefuse(nodePools, place) : undefined;
    if (provisioner && !refused) {
      warnings.push(`${path}: ${why} yet: ${provisioner} must launch one for ${what} (checked against the NodePools' requirements on these labels only: kubectl get nodepools)`);
    } else {
      problems.push(`${path}: ${why}${refused ? `, and ${refused}` : ''}: ${what} would wait until ${what === 'the build' ? 'its' : 'their'} deadline`);
    }
  }
  return { problems, warnings, fits };
}
