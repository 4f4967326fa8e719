/**
 * A cluster's nodes and Karpenter's NodePools, read for the placement check
 * (model/placement-check.ts) with an identity that may list them cluster-wide: the deployer's
 * (infra/deploy.ts) or an operator's kubeconfig (`amun cluster check`). Never the functions': their
 * Role (deploy/kubernetes/rbac.yaml) is namespaced, so no function imports this module, and it
 * imports the client statically (a function bundle that took it in would fail
 * test/infra/stack.test.ts).
 *
 * Each request is bounded as kube-api.ts bounds the functions' calls: an AbortSignal given to the
 * request as it leaves.
 */
import { CoreV1Api, CustomObjectsApi, Observable, type ConfigurationOptions, type ObservableMiddleware, type V1Node, type V1NodeSelectorRequirement } from '@kubernetes/client-node';
import type { KubeConfigSource } from './kube-api.js';
import type { NodePoolFacts, NodePoolListing, Taint } from './model/placement-check.js';

/** Karpenter's NodePools (also EKS Auto Mode's). */
export const NODE_POOLS = { group: 'karpenter.sh', version: 'v1', plural: 'nodepools' } as const;

export interface ClusterNodes {
  /** The API server's URL. */
  endpoint: string;
  nodes: V1Node[];
  /** Undefined when not asked for. */
  nodePools: NodePoolListing | undefined;
}

/** The nodes could not be listed: the cluster is unreachable, or the identity may not list them. */
export class NodeListError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NodeListError';
  }
}

function bounded(ms: number): ConfigurationOptions<ObservableMiddleware> {
  const timeout: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [timeout], middlewareMergeStrategy: 'append' };
}

const statusOf = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
};

/** The status and the API server's message, or what went wrong on the wire (the innermost cause with a code). */
function detail(error: unknown, timeoutMs: number): string {
  if ((error as { name?: unknown } | null)?.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const code = statusOf(error);
  if (code !== undefined) {
    const body = (error as { body?: unknown }).body;
    let message: string;
    try {
      message = typeof body === 'string' ? ((JSON.parse(body) as { message?: string }).message ?? '') : '';
    } catch {
      message = String(body); // not JSON: the body as it came
    }
    if (!message && code === 401) message = 'Unauthorized: the cluster does not know these credentials';
    return `${code}${message ? ` ${message}` : ''}`;
  }
  let inner = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 10 && inner?.cause && typeof inner.cause === 'object'; i++) inner = inner.cause as typeof inner;
  const text = String(inner?.message ?? error);
  return typeof inner?.code === 'string' && !text.includes(inner.code) ? `${text} (${inner.code})` : text;
}

function taintsOf(value: unknown): Taint[] {
  return Array.isArray(value) ? value.filter((t): t is Taint => typeof t?.key === 'string' && typeof t?.effect === 'string') : [];
}

function nodePool(item: { metadata?: { name?: string }; spec?: { template?: { spec?: { requirements?: unknown; taints?: unknown } } } }): NodePoolFacts {
  const spec = item.spec?.template?.spec;
  const requirements = Array.isArray(spec?.requirements) ? (spec.requirements as V1NodeSelectorRequirement[]).filter((r) => typeof r?.key === 'string' && typeof r?.operator === 'string') : [];
  return { name: item.metadata?.name ?? '(unnamed)', requirements, taints: taintsOf(spec?.taints) };
}

/**
 * Every node (paged), and with `nodePools` the NodePools; a NodePool list that fails (404: no
 * Karpenter) is reported in the listing, a node list that fails throws NodeListError.
 */
export async function readNodes(source: KubeConfigSource, options: { timeoutSeconds: number; nodePools: boolean }): Promise<ClusterNodes> {
  const config = await source.get();
  const endpoint = config.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  const ms = options.timeoutSeconds * 1000;
  const core = config.makeApiClient(CoreV1Api);
  const nodes: V1Node[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await core.listNode({ limit: 500, ...(token ? { _continue: token } : {}) }, bounded(ms));
      nodes.push(...page.items);
      token = page.metadata?._continue || undefined;
    } while (token);
  } catch (error) {
    throw new NodeListError(`cannot list the nodes of the cluster at ${endpoint}: ${detail(error, ms)}`, statusOf(error), { cause: error });
  }
  if (!options.nodePools) return { endpoint, nodes, nodePools: undefined };
  let nodePools: NodePoolListing;
  try {
    const list = (await config.makeApiClient(CustomObjectsApi).listClusterCustomObject({ ...NODE_POOLS }, bounded(ms))) as { items?: unknown[] };
    nodePools = { pools: (list.items ?? []).map((item) => nodePool(item as Parameters<typeof nodePool>[0])) };
  } catch (error) {
    const what = `${NODE_POOLS.group}/${NODE_POOLS.version} ${NODE_POOLS.plural}`;
    nodePools = { error: statusOf(error) === 404 ? `${what} are not served: Karpenter (or EKS Auto Mode) is not installed` : `${what}: ${detail(error, ms)}` };
  }
  return { endpoint, nodes, nodePools };
}
