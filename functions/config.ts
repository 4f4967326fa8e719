/**
 * Configuration, read once from the environment and validated: a missing or malformed variable
 * fails at start-up with its name, never later in a handler.
 */
import { availableParallelism } from 'node:os';
import type { ExecutorKind } from './core/ports.js';
import { DIGEST_PINNED } from './adapters/kubernetes/manifests/settings.js';

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
  /** Image of the builder (a maintained kaniko fork, debug variant: the build step needs its /busybox/sh); undefined: the built-in default. */
  builderImage: string | undefined;
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
  /** The builder's floor (Kubernetes quantities, checked with the cluster settings); undefined: the built-in defaults. */
  builderResources: { cpu: string | undefined; memory: string | undefined; ephemeralStorage: string | undefined; largeEphemeralStorage: string | undefined };
  /** kaniko's layer cache repository; undefined: `<registry>-cache`; `none`: builds without a cache. */
  cacheRepo: string | undefined;
  /** How long a cached layer is used; undefined: the built-in default. */
  cacheTtlHours: number | undefined;
  /** Builder and uploader images may be tags rather than digests (the executor refuses them otherwise). */
  allowUnpinnedImages: boolean;
  /** How long one call to the API server may take, connection included (log reads get three times as long). */
  timeoutSeconds: number;
  /**
   * A role the functions assume (STS, one hour at a time) to sign the pods' upload grants; unset:
   * grants are signed with the functions' own credentials (upload-grant-credentials.ts).
   */
  uploadRoleArn: string | undefined;
  /** STS for the upload role's sessions (AWS_ENDPOINT_URL_STS, the SDKs' variable); undefined: the region's endpoint. */
  stsEndpoint: string | undefined;
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
  /** Origins (scheme://host[:port]) allowed besides the API's own (AMUN_ALLOWED_ORIGINS); also the origins CORS answers to. */
  allowedOrigins: string[];
}

/** How GET /metrics reads the store (functions/api/metrics.ts). */
export interface MetricsSettings {
  /** A scrape re-reads the store at most this often; in between it answers from what it read (AMUN_METRICS_REFRESH_SECONDS). */
  refreshSeconds: number;
  /** Inspections read per refresh at most, unfinished ones first; the rest wait for the next refresh (AMUN_METRICS_MAX_READS). */
  maxReads: number;
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
  metrics: MetricsSettings;
}

export interface Config extends Settings {
  region: string;
  /** S3-compatible endpoint; unset on AWS. */
  endpoint: string | undefined;
  bucket: string;
  /**
   * The pipeline's queues. The API sends to `work`; the event queues are only read for their
   * depths (GET /metrics, readiness), and each queue's dead-letter queue is found from its RedrivePolicy.
   */
  queueUrls: {
    work: string;
    run: string | undefined;
    completions: string;
    ingestEvents?: string | undefined;
    scheduleEvents?: string | undefined;
    indexEvents?: string | undefined;
  };
  serviceVersion: string;
}

/**
 * Every environment variable the configuration reads, spelled once: the readers below, the CDK
 * stack that sets them for the functions, and the docs' tables name them through this.
 */
