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

/** How much of a run's output is kept (the harness keeps the head and the tail beyond these). */
export interface OutputLimits {
  /** Bytes of each of stdout and stderr kept in the item's log (AMUN_OUTPUT_LIMIT_BYTES). */
  logBytes: number;
  /** Bytes of each of stdout and stderr kept in the run report, as encoded JSON (AMUN_RESULT_OUTPUT_LIMIT_BYTES). */
  resultBytes: number;
}

/** Who may talk to the API from a browser or by name (the embedded server's DNS-rebinding and cross-origin guards). */
export interface HttpPolicy {
  /** Host names the embedded server answers to besides the loopback names (AMUN_ALLOWED_HOSTS); `*` allows any. */
  allowedHosts: string[];
  /** Origins (scheme://host[:port]) allowed besides the API's own (AMUN_ALLOWED_ORIGINS). */
  allowedOrigins: string[];
}

/** What every entry point reads from the environment (the Lambda functions, `amun serve`, the CLI's embedded stack). */
export interface Settings {
  /** Without trailing slash. Set to `<bucket_prefix>/<deployment>/inspections` for the original readers. */
  storePrefix: string;
  /** With trailing slash. */
  specsPrefix: string;
  executor: ExecutorKind | 'auto';
  dataDir: string;
  apiToken: string | undefined;
  scriptFetch: ScriptFetchPolicy;
  logLevel: string;
  kubernetes: KubernetesConfig;
  output: OutputLimits;
  http: HttpPolicy;
}

export interface Config extends Settings {
  region: string;
  /** S3-compatible endpoint; unset on AWS. */
  endpoint: string | undefined;
  bucket: string;
  queueUrls: { work: string; run: string | undefined; completions: string };
  serviceVersion: string;
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

export const DEFAULT_OUTPUT_LIMITS: OutputLimits = { logBytes: 8 * 1024 * 1024, resultBytes: 1024 * 1024 };

function atLeast(env: Env, name: string, min: number, fallback: number): number {
  const n = int(env, name, fallback);
  if (n < min) throw new ConfigError(name, `must be at least ${min}, got ${n}`);
  return n;
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');
}

function origins(env: Env, name: string): string[] {
  return list(env, name).map((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(name, `must be a comma-separated list of origins such as https://example.com, got ${JSON.stringify(value)}`);
    }
    if (url.origin === 'null' || url.pathname !== '/' || url.search || url.hash) throw new ConfigError(name, `${JSON.stringify(value)} is not an origin (scheme://host[:port])`);
    return url.origin;
  });
}

/** The settings every entry point shares, read and checked once. */
export function settingsFromEnv(env: Env = process.env): Settings {
  const executor = env.AMUN_EXECUTOR || 'auto';
  if (!['auto', 'process', 'container', 'kubernetes'].includes(executor)) {
    throw new ConfigError('AMUN_EXECUTOR', `must be one of auto, process, container, kubernetes, got ${JSON.stringify(executor)}`);
  }
  const storePrefix = (env.AMUN_STORE_PREFIX || 'inspections').replace(/\/+$/, '');
  if (storePrefix === '' || storePrefix.startsWith('/')) throw new ConfigError('AMUN_STORE_PREFIX', 'must be a relative key prefix');
  const specsPrefix = (env.AMUN_SPECS_PREFIX || 'specs/').replace(/\/*$/, '/');
  if (specsPrefix === '/' || specsPrefix.startsWith('/')) throw new ConfigError('AMUN_SPECS_PREFIX', 'must be a relative key prefix');
  if (specsPrefix.startsWith(`${storePrefix}/`) || `${storePrefix}/`.startsWith(specsPrefix)) {
    throw new ConfigError('AMUN_SPECS_PREFIX', `must not overlap AMUN_STORE_PREFIX (${storePrefix}/): dropped specs and inspections would trigger each other`);
  }
  return {
    storePrefix,
    specsPrefix,
    executor: executor as Settings['executor'],
    dataDir: env.AMUN_DATA_DIR || '.amun',
    apiToken: env.AMUN_API_TOKEN || undefined,
    scriptFetch: {
      allowHttp: bool(env, 'AMUN_SCRIPT_ALLOW_HTTP', false),
      allowPrivateAddresses: bool(env, 'AMUN_SCRIPT_ALLOW_PRIVATE', false),
      maxBytes: atLeast(env, 'AMUN_SCRIPT_MAX_BYTES', 1, 1024 * 1024),
      timeoutMs: atLeast(env, 'AMUN_SCRIPT_TIMEOUT_MS', 1, 10_000),
    },
    logLevel: logLevelFromEnv(env),
    kubernetes: kubernetesFromEnv(env),
    output: {
      logBytes: atLeast(env, 'AMUN_OUTPUT_LIMIT_BYTES', 1024, DEFAULT_OUTPUT_LIMITS.logBytes),
      resultBytes: atLeast(env, 'AMUN_RESULT_OUTPUT_LIMIT_BYTES', 1024, DEFAULT_OUTPUT_LIMITS.resultBytes),
    },
    http: { allowedHosts: list(env, 'AMUN_ALLOWED_HOSTS').map((h) => h.toLowerCase()), allowedOrigins: origins(env, 'AMUN_ALLOWED_ORIGINS') },
  };
}

export function logLevelFromEnv(env: Env = process.env): string {
  return (env.AMUN_LOG_LEVEL || env.POWERTOOLS_LOG_LEVEL || 'INFO').toUpperCase();
}

/** A deployed function's configuration: the shared settings plus where its bucket and queues are. */
export function configFromEnv(env: Env = process.env): Config {
  return {
    ...settingsFromEnv(env),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    endpoint: env.AWS_ENDPOINT_URL || undefined,
    bucket: required(env, 'AMUN_BUCKET'),
    queueUrls: {
      work: required(env, 'AMUN_WORK_QUEUE_URL'),
      run: env.AMUN_RUN_QUEUE_URL || undefined,
      completions: required(env, 'AMUN_COMPLETION_QUEUE_URL'),
    },
    serviceVersion: SERVICE_VERSION,
  };
}

/** The embedded stack's own settings (`amun serve`, `npm start`, the CLI); PORT and AMUN_HOST are `amun serve` options. */
export interface ServeSettings {
  /** Port of the embedded S3/SQS server; 0 picks a free one. */
  storagePort: number;
  /** Long-poll wait of the dispatcher. */
  waitTimeSeconds: number;
}

export function serveSettingsFromEnv(env: Env = process.env): ServeSettings {
  const storagePort = int(env, 'AMUN_STORAGE_PORT', 0);
  if (storagePort > 65535) throw new ConfigError('AMUN_STORAGE_PORT', `must be a port number, got ${storagePort}`);
  const waitTimeSeconds = int(env, 'AMUN_WAIT_SECONDS', 20);
  if (waitTimeSeconds > 20) throw new ConfigError('AMUN_WAIT_SECONDS', `must be at most 20 (SQS's longest poll), got ${waitTimeSeconds}`);
  return { storagePort, waitTimeSeconds };
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
