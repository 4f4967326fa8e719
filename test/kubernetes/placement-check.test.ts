/**
 * The placement check (functions/adapters/kubernetes/model/placement-check.ts) on the nodes of the
 * tests' cluster (kube/nodes/*.yaml, as the API server returns them) and variants of them: the node
 * labels a preset places by that no node carries, GPU nodes without CPU labels (NFD's worker without
 * the GPU toleration), clusters an autoscaler has not filled yet, and a specification's placement.
 * Pure: no cluster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { LABEL_PRESETS } from '../../functions/adapters/kubernetes/manifests/placement.js';
import { judgeNodes, judgeRequests, type NodeFacts } from '../../functions/adapters/kubernetes/model/placement-check.js';

const NODES_DIR = join(process.cwd(), 'kube', 'nodes');
const fixtures: NodeFacts[] = readdirSync(NODES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => parse(readFileSync(join(NODES_DIR, f), 'utf8')) as NodeFacts);
const node = (name: string): NodeFacts => fixtures.find((n) => n.metadata?.name === name)!;
const nodes = (...names: string[]): NodeFacts[] => names.map(node);
/** The node without the labels whose keys start with `prefix`. */
const without = (n: NodeFacts, prefix: string): NodeFacts => ({
  ...n,
  metadata: { ...n.metadata, labels: Object.fromEntries(Object.entries(n.metadata?.labels ?? {}).filter(([k]) => !k.startsWith(prefix))) },
});
const NFD = 'feature.node.kubernetes.io/cpu-model.';
const gpuSpec = parse(readFileSync(join(process.cwd(), 'examples', 'gpu.yaml'), 'utf8')) as { run: { requests: Record<string, unknown> } };
const spec = (run: Record<string, unknown>) => ({ script: 'print(1)', run: { requests: run } });

