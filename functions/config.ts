/**
 * Configuration, read once from the environment and validated: a missing or malformed variable
 * fails at start-up with its name, never later in a handler.
 */
import type { ExecutorKind } from './core/ports.js';

export interface ScriptFetchPolicy {
  allowHttp: boolean;
  allowPrivateAddresses: boolean;
  maxBytes: number;
  timeoutMs: number;
}

/** Where and how the kubernetes executor reaches its cluster (AMUN_K8S_*). */
export interface KubernetesConfig {
  namespace: string;
  /** EKS: cluster name (token from a presigned STS GetCallerIdentity), with endpoint and CA. */
  clusterName: string | undefined;
  endpoint: string | undefined;
  /** Base64 PEM of the cluster CA. */
  caData: string | undefined;
  /** Local use: a kubeconfig file (KUBECONFIG or AMUN_K8S_KUBECONFIG). */
  kubeconfig: string | undefined;
  /** Registry repository that built images are pushed to, tagged by stack digest. */
  registry: string | undefined;
  /** Image of the builder (a maintained kaniko fork, debug variant: the build step needs its /busybox/sh). */
  builderImage: string;
  /** Node label preset for hardware placement: nfd | karpenter | amun. */
  labelPreset: string;
  /** Service account of build pods (the one the builder's cloud identity trusts). */
  builderServiceAccount: string;
  /** Runs get a node to themselves (pod anti-affinity against other Amun runs). */
  exclusiveNodes: boolean;
  /** A dockerconfigjson Secret for a registry that is not ECR. */
  registrySecret: string | undefined;
  /** Image of the upload sidecar; undefined: the built-in default. */
  uploaderImage: string | undefined;
  /** Deadline of a build Job; undefined: the built-in default. */
  buildDeadlineSeconds: number | undefined;
  /** The S3 endpoint as pods reach it, when it differs from the functions' one. */
  podStorageEndpoint: string | undefined;
}

export interface Config {
  region: string;
  /** S3-compatible endpoint; unset on AWS. */
  endpoint: string | undefined;
  bucket: string;
  /** Without trailing slash. Set to `<bucket_prefix>/<deployment>/inspections` for the original readers. */
  storePrefix: string;
  /** With trailing slash. */
  specsPrefix: string;
  queueUrls: { work: string; run: string | undefined; completions: string };
  executor: ExecutorKind | 'auto';
  dataDir: string;
  apiToken: string | undefined;
  scriptFetch: ScriptFetchPolicy;
  serviceVersion: string;
  logLevel: string;
  kubernetes: KubernetesConfig;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new ConfigError(name, 'is required');
  return v;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(v)}`);
}

function int(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(name, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

function positive(env: Env, name: string): number {
  const n = int(env, name, 0);
  if (n <= 0) throw new ConfigError(name, 'must be a positive integer');
  return n;
}

export const SERVICE_VERSION = '1.0.0';

export function configFromEnv(env: Env = process.env): Config {
  const executor = env.AMUN_EXECUTOR ?? 'auto';
  if (!['auto', 'process', 'container', 'kubernetes'].includes(executor)) {
    throw new ConfigError('AMUN_EXECUTOR', `must be one of auto, process, container, kubernetes, got ${JSON.stringify(executor)}`);
  }
  const storePrefix = (env.AMUN_STORE_PREFIX ?? 'inspections').replace(/\/+$/, '');
  if (storePrefix === '' || storePrefix.startsWith('/')) throw new ConfigError('AMUN_STORE_PREFIX', 'must be a relative key prefix');
  const specsPrefix = (env.AMUN_SPECS_PREFIX ?? 'specs/').replace(/\/*$/, '/');
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: env.AWS_ENDPOINT_URL || undefined,
    bucket: required(env, 'AMUN_BUCKET'),
    storePrefix,
    specsPrefix,
    queueUrls: {
      work: required(env, 'AMUN_WORK_QUEUE_URL'),
      run: env.AMUN_RUN_QUEUE_URL || undefined,
      completions: required(env, 'AMUN_COMPLETION_QUEUE_URL'),
    },
    executor: executor as Config['executor'],
    dataDir: env.AMUN_DATA_DIR ?? '.amun',
    apiToken: env.AMUN_API_TOKEN || undefined,
    scriptFetch: {
      allowHttp: bool(env, 'AMUN_SCRIPT_ALLOW_HTTP', false),
      allowPrivateAddresses: bool(env, 'AMUN_SCRIPT_ALLOW_PRIVATE', false),
      maxBytes: int(env, 'AMUN_SCRIPT_MAX_BYTES', 1024 * 1024),
      timeoutMs: int(env, 'AMUN_SCRIPT_TIMEOUT_MS', 10_000),
    },
    serviceVersion: SERVICE_VERSION,
    logLevel: env.AMUN_LOG_LEVEL ?? 'INFO',
    kubernetes: kubernetesFromEnv(env),
  };
}

export function kubernetesFromEnv(env: Env = process.env): KubernetesConfig {
  const preset = env.AMUN_K8S_LABEL_PRESET ?? 'nfd';
  if (!['nfd', 'karpenter', 'amun'].includes(preset)) throw new ConfigError('AMUN_K8S_LABEL_PRESET', `must be one of nfd, karpenter, amun, got ${JSON.stringify(preset)}`);
  return {
    namespace: env.AMUN_K8S_NAMESPACE ?? 'amun',
    clusterName: env.AMUN_K8S_CLUSTER_NAME || undefined,
    endpoint: env.AMUN_K8S_ENDPOINT || undefined,
    caData: env.AMUN_K8S_CA_DATA || undefined,
    kubeconfig: env.AMUN_K8S_KUBECONFIG || env.KUBECONFIG || undefined,
    registry: env.AMUN_REGISTRY || undefined,
    builderImage: env.AMUN_BUILDER_IMAGE ?? 'ghcr.io/osscontainertools/kaniko:debug',
    labelPreset: preset,
    builderServiceAccount: env.AMUN_K8S_BUILDER_SERVICE_ACCOUNT || 'amun-builder',
    exclusiveNodes: bool(env, 'AMUN_K8S_EXCLUSIVE_NODES', false),
    registrySecret: env.AMUN_K8S_REGISTRY_SECRET || undefined,
    uploaderImage: env.AMUN_K8S_UPLOADER_IMAGE || undefined,
    buildDeadlineSeconds: env.AMUN_K8S_BUILD_DEADLINE_SECONDS ? positive(env, 'AMUN_K8S_BUILD_DEADLINE_SECONDS') : undefined,
    podStorageEndpoint: env.AMUN_K8S_POD_STORAGE_ENDPOINT || undefined,
  };
}
