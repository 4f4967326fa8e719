/**
 * `amun manifests SPEC [--kind build|run]`: the objects an inspection would create, as YAML that a
 * cluster admin can review or apply, rendered by the executor's own builders without a cluster.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { amunInProcess as amun } from '../support/cli.js';
import { tempDir } from '../support/stack.js';
import { validateManifest } from './support/fixtures.js';

describe('amun manifests', () => {
  const dir = tempDir('amun-cli-manifests-');
  const gpu = join(process.cwd(), 'examples', 'gpu.yaml');
  const cpu = join(dir.path, 'cpu.yaml');
  writeFileSync(cpu, ['base: docker.io/library/python:3.12-slim', 'identifier: cpu pinned', 'batch_size: 3', 'run:', '  requests:', '    hardware: {cpu_family: 6, cpu_model: 85}', 'script: print(1)', ''].join('\n'));
  afterAll(() => dir.remove());
  const registry = ['--registry', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun'];

  it('prints the build and run objects of the GPU example as valid YAML manifests', async () => {
    const { code, stdout } = await amun('manifests', gpu, ...registry, '--label-preset', 'nfd');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^# Kubernetes objects of inspection-gpu-check-[0-9a-f]{8} \(amun manifests\)/);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.map((d) => d.kind)).toEqual(['Job', 'Secret', 'ConfigMap', 'Job', 'Secret']);
    docs.forEach(validateManifest);
    const run = docs[3] as unknown as { spec: { template: { spec: { containers: Array<{ resources: { limits: Record<string, string> } }>; nodeSelector: Record<string, string>; tolerations: unknown[]; affinity: unknown } } } };
    expect(run.spec.template.spec.containers[0]!.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(run.spec.template.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(run.spec.template.spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(stdout).not.toContain('*a'); // no YAML aliases: kubectl users read every field
    // The same specification gives the same names and image tag.
    expect((await amun('manifests', gpu, ...registry, '--label-preset', 'nfd')).stdout).toBe(stdout);
  });

  it('--kind run prints only the run Job and its Secret, with the CPU-pinned affinity', async () => {
    const { code, stdout } = await amun('manifests', cpu, '--kind', 'run', ...registry, '--label-preset', 'nfd', '--namespace', 'measure', '--exclusive');
    expect(code).toBe(0);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as any);
    expect(docs.map((d) => d.kind)).toEqual(['Job', 'Secret']);
    expect(docs[0].metadata.namespace).toBe('measure');
    expect(docs[0].spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([
      { key: 'feature.node.kubernetes.io/cpu-model.family', operator: 'In', values: ['6'] },
      { key: 'feature.node.kubernetes.io/cpu-model.id', operator: 'In', values: ['85'] },
    ]);
    expect(docs[0].spec.template.spec.affinity.podAntiAffinity).toBeDefined();
  });

  it('exits 2 with the field when the label preset cannot place the request', async () => {
    const unknown = join(dir.path, 'unknown-cpu.yaml');
    writeFileSync(unknown, ['base: docker.io/library/python:3.12-slim', 'identifier: unknown cpu', 'run:', '  requests:', '    hardware: {cpu_family: 6, cpu_model: 999}', 'script: print(1)', ''].join('\n'));
    const { code, stderr } = await amun('manifests', unknown, '--label-preset', 'karpenter', ...registry);
    expect(code).toBe(2);
    expect(stderr).toContain('/run/requests/hardware/cpu_model');
    // A CPU of the table is placed by the EC2 instance families built on it.
    const placed = await amun('manifests', cpu, '--label-preset', 'eks-auto', '--kind', 'run', ...registry);
    expect(placed.code).toBe(0);
    expect(placed.stdout).toContain('eks.amazonaws.com/instance-family');
  });
});
