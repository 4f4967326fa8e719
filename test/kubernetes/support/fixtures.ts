/** Specifications, cluster settings and a kubernetes-models check shared by the Kubernetes tests. */
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { DEFAULT_BUILDER_FLOOR, DEFAULT_UPLOADER_IMAGE, registryAuthFor, type ClusterSettings } from '../../../functions/adapters/kubernetes/manifests/index.js';
import { LABEL_PRESETS } from '../../../functions/adapters/kubernetes/manifests/placement.js';
import { normalizeSpecification } from '../../../functions/core/specification.js';
import type { Specification } from '../../../functions/core/specification.js';

export const ECR = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun';

export function settings(overrides: Partial<ClusterSettings> = {}): ClusterSettings {
  const registry = overrides.registry ?? ECR;
  return {
    namespace: 'amun',
    registry,
    builderImage: 'ghcr.io/osscontainertools/kaniko:debug',
    uploaderImage: DEFAULT_UPLOADER_IMAGE,
    labels: LABEL_PRESETS.nfd,
    exclusiveNodes: false,
    builderServiceAccount: 'amun-builder',
    registryAuth: registryAuthFor(registry),
    storage: { bucket: 'amun-bucket', region: 'eu-west-1' },
    buildDeadlineSeconds: 3600,
    builder: DEFAULT_BUILDER_FLOOR,
    cache: undefined,
    ...overrides,
  };
}

const normalize = (spec: unknown): Specification => normalizeSpecification(spec, { now: new Date('2025-01-01T00:00:00Z'), version: 'test' });

/** A CPU-pinned measurement: Intel family 6 model 85 (Skylake-SP / Cascade Lake), three sequential runs. */
export const cpuPinnedSpec = (): Specification =>
  normalize({
    base: 'docker.io/library/python:3.12-slim',
    identifier: 'cpu pinned',
    batch_size: 3,
    run: { requests: { cpu: '2', memory: '1Gi', hardware: { cpu_family: 6, cpu_model: 85, processor: 'Intel' } }, deadline_seconds: 300 },
    build: { requests: { cpu: '1', memory: '2Gi' } },
    script: 'import platform\nprint(platform.processor())\n',
  });

/** One H100 per run, two runs side by side. */
export const gpuSpec = (): Specification =>
  normalize({
    base: 'docker.io/library/python:3.12-slim',
    identifier: 'gpu check',
    batch_size: 2,
    run: { parallelism: 2, requests: { cpu: '4', memory: '16Gi', gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' } }, deadline_seconds: 600 },
    script: 'import subprocess\nsubprocess.run(["nvidia-smi"], check=True)\n',
  });

export const DIGEST = 'ab'.repeat(32);

/** Validates a manifest against the Kubernetes OpenAPI schema (kubernetes-models); throws with the problems. */
export function validateManifest(manifest: object): void {
  const kind = (manifest as { kind?: unknown }).kind;
  switch (kind) {
    case 'Job':
      new Job(manifest as never).validate();
      return;
    case 'Secret':
      new Secret(manifest as never).validate();
      return;
    case 'ConfigMap':
      new ConfigMap(manifest as never).validate();
      return;
    default:
      throw new Error(`no kubernetes-models class for kind ${String(kind)}`);
  }
}