export const ENV = {
  allowedHosts: 'AMUN_ALLOWED_HOSTS',
  allowedOrigins: 'AMUN_ALLOWED_ORIGINS',
  apiToken: 'AMUN_API_TOKEN',
  bucket: 'AMUN_BUCKET',
  builderImage: 'AMUN_BUILDER_IMAGE',
  completionQueueUrl: 'AMUN_COMPLETION_QUEUE_URL',
  dataDir: 'AMUN_DATA_DIR',
  executor: 'AMUN_EXECUTOR',
  k8sAllowUnpinnedImages: 'AMUN_K8S_ALLOW_UNPINNED_IMAGES',
  k8sBuilderCpu: 'AMUN_K8S_BUILDER_CPU',
  k8sBuilderEphemeralStorage: 'AMUN_K8S_BUILDER_EPHEMERAL_STORAGE',
  k8sBuilderLargeEphemeralStorage: 'AMUN_K8S_BUILDER_LARGE_EPHEMERAL_STORAGE',
  k8sBuilderMemory: 'AMUN_K8S_BUILDER_MEMORY',
  k8sBuilderServiceAccount: 'AMUN_K8S_BUILDER_SERVICE_ACCOUNT',
  k8sBuildDeadlineSeconds: 'AMUN_K8S_BUILD_DEADLINE_SECONDS',
  k8sCacheRepo: 'AMUN_K8S_CACHE_REPO',
  k8sUploadRoleArn: 'AMUN_K8S_UPLOAD_ROLE_ARN',
  k8sCacheTtlHours: 'AMUN_K8S_CACHE_TTL_HOURS',
  k8sCaData: 'AMUN_K8S_CA_DATA',
  k8sClusterName: 'AMUN_K8S_CLUSTER_NAME',
  k8sEndpoint: 'AMUN_K8S_ENDPOINT',
  k8sExclusiveNodes: 'AMUN_K8S_EXCLUSIVE_NODES',
  k8sKubeconfig: 'AMUN_K8S_KUBECONFIG',
  k8sLabelPreset: 'AMUN_K8S_LABEL_PRESET',
  k8sNamespace: 'AMUN_K8S_NAMESPACE',
  k8sPodStorageEndpoint: 'AMUN_K8S_POD_STORAGE_ENDPOINT',
  k8sRegistrySecret: 'AMUN_K8S_REGISTRY_SECRET',
  k8sTimeoutSeconds: 'AMUN_K8S_TIMEOUT_SECONDS',
  k8sUploaderImage: 'AMUN_K8S_UPLOADER_IMAGE',
  ingestEventsQueueUrl: 'AMUN_INGEST_EVENTS_QUEUE_URL',
  indexEventsQueueUrl: 'AMUN_INDEX_EVENTS_QUEUE_URL',
  logLevel: 'AMUN_LOG_LEVEL',
  metricsMaxReads: 'AMUN_METRICS_MAX_READS',
  metricsRefreshSeconds: 'AMUN_METRICS_REFRESH_SECONDS',
  outputLimitBytes: 'AMUN_OUTPUT_LIMIT_BYTES',
  registry: 'AMUN_REGISTRY',
  resultOutputLimitBytes: 'AMUN_RESULT_OUTPUT_LIMIT_BYTES',
  runQueueUrl: 'AMUN_RUN_QUEUE_URL',
  scheduleEventsQueueUrl: 'AMUN_SCHEDULE_EVENTS_QUEUE_URL',
  scriptAllowHttp: 'AMUN_SCRIPT_ALLOW_HTTP',
  scriptAllowPrivate: 'AMUN_SCRIPT_ALLOW_PRIVATE',
  scriptMaxBytes: 'AMUN_SCRIPT_MAX_BYTES',
  scriptTimeoutMs: 'AMUN_SCRIPT_TIMEOUT_MS',
  specsPrefix: 'AMUN_SPECS_PREFIX',
  storagePort: 'AMUN_STORAGE_PORT',
  storePrefix: 'AMUN_STORE_PREFIX',
  waitSeconds: 'AMUN_WAIT_SECONDS',
  runSlots: 'AMUN_RUN_SLOTS',
  workQueueUrl: 'AMUN_WORK_QUEUE_URL',
} as const;

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

