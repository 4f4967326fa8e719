/**
 * `amun cluster check` (the CLI's commands, in this process) against the tests' control plane
 * (kube/nodes/*.yaml played by kwok): it lists the nodes with the admin's kubeconfig and reports
 * the preset's labels on them and a specification's placement; the functions' identity may not
 * list nodes at all (their Role is namespaced), which is why the check is the operator's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { amunInProcess } from '../support/cli.js';
import { tempDir } from '../support/stack.js';
import { describeWithCluster, startCluster, type TestCluster } from './support/cluster.js';

describeWithCluster('amun cluster check on a real control plane', () => {
  const dir = tempDir('amun-cluster-check-');
  let cluster: TestCluster;
  const saved: Record<string, string | undefined> = {};
  const check = (...args: string[]) => amunInProcess('cluster', 'check', ...args);

  beforeAll(async () => {
    // Only what the options give: no preset, kubeconfig or timeout of the caller's.
    for (const name of ['AMUN_K8S_LABEL_PRESET', 'AMUN_K8S_KUBECONFIG', 'KUBECONFIG', 'AMUN_K8S_TIMEOUT_SECONDS']) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
    cluster = await startCluster();
  }, 240_000);
  afterAll(async () => {
    await cluster?.stop();
    dir.remove();
    for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
  });

  it('nfd (the default preset): the nodes as found, the two nodes without NFD labels a warning, exit 0', async () => {
    const { code, stdout, stderr } = await check('--kubeconfig', cluster.adminKubeconfig);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^cluster at https:\/\/127\.0\.0\.1:\d+, label preset nfd: 5 nodes, 1 with GPUs \(gpu-h100: 8 nvidia\.com\/gpu NVIDIA-H100-80GB-HBM3\); CPU labels of preset nfd on 3 \(amd-milan, gpu-h100, intel-skylake\)$/,
    );
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^warning: nodes eks-auto-m7a, karpenter-c6i lack feature\.node\.kubernetes\.io\/cpu-model\.family/)]);
  });

  it('with a specification: where its build and runs fit, and a run no node can take is a problem (exit 1)', async () => {
    const fits = join(dir.path, 'h100-intel.yaml');
    writeFileSync(fits, 'base: python:3.12\nscript: print(1)\nrun:\n  requests:\n    gpu: {count: 2, product: NVIDIA-H100-80GB-HBM3}\n    hardware: {cpu_family: 6, cpu_model: 143}\n');
    const good = await check('--kubeconfig', cluster.adminKubeconfig, fits);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('\n/build/requests fits: amd-milan, eks-auto-m7a, intel-skylake, karpenter-c6i\n/run/requests fits: gpu-h100\n');

    const gpuExample = join(process.cwd(), 'examples', 'gpu.yaml');
    const bad = await check('--kubeconfig', cluster.adminKubeconfig, gpuExample, '--json');
    expect(bad.code).toBe(1);
    const verdict = JSON.parse(bad.stdout) as { preset: string; problems: string[]; fits: unknown[] };
    expect(verdict.preset).toBe('nfd');
    expect(verdict.problems).toEqual([expect.stringMatching(/^\/run\/requests: no node has feature\.node\.kubernetes\.io\/cpu-model\.family=25 and nvidia\.com\/gpu\.product=NVIDIA-H100-80GB-HBM3 and 1 nvidia\.com\/gpu to allocate together/)]);
  });

  it('karpenter: NodePools are not served here (no Karpenter), said as a warning; nothing refused', async () => {
    const { code, stdout } = await check('--kubeconfig', cluster.adminKubeconfig, '--label-preset', 'karpenter');
    expect(code).toBe(0);
    expect(stdout).toContain('warning: could not list NodePools (karpenter.sh/v1 nodepools are not served: Karpenter (or EKS Auto Mode) is not installed)');
  });

  it("the functions' identity may not list nodes: exit 1, naming the kubeconfig", async () => {
    const { code, stderr } = await check('--kubeconfig', cluster.functionsKubeconfig);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^amun: cannot list the nodes of the cluster at https:\/\/127\.0\.0\.1:\d+: 403 nodes is forbidden: User "amun-functions" cannot list resource "nodes".*may not list nodes/);
  });
});
