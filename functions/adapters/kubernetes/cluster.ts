/**
 * Everything the Kubernetes executor needs, built once per process from configuration: the API
 * (kubeconfig locally, EKS endpoint + CA + STS token on Lambda), upload grants signed with the
 * function's AWS identity, the registry client and the image records (which digests runs pin), the
 * executor itself and the live status source.
 */
import { ConfigError, ENV, type Config, type KubernetesConfig } from '../../config.js';
import { parseQuantity } from '../executors/container-run.js';
import type { InspectionRecords } from '../../core/records.js';
import type { Clock, LiveStatusSource, ObjectStore } from '../../core/ports.js';
import type { CredentialsProvider } from './aws-signing.js';
import { KubernetesExecutor } from './executor.js';
import { ImageRecords } from './images.js';
import { ClientNodeKubeApi, eksConfig, kubeconfigFile, type KubeApi } from './kube-api.js';
import { KubernetesLiveStatus } from './live-status.js';
import {
  checkRegistry,
  DEFAULT_BUILD_DEADLINE_SECONDS,
  DEFAULT_BUILDER_FLOOR,
  DEFAULT_BUILDER_IMAGE,
  DEFAULT_CACHE_TTL_HOURS,
  DEFAULT_UPLOADER_IMAGE,
  DIGEST_PINNED,
  labelPreset,
  registryAuthFor,
  registryHost,
  type BuildCache,
  type BuilderFloor,
  type ClusterSettings,
  type LabelMap,
} from './manifests/index.js';
import { ecrCredentials, OciRegistry, type ImageRegistry } from './registry.js';
import { assumedRoleGrantCredentials, stsAssumeRole } from './upload-grant-credentials.js';
import type { UploadGrants } from './upload-grants.js';
import { S3UploadSigner, type UploadSigner } from './upload-signer.js';

export interface KubernetesCluster {
  api: KubeApi;
  executor: KubernetesExecutor;
  /** The functions' records of built images (the reconciler records script-less builds through it). */
  images: ImageRecords;
  /** Signs the Jobs' upload grants (the reconciler renews them with it). */
  grants: UploadGrants;
  liveStatus: LiveStatusSource;
  settings: ClusterSettings;
  clock: Clock;
}

/** Knobs beyond AMUN_K8S_*, with their defaults. */
export interface ClusterOptions {
  /** Runs get a node to themselves (pod anti-affinity against other Amun runs). Default false. */
  exclusiveNodes?: boolean;
  uploaderImage?: string;
  builderServiceAccount?: string;
  /** A dockerconfigjson Secret for a registry that is not ECR (builder push, run pull). */
  registrySecret?: string;
  buildDeadlineSeconds?: number;
  /** A custom label map instead of the configured preset. */
  labels?: LabelMap;
  /** The S3 endpoint as pods reach it, when it differs from the functions' (a local store). */
  podStorageEndpoint?: string;
}

export interface ClusterDeps {
  /** The image records' store (they live beside the inspections). */
  store: ObjectStore;
  records: InspectionRecords;
  clock: Clock;
  /** The functions' AWS identity: EKS tokens, ECR tokens, the upload role's sessions; and the upload grants' signature when there is no upload role. */
  credentials: CredentialsProvider;
  /**
   * The store's own credentials, when they are not the AWS identity (the embedded store's fixed
   * key): grants for that store are signed with them.
   */
  storeCredentials?: CredentialsProvider;
  /** Tests: an API to use instead of the configured one. */
  api?: KubeApi;
  /** Tests: a signer or registry client of their own. */
  signer?: UploadSigner;
  registry?: ImageRegistry;
  options?: ClusterOptions;
}

function positiveQuantity(value: string): boolean {
  try {
    return parseQuantity(value) > 0;
  } catch {
    return false;
  }
}