/** A call to the Kubernetes API server that has not answered by then fails (AMUN_K8S_TIMEOUT_SECONDS). */
export const DEFAULT_K8S_TIMEOUT_SECONDS = 10;

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
  const executor = env[ENV.executor] || 'auto';
  if (!['auto', 'process', 'container', 'kubernetes'].includes(executor)) {
    throw new ConfigError(ENV.executor, `must be one of auto, process, container, kubernetes, got ${JSON.stringify(executor)}`);
  }
  const storePrefix = (env[ENV.storePrefix] || 'inspections').replace(/\/+$/, '');
  if (storePrefix === '' || storePrefix.startsWith('/')) throw new ConfigError(ENV.storePrefix, 'must be a relative key prefix');
  const specsPrefix = (env[ENV.specsPrefix] || 'specs/').replace(/\/*$/, '/');
  if (specsPrefix === '/' || specsPrefix.startsWith('/')) throw new ConfigError(ENV.specsPrefix, 'must be a relative key prefix');
  if (specsPrefix.startsWith(`${storePrefix}/`) || `${storePrefix}/`.startsWith(specsPrefix)) {
    throw new ConfigError(ENV.specsPrefix, `must not overlap AMUN_STORE_PREFIX (${storePrefix}/): dropped specs and inspections would trigger each other`);
  }
  return {
    storePrefix,
    specsPrefix,
    executor: executor as Settings['executor'],
    dataDir: env[ENV.dataDir] || '.amun',
    apiToken: env[ENV.apiToken] || undefined,
    scriptFetch: {
      allowHttp: bool(env, ENV.scriptAllowHttp, false),
      allowPrivateAddresses: bool(env, ENV.scriptAllowPrivate, false),
      maxBytes: atLeast(env, ENV.scriptMaxBytes, 1, 1024 * 1024),
      timeoutMs: atLeast(env, ENV.scriptTimeoutMs, 1, 10_000),
    },
    logLevel: logLevelFromEnv(env),
    kubernetes: kubernetesFromEnv(env),
    output: {
      logBytes: atLeast(env, ENV.outputLimitBytes, 1024, DEFAULT_OUTPUT_LIMITS.logBytes),
      resultBytes: atLeast(env, ENV.resultOutputLimitBytes, 1024, DEFAULT_OUTPUT_LIMITS.resultBytes),
    },
    http: { allowedHosts: list(env, ENV.allowedHosts).map((h) => h.toLowerCase()), allowedOrigins: origins(env, ENV.allowedOrigins) },
    metrics: {
      refreshSeconds: int(env, ENV.metricsRefreshSeconds, 60),
      maxReads: atLeast(env, ENV.metricsMaxReads, 1, 2000),
    },
  };
}

export function logLevelFromEnv(env: Env = process.env): string {
  return (env[ENV.logLevel] || env.POWERTOOLS_LOG_LEVEL || 'INFO').toUpperCase();
}

/** A deployed function's configuration: the shared settings plus where its bucket and queues are. */
export function configFromEnv(env: Env = process.env): Config {
  return {
    ...settingsFromEnv(env),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    endpoint: env.AWS_ENDPOINT_URL || undefined,
    bucket: required(env, ENV.bucket),
    queueUrls: {
      work: required(env, ENV.workQueueUrl),
      run: env[ENV.runQueueUrl] || undefined,
      completions: required(env, ENV.completionQueueUrl),
      ingestEvents: env[ENV.ingestEventsQueueUrl] || undefined,
      scheduleEvents: env[ENV.scheduleEventsQueueUrl] || undefined,
      indexEvents: env[ENV.indexEventsQueueUrl] || undefined,
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
  /** Run messages handled at once (default: the CPUs, at least 4); items of one inspection still run at most `run.parallelism` at a time. */
  runSlots: number;
}

export function serveSettingsFromEnv(env: Env = process.env): ServeSettings {
  const storagePort = int(env, ENV.storagePort, 0);
  if (storagePort > 65535) throw new ConfigError(ENV.storagePort, `must be a port number, got ${storagePort}`);
  const waitTimeSeconds = int(env, ENV.waitSeconds, 20);
  if (waitTimeSeconds > 20) throw new ConfigError(ENV.waitSeconds, `must be at most 20 (SQS's longest poll), got ${waitTimeSeconds}`);
  const runSlots = atLeast(env, ENV.runSlots, 1, Math.max(4, availableParallelism()));
  return { storagePort, waitTimeSeconds, runSlots };
}

/** An image the cluster's own pods run, when configured: pinned by digest unless the deployment opted out. */
function helperImage(env: Env, name: string, allowUnpinned: boolean): string | undefined {
  const v = env[name] || undefined;
  if (v === undefined) return undefined;
  if (/\s/.test(v)) throw new ConfigError(name, `must be an image reference, got ${JSON.stringify(v)}`);
  if (!allowUnpinned && !DIGEST_PINNED.test(v)) {
    throw new ConfigError(
      name,
      `must be pinned by digest (<image>:<tag>@sha256:<64 hex digits>), got ${JSON.stringify(v)}: a tag can be moved to other content. Resolve it with \`crane digest ${v}\`, or set ${ENV.k8sAllowUnpinnedImages}=true to run tags`,
    );
  }
  return v;
}

export function kubernetesFromEnv(env: Env = process.env): KubernetesConfig {
  const preset = env[ENV.k8sLabelPreset] ?? 'nfd';
  if (!['nfd', 'karpenter', 'eks-auto', 'amun'].includes(preset)) throw new ConfigError(ENV.k8sLabelPreset, `must be one of nfd, karpenter, eks-auto, amun, got ${JSON.stringify(preset)}`);
  const allowUnpinnedImages = bool(env, ENV.k8sAllowUnpinnedImages, false);
  return {
    namespace: env[ENV.k8sNamespace] ?? 'amun',
    clusterName: env[ENV.k8sClusterName] || undefined,
    endpoint: env[ENV.k8sEndpoint] || undefined,
    caData: env[ENV.k8sCaData] || undefined,
    kubeconfig: env[ENV.k8sKubeconfig] || env.KUBECONFIG || undefined,
    registry: env[ENV.registry] || undefined,
    builderImage: helperImage(env, ENV.builderImage, allowUnpinnedImages),
    labelPreset: preset,
    builderServiceAccount: env[ENV.k8sBuilderServiceAccount] || 'amun-builder',
    exclusiveNodes: bool(env, ENV.k8sExclusiveNodes, false),
    registrySecret: env[ENV.k8sRegistrySecret] || undefined,
    uploaderImage: helperImage(env, ENV.k8sUploaderImage, allowUnpinnedImages),
    buildDeadlineSeconds: env[ENV.k8sBuildDeadlineSeconds] ? positive(env, ENV.k8sBuildDeadlineSeconds) : undefined,
    podStorageEndpoint: env[ENV.k8sPodStorageEndpoint] || undefined,
    builderResources: {
      cpu: env[ENV.k8sBuilderCpu] || undefined,
      memory: env[ENV.k8sBuilderMemory] || undefined,
      ephemeralStorage: env[ENV.k8sBuilderEphemeralStorage] || undefined,
      largeEphemeralStorage: env[ENV.k8sBuilderLargeEphemeralStorage] || undefined,
    },
    cacheRepo: env[ENV.k8sCacheRepo] || undefined,
    cacheTtlHours: env[ENV.k8sCacheTtlHours] ? positive(env, ENV.k8sCacheTtlHours) : undefined,
    allowUnpinnedImages,
    timeoutSeconds: env[ENV.k8sTimeoutSeconds] ? positive(env, ENV.k8sTimeoutSeconds) : DEFAULT_K8S_TIMEOUT_SECONDS,
    uploadRoleArn: env[ENV.k8sUploadRoleArn] || undefined,
    stsEndpoint: env.AWS_ENDPOINT_URL_STS || undefined,
  };
}
