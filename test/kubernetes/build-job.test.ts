/**
 * The build Job for real stacks: kaniko gets at least the cluster's builder floor (the spec's
 * build.requests when larger) and ephemeral storage sized by the stack, an OOM-killed builder fails
 * the Job at once while a disruption is retried, the limits travel to the reconciler and the report
 * step, and kaniko's layer cache lives in its own repository. Every manifest valid (kubernetes-models).
 */
import { builderResources, buildJob, isLargeStack, KILLED_EXIT_CODE } from '../../functions/adapters/kubernetes/manifests/index.js';
import { clusterSettings } from '../../functions/adapters/kubernetes/cluster.js';
import { kubernetesFromEnv } from '../../functions/config.js';
import { normalizeSpecification, type Specification } from '../../functions/core/specification.js';
import { DIGEST, ECR, settings, validateManifest } from './support/fixtures.js';

const ID = 'inspection-builder-0123abcd';
const spec = (fields: object = {}): Specification =>
  normalizeSpecification({ base: 'docker.io/library/python:3.12-slim', script: 'print(1)\n', ...fields }, { now: new Date('2025-01-01T00:00:00Z'), version: 'test' });
const build = (s = spec(), cluster = settings()) => buildJob({ inspectionId: ID, spec: s, stackDigest: DIGEST, contextKey: `inspections/${ID}/build/context.tar.gz`, settings: cluster });
const kanikoOf = (job: ReturnType<typeof build>) => job.spec!.template.spec!.initContainers![0]!;

describe('builder resources', () => {
  it('raises the spec’s default build requests (500m, 256Mi) to the floor and asks for ephemeral storage, limits equal to requests', () => {
    const kaniko = kanikoOf(build());
    const expected = { cpu: '1', memory: '2Gi', 'ephemeral-storage': '10Gi' };
    expect(kaniko.resources).toEqual({ requests: expected, limits: expected });
    validateManifest(build());
  });

  it('keeps the spec’s requests where they are larger, whatever their unit', () => {
    expect(builderResources(spec({ build: { requests: { cpu: '4', memory: '8Gi' } } }), settings().builder)).toEqual({ cpu: '4', memory: '8Gi', 'ephemeral-storage': '10Gi' });
    expect(builderResources(spec({ build: { requests: { cpu: '1500m', memory: '3G' } } }), settings().builder)).toMatchObject({ cpu: '1500m', memory: '3G' });
    expect(builderResources(spec({ build: { requests: { cpu: '900m', memory: '2000Mi' } } }), settings().builder)).toMatchObject({ cpu: '1', memory: '2Gi' });
  });

  it.each([
    ['a CUDA base', { base: 'nvcr.io/nvidia/cuda:12.4.1-runtime-ubuntu22.04' }],
    ['a PyTorch base', { base: 'docker.io/pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime' }],
    ['torch from python_packages', { python_packages: ['Torch==2.3.0; python_version >= "3.9"'] }],
    ['tensorflow from the Pipfile', { python: { requirements: { packages: { tensorflow_gpu: '*' } } } }],
  ])('gives %s the large ephemeral storage', (_what, fields) => {
    expect(isLargeStack(spec(fields))).toBe(true);
    expect(kanikoOf(build(spec(fields))).resources!.requests).toMatchObject({ 'ephemeral-storage': '30Gi' });
  });

  it('a plain stack is not large, and the floor is the cluster’s to set', () => {
    expect(isLargeStack(spec({ python_packages: ['numpy==2.0.0', 'torchmetrics-lite'] }))).toBe(false);
    const floor = { cpu: '2', memory: '4Gi', ephemeralStorage: '20Gi', largeEphemeralStorage: '100Gi' };
    expect(kanikoOf(build(spec(), settings({ builder: floor }))).resources!.limits).toEqual({ cpu: '2', memory: '4Gi', 'ephemeral-storage': '20Gi' });
  });

  it('tells the reconciler (annotations) and the report step (AMUN_BUILDER_MEMORY) the limits it set', () => {
    const job = build(spec({ build: { requests: { memory: '6Gi' } } }));
    expect(job.metadata!.annotations).toMatchObject({ 'amun/builder-memory': '6Gi', 'amun/builder-ephemeral-storage': '10Gi' });
    expect(job.spec!.template.spec!.containers[0]!.env).toContainEqual({ name: 'AMUN_BUILDER_MEMORY', value: '6Gi' });
  });
});

describe('build failure policy', () => {
  it('retries a disruption without counting it, and fails the Job at once when the builder is killed (exit 137: OOM)', () => {
    const job = build();
    expect(job.spec!.backoffLimit).toBe(0);
    expect(job.spec!.podFailurePolicy!.rules).toEqual([
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
      { action: 'FailJob', onExitCodes: { containerName: 'build', operator: 'In', values: [KILLED_EXIT_CODE] } },
    ]);
    expect(KILLED_EXIT_CODE).toBe(137);
    // The rule names a container of the pod (the init container kaniko runs in).
    expect(job.spec!.template.spec!.initContainers!.map((c) => c.name)).toContain('build');
    validateManifest(job);
  });
});

describe('layer cache', () => {
  it('pushes and pulls RUN layers in the cache repository with a TTL when one is configured', () => {
    const job = build(spec(), settings({ cache: { repository: `${ECR}-cache`, ttlHours: 336 } }));
    const args = kanikoOf(job).command!.slice(4);
    expect(args).toEqual(expect.arrayContaining(['--cache=true', `--cache-repo=${ECR}-cache`, '--cache-ttl=336h']));
    // Built stacks still go to their own tag in the registry, never to the cache.
    expect(args.filter((a) => a.startsWith('--destination='))).toEqual([expect.stringMatching(new RegExp(`^--destination=${ECR.replace(/\./g, '\\.')}:${DIGEST}-[0-9a-f]{16}$`))]);
    validateManifest(job);
  });

  it('builds without --cache when the deployment switched it off', () => {
    expect(kanikoOf(build()).command!.some((a) => a.startsWith('--cache'))).toBe(false);
  });

  it('derives the cache repository from AMUN_REGISTRY by default (what `amun manifests` shows)', () => {
    const derived = clusterSettings({ bucket: 'amun-bucket', region: 'eu-west-1', endpoint: undefined, kubernetes: kubernetesFromEnv({ AMUN_REGISTRY: ECR }) });
    expect(kanikoOf(build(spec(), derived)).command).toEqual(expect.arrayContaining(['--cache=true', `--cache-repo=${ECR}-cache`, '--cache-ttl=336h']));
    // The ECR credential helper covers the cache: it is on the registry's host.
    expect(derived.registryAuth).toEqual({ kind: 'ecr' });
  });
});