/** The builder's floor: each configured quantity checked, the defaults beneath. */
function builderFloor(k: KubernetesConfig): BuilderFloor {
  const configured: Array<[keyof BuilderFloor, string, string | undefined]> = [
    ['cpu', ENV.k8sBuilderCpu, k.builderResources.cpu],
    ['memory', ENV.k8sBuilderMemory, k.builderResources.memory],
    ['ephemeralStorage', ENV.k8sBuilderEphemeralStorage, k.builderResources.ephemeralStorage],
    ['largeEphemeralStorage', ENV.k8sBuilderLargeEphemeralStorage, k.builderResources.largeEphemeralStorage],
  ];
  const floor = { ...DEFAULT_BUILDER_FLOOR };
  for (const [field, variable, value] of configured) {
    if (value === undefined) continue;
    if (!positiveQuantity(value)) throw new ConfigError(variable, `must be a positive Kubernetes quantity such as ${DEFAULT_BUILDER_FLOOR[field]}, got ${JSON.stringify(value)}`);
    floor[field] = value;
  }
  return floor;
}

/** kaniko's layer cache: `<registry>-cache` unless configured (`none`: no cache), on the registry's host, whose credentials the builder has. */
function buildCache(k: KubernetesConfig, registry: string): BuildCache | undefined {
  if (k.cacheRepo === 'none') return undefined;
  const repository = k.cacheRepo ?? `${registry}-cache`;
  try {
    checkRegistry(repository);
  } catch (error) {
    throw new ConfigError(ENV.k8sCacheRepo, `${(error as Error).message} (or none, for builds without a cache)`);
  }
  if (registryHost(repository) !== registryHost(registry)) {
    throw new ConfigError(ENV.k8sCacheRepo, `must be on the registry's host ${registryHost(registry)}, where the builder has credentials, got ${JSON.stringify(repository)}`);
  }
  if (repository === registry) throw new ConfigError(ENV.k8sCacheRepo, 'must not be the repository built stacks are pushed to (AMUN_REGISTRY)');
  return { repository, ttlHours: k.cacheTtlHours ?? DEFAULT_CACHE_TTL_HOURS };
}

/**
 * The images the cluster's own pods run, refused when a tag is all that names them: the built-in
 * defaults carry no digest yet (manifests/settings.ts says how to find one), so a deployment names
 * digest-pinned images, or opts out with AMUN_K8S_ALLOW_UNPINNED_IMAGES=true.
 */
export function checkPinnedImages(settings: Pick<ClusterSettings, 'builderImage' | 'uploaderImage'>, allowUnpinned: boolean): void {
  if (allowUnpinned) return;
  for (const [variable, image] of [[ENV.builderImage, settings.builderImage], [ENV.k8sUploaderImage, settings.uploaderImage]] as const) {
    if (DIGEST_PINNED.test(image)) continue;
    throw new ConfigError(
      variable,
      `must name a digest-pinned image for the kubernetes executor: ${image} is a tag, which can be moved to other content (or be rate-limited where it is pulled). ` +
        `Resolve it with \`crane digest ${image}\` (mirror it into your own registry first, if you like: the digest stays) and set ${variable}=<image>:<tag>@sha256:<digest>; or set ${ENV.k8sAllowUnpinnedImages}=true to run tags`,
    );
  }
}