describe('judgeNodes: the labels a preset places by, on the nodes', () => {
  it('nfd on the test cluster: every label is carried; the nodes Karpenter and Auto Mode launched lack the CPU labels', () => {
    const verdict = judgeNodes(fixtures, LABEL_PRESETS.nfd);
    expect(verdict.found).toBe('5 nodes, 1 with GPUs (gpu-h100: 8 nvidia.com/gpu NVIDIA-H100-80GB-HBM3); CPU labels of preset nfd on 3 (amd-milan, gpu-h100, intel-skylake)');
    expect(verdict.problems).toEqual([]);
    expect(verdict.warnings).toEqual([
      `nodes eks-auto-m7a, karpenter-c6i lack ${NFD}family, ${NFD}id, ${NFD}vendor_id, which other nodes carry: a request that asks for cpu_family, cpu_model or processor is never placed there. ` +
        "Node Feature Discovery's worker is not running there (a taint or node selector it does not match?)",
    ]);
  });

  it('nfd: a GPU node tainted nvidia.com/gpu without the CPU labels is a problem that points at the NFD values with the toleration', () => {
    const verdict = judgeNodes([node('intel-skylake'), without(node('gpu-h100'), NFD)], LABEL_PRESETS.nfd);
    expect(verdict.warnings).toEqual([]);
    expect(verdict.problems).toHaveLength(1);
    expect(verdict.problems[0]).toMatch(/^GPU node gpu-h100 lacks feature\.node\.kubernetes\.io\/cpu-model\.family, .*: a GPU run that asks for cpu_family, cpu_model or processor is never placed there\./);
    expect(verdict.problems[0]).toContain("Node Feature Discovery's worker does not tolerate the nvidia.com/gpu taint by default: install it with deploy/helm/node-feature-discovery-values.yaml");
  });

  it('nfd: labels no node carries (NFD not installed) are problems, one per label, with how to install it', () => {
    const verdict = judgeNodes(nodes('karpenter-c6i', 'eks-auto-m7a'), LABEL_PRESETS.nfd);
    expect(verdict.problems).toEqual(
      ['family', 'id', 'vendor_id'].map((k) => expect.stringMatching(new RegExp(`^no node carries ${NFD.replace(/\./g, '\\.')}${k}, by which preset nfd places \\w+: .*helm install nfd nfd/node-feature-discovery -f deploy/helm/node-feature-discovery-values\\.yaml`))),
    );
    // No GPU anywhere: said once, not also as a missing product label.
    expect(verdict.warnings).toEqual([expect.stringMatching(/^no node has nvidia\.com\/gpu to allocate: runs that ask for a GPU are never placed; GPU nodes need the NVIDIA device plugin/)]);
  });

  it('a GPU node without GPU Feature Discovery\'s product label, and one tainted whose device plugin is not running', () => {
    const noGfd = without(node('gpu-h100'), 'nvidia.com/gpu.');
    const noPlugin: NodeFacts = { ...node('gpu-h100'), metadata: { ...node('gpu-h100').metadata, name: 'gpu-new' }, status: { allocatable: { cpu: '8' }, capacity: { cpu: '8' } } };
    const verdict = judgeNodes([noGfd, noPlugin], LABEL_PRESETS.nfd);
    expect(verdict.problems).toEqual([expect.stringMatching(/^GPU node gpu-h100 lacks nvidia\.com\/gpu\.product, which other nodes carry: a GPU run that asks for gpu\.product is never placed there\. GPU Feature Discovery is not running there/)]);
    expect(verdict.warnings).toEqual(['node gpu-new is tainted nvidia.com/gpu but has no nvidia.com/gpu to allocate: the NVIDIA device plugin is not running there (yet), and GPU runs are not placed there']);
  });

  it('nodes tainted against every Amun pod (a control plane) are left out, and named', () => {
    const controlPlane: NodeFacts = { metadata: { name: 'cp-1', labels: {} }, spec: { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } };
    const verdict = judgeNodes([...nodes('intel-skylake', 'gpu-h100'), controlPlane], LABEL_PRESETS.nfd);
    expect(verdict.found).toMatch(/^3 nodes \(1 tainted against Amun's pods: cp-1 node-role\.kubernetes\.io\/control-plane:NoSchedule\), 1 with GPUs/);
    expect(verdict).toMatchObject({ problems: [], warnings: [] });
    expect(judgeNodes([controlPlane], LABEL_PRESETS.nfd).problems).toEqual(["no node Amun's pods may run on (1 tainted against them): every build and run would wait until its deadline"]);
  });

  it('amun: the original labels, which nobody but the admin writes, named with the kubectl label command', () => {
    const { problems } = judgeNodes(fixtures, LABEL_PRESETS.amun);
    expect(problems.map((p) => p.split(',')[0])).toEqual(['no node carries CPU_FAMILY', 'no node carries CPU_MODEL', 'no node carries PHYSICAL_CPUS', 'no node carries processor']);
    expect(problems[0]).toContain('kubectl label node <node> CPU_FAMILY=<value>');
  });

  it('karpenter with no nodes yet: expected, said so; no NodePool is the problem then', () => {
    expect(judgeNodes([], LABEL_PRESETS.karpenter)).toEqual({
      problems: [],
      warnings: ['no nodes yet: expected on a cluster where Karpenter launches nodes for pending pods (the first build waits for one)'],
      found: '0 nodes, 0 with GPUs; CPU labels of preset karpenter on 0',
    });
    const none = judgeNodes([], LABEL_PRESETS.karpenter, { pools: [] });
    expect(none.problems).toEqual([expect.stringMatching(/^no NodePool: Karpenter launches no node without one/)]);
    expect(none.found).toMatch(/; NodePools: none$/);
    const pooled = judgeNodes([], LABEL_PRESETS.karpenter, { pools: [{ name: 'default', requirements: [], taints: [] }] });
    expect(pooled).toMatchObject({ problems: [], found: '0 nodes, 0 with GPUs; CPU labels of preset karpenter on 0; NodePools: default' });
    expect(judgeNodes([], LABEL_PRESETS.karpenter, { error: 'karpenter.sh/v1 nodepools are not served: Karpenter (or EKS Auto Mode) is not installed' }).warnings[0]).toMatch(
      /^could not list NodePools \(karpenter\.sh\/v1 nodepools are not served: .*\): preset karpenter relies on Karpenter launching nodes; check that a NodePool exists/,
    );
  });

  it('eks-auto: labels not yet carried are warnings, not problems (no GPU instance launched yet; no GPU name on a GPU node)', () => {
    const verdict = judgeNodes(nodes('eks-auto-m7a'), LABEL_PRESETS['eks-auto']);
    expect(verdict.problems).toEqual([]);
    expect(verdict.warnings).toEqual(['no node has nvidia.com/gpu to allocate yet: expected if EKS Auto Mode launches GPU instances on demand (a NodePool must admit GPU instance types)']);
    expect(verdict.found).toBe('1 node, 0 with GPUs; CPU labels of preset eks-auto on 1 (eks-auto-m7a)');
    const withGpu = judgeNodes(nodes('eks-auto-m7a', 'gpu-h100'), LABEL_PRESETS['eks-auto']);
    expect(withGpu.problems).toEqual([]);
    expect(withGpu.warnings).toEqual([
      expect.stringMatching(/^no node carries eks\.amazonaws\.com\/instance-gpu-name, by which preset eks-auto places gpu\.product, yet: expected until EKS Auto Mode launches a node/),
      expect.stringMatching(/^GPU node gpu-h100 lacks eks\.amazonaws\.com\/instance-family, eks\.amazonaws\.com\/instance-cpu-manufacturer, which other nodes carry: EKS Auto Mode did not launch it/),
    ]);
  });
});

describe('judgeRequests: a specification placed as its Jobs are', () => {
  it('examples/gpu.yaml on nfd: an H100 on an AMD host is on no node of the test cluster (the H100 node is Intel); the build fits the untainted nodes', () => {
    const verdict = judgeRequests(fixtures, LABEL_PRESETS.nfd, { ...gpuSpec, script: 'print(1)' });
    expect(verdict.fits).toEqual([{ path: '/build/requests', nodes: ['amd-milan', 'eks-auto-m7a', 'intel-skylake', 'karpenter-c6i'] }]);
    expect(verdict.problems).toEqual([
      `/run/requests: no node has ${NFD}family=25 and nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3 and 1 nvidia.com/gpu to allocate together ` +
        `(${NFD}family=25: amd-milan; nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3: gpu-h100; 1 nvidia.com/gpu to allocate: gpu-h100): the runs would wait until their deadline`,
    ]);
  });

  it('the H100 with its own CPU fits gpu-h100; more GPUs than any node has is named', () => {
    expect(judgeRequests(fixtures, LABEL_PRESETS.nfd, spec({ gpu: { count: 8, product: 'NVIDIA-H100-80GB-HBM3' }, hardware: { cpu_family: 6, cpu_model: 143 } })).fits).toContainEqual({ path: '/run/requests', nodes: ['gpu-h100'] });
    expect(judgeRequests(fixtures, LABEL_PRESETS.nfd, spec({ gpu: { count: 9 } })).problems).toEqual(['/run/requests: no node has 9 nvidia.com/gpu to allocate: the runs would wait until their deadline']);
  });

  it('a CPU only the GPU node has: the taint is named, and that only GPU pods tolerate it', () => {
    expect(judgeRequests(fixtures, LABEL_PRESETS.nfd, spec({ hardware: { cpu_family: 6, cpu_model: 143 } })).problems).toEqual([
      `/run/requests: gpu-h100 (tainted nvidia.com/gpu=true:NoSchedule) has ${NFD}family=6, ${NFD}id=143, but the runs do not tolerate its taint (only pods that ask for a GPU do): the runs would wait until their deadline`,
    ]);
  });

  it('what the preset cannot express is a problem as at submit; without a script only the build is placed', () => {
    const verdict = judgeRequests(fixtures, LABEL_PRESETS.nfd, spec({ hardware: { processor: 'Intel Xeon Gold 6240' } }));
    expect(verdict.problems).toEqual([expect.stringMatching(/^\/run\/requests\/hardware\/processor: the cluster's node labels \(preset nfd\) place processor by feature\.node\.kubernetes\.io\/cpu-model\.vendor_id/)]);
    expect(judgeRequests(fixtures, LABEL_PRESETS.nfd, { run: { requests: { gpu: { count: 99 } } } }).fits.map((f) => f.path)).toEqual(['/build/requests']);
  });

  it('karpenter: no node yet is a warning while a NodePool may launch one, a problem when every NodePool refuses it', () => {
    const request = spec({ gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' }, hardware: { cpu_family: 25, cpu_model: 1 } });
    const open = judgeRequests(fixtures, LABEL_PRESETS.karpenter, request, { pools: [{ name: 'gpu', requirements: [{ key: 'karpenter.k8s.aws/instance-family', operator: 'In', values: ['p5', 'g6'] }], taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] }] });
    expect(open.problems).toEqual([]);
    expect(open.warnings).toEqual([
      '/run/requests: no node has karpenter.k8s.aws/instance-family In (c6a, g6, g6e, m6a, p5, r6a), nor karpenter.k8s.aws/instance-gpu-name=h100 yet: Karpenter must launch one for the runs (checked against the NodePools\' requirements on these labels only: kubectl get nodepools)',
    ]);
    const closed = judgeRequests(fixtures, LABEL_PRESETS.karpenter, request, {
      pools: [
        { name: 'general', requirements: [{ key: 'karpenter.k8s.aws/instance-family', operator: 'In', values: ['m7a', 'c6i'] }], taints: [] },
        { name: 'ml', requirements: [], taints: [{ key: 'team', value: 'ml', effect: 'NoSchedule' }] },
      ],
    });
    expect(closed.warnings).toEqual([]);
    expect(closed.problems).toEqual([expect.stringContaining('and no NodePool admits it (general requires karpenter.k8s.aws/instance-family In (m7a, c6i); ml taints team=ml:NoSchedule): the runs would wait until their deadline')]);
    // On an empty cluster the build waits for a node too.
    expect(judgeRequests([], LABEL_PRESETS.karpenter, {}).warnings).toEqual([expect.stringMatching(/^\/build\/requests: the cluster has no nodes yet: Karpenter must launch one for the build/)]);
  });
});