export function clusterSettings(config: Pick<Config, 'kubernetes' | 'bucket' | 'region' | 'endpoint'> & Partial<Pick<Config, 'output'>>, options: ClusterOptions = {}): ClusterSettings {
  const k = config.kubernetes;
  if (!k.registry) throw new ConfigError('AMUN_REGISTRY', 'is required by the kubernetes executor (the repository built stacks are pushed to)');
  let registry: string;
  try {
    registry = checkRegistry(k.registry);
  } catch (error) {
    throw new ConfigError('AMUN_REGISTRY', (error as Error).message);
  }
  // Options (code, tests) win over configuration (AMUN_K8S_*), which wins over the defaults.
  const endpoint = options.podStorageEndpoint ?? k.podStorageEndpoint ?? config.endpoint;
  return {
    namespace: k.namespace,
    registry,
    builderImage: k.builderImage ?? DEFAULT_BUILDER_IMAGE,
    uploaderImage: options.uploaderImage ?? k.uploaderImage ?? DEFAULT_UPLOADER_IMAGE,
    labels: options.labels ?? labelPreset(k.labelPreset),
    exclusiveNodes: options.exclusiveNodes ?? k.exclusiveNodes,
    builderServiceAccount: options.builderServiceAccount ?? k.builderServiceAccount,
    registryAuth: registryAuthFor(registry, options.registrySecret ?? k.registrySecret),
    storage: { bucket: config.bucket, region: config.region, ...(endpoint ? { endpoint } : {}) },
    buildDeadlineSeconds: options.buildDeadlineSeconds ?? k.buildDeadlineSeconds ?? DEFAULT_BUILD_DEADLINE_SECONDS,
    builder: builderFloor(k),
    cache: buildCache(k, registry),
    ...(config.output ? { output: config.output } : {}),
  };
}

function kubeApi(config: Config, deps: ClusterDeps): KubeApi {
  const k = config.kubernetes;
  if (k.clusterName || k.endpoint) {
    if (!k.clusterName || !k.endpoint || !k.caData) {
      throw new ConfigError('AMUN_K8S_CLUSTER_NAME', 'needs AMUN_K8S_ENDPOINT and AMUN_K8S_CA_DATA beside it (all three, or a kubeconfig)');
    }
    return new ClientNodeKubeApi(eksConfig({ clusterName: k.clusterName, endpoint: k.endpoint, caData: k.caData, region: config.region, credentials: deps.credentials, clock: deps.clock }), k.namespace, { timeoutSeconds: k.timeoutSeconds });
  }
  if (k.kubeconfig) return new ClientNodeKubeApi(kubeconfigFile(k.kubeconfig), k.namespace, { timeoutSeconds: k.timeoutSeconds });
  throw new ConfigError('AMUN_K8S_CLUSTER_NAME', 'with AMUN_K8S_ENDPOINT and AMUN_K8S_CA_DATA, or AMUN_K8S_KUBECONFIG (or KUBECONFIG), is required by the kubernetes executor');
}

export function makeKubernetesCluster(config: Config, deps: ClusterDeps): KubernetesCluster {
  const settings = clusterSettings(config, deps.options);
  // Previews (`amun manifests`) show the defaults as they are; a cluster runs only pinned images unless told otherwise.
  checkPinnedImages(settings, config.kubernetes.allowUnpinnedImages);
  const api = deps.api ?? kubeApi(config, deps);
  const { uploadRoleArn } = config.kubernetes;
  const grantCredentials = uploadRoleArn
    ? assumedRoleGrantCredentials({ roleArn: uploadRoleArn, assumeRole: stsAssumeRole({ region: config.region, credentials: deps.credentials, clock: deps.clock, endpoint: config.kubernetes.stsEndpoint }), clock: deps.clock })
    : (deps.storeCredentials ?? deps.credentials);
  const signer = deps.signer ?? new S3UploadSigner({ bucket: config.bucket, region: config.region, endpoint: settings.storage.endpoint, credentials: grantCredentials, clock: deps.clock });
  // The functions read manifests with their own identity: ECR tokens for ECR; anonymous (or a
  // Bearer challenge without credentials) for other registries.
  const registry =
    deps.registry ?? new OciRegistry(settings.registryAuth.kind === 'ecr' ? { credentials: ecrCredentials({ region: config.region, credentials: deps.credentials, clock: deps.clock }) } : {});
  const images = new ImageRecords({ store: deps.store, layout: deps.records.layout, registry, registryName: settings.registry, clock: deps.clock });
  const executor = new KubernetesExecutor({ api, records: deps.records, signer, images, settings, clock: deps.clock });
  return { api, executor, images, grants: executor.grants, liveStatus: new KubernetesLiveStatus(api, deps.clock), settings, clock: deps.clock };
}
