/**
 * Everything the Kubernetes executor needs, built once per process from configuration: the API
 * (kubeconfig locally, EKS endpoint + CA + STS token on Lambda), upload grants signed with the
 * function's AWS identity, the registry client and the image records (which digests runs pin), the
 * executor itself and the live status source.
 */
import { ConfigError, type Config } from '../../config.js';
import type { InspectionRecords } from '../../core/records.js';
import type { Clock, LiveStatusSource, ObjectStore } from '../../core/ports.js';
import type { CredentialsProvider } from './aws-signing.js';
import { KubernetesExecutor } from './executor.js';
import { ImageRecords } from './images.js';
import { ClientNodeKubeApi, eksConfig, kubeconfigFile, type KubeApi } from './kube-api.js';
import { KubernetesLiveStatus } from './live-status.js';
import { checkRegistry, DEFAULT_BUILD_DEADLINE_SECONDS, DEFAULT_UPLOADER_IMAGE, labelPreset, registryAuthFor, type ClusterSettings, type LabelMap } from './manifests/index.js';
import { ecrCredentials, OciRegistry, type ImageRegistry } from './registry.js';
import { S3UploadSigner, type UploadSigner } from './upload-signer.js';

export interface KubernetesCluster {
  api: KubeApi;
  executor: KubernetesExecutor;
  /** The functions' records of built images (the reconciler records script-less builds through it). */
  images: ImageRecords;
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
  /** The functions' AWS identity: EKS tokens, upload grants, ECR tokens. */
  credentials: CredentialsProvider;
  /** Tests: an API to use instead of the configured one. */
  api?: KubeApi;
  /** Tests: a signer or registry client of their own. */
  signer?: UploadSigner;
  registry?: ImageRegistry;
  options?: ClusterOptions;
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
    builderImage: k.builderImage,
    uploaderImage: options.uploaderImage ?? k.uploaderImage ?? DEFAULT_UPLOADER_IMAGE,
    labels: options.labels ?? labelPreset(k.labelPreset),
    exclusiveNodes: options.exclusiveNodes ?? k.exclusiveNodes,
    builderServiceAccount: options.builderServiceAccount ?? k.builderServiceAccount,
    registryAuth: registryAuthFor(registry, options.registrySecret ?? k.registrySecret),
    storage: { bucket: config.bucket, region: config.region, ...(endpoint ? { endpoint } : {}) },
    buildDeadlineSeconds: options.buildDeadlineSeconds ?? k.buildDeadlineSeconds ?? DEFAULT_BUILD_DEADLINE_SECONDS,
    ...(config.output ? { output: config.output } : {}),
  };
}

function kubeApi(config: Config, deps: ClusterDeps): KubeApi {
  const k = config.kubernetes;
  if (k.clusterName || k.endpoint) {
    if (!k.clusterName || !k.endpoint || !k.caData) {
      throw new ConfigError('AMUN_K8S_CLUSTER_NAME', 'needs AMUN_K8S_ENDPOINT and AMUN_K8S_CA_DATA beside it (all three, or a kubeconfig)');
    }
    return new ClientNodeKubeApi(eksConfig({ clusterName: k.clusterName, endpoint: k.endpoint, caData: k.caData, region: config.region, credentials: deps.credentials, clock: deps.clock }), k.namespace);
  }
  if (k.kubeconfig) return new ClientNodeKubeApi(kubeconfigFile(k.kubeconfig), k.namespace);
  throw new ConfigError('AMUN_K8S_CLUSTER_NAME', 'with AMUN_K8S_ENDPOINT and AMUN_K8S_CA_DATA, or AMUN_K8S_KUBECONFIG (or KUBECONFIG), is required by the kubernetes executor');
}

export function makeKubernetesCluster(config: Config, deps: ClusterDeps): KubernetesCluster {
  const settings = clusterSettings(config, deps.options);
  const api = deps.api ?? kubeApi(config, deps);
  const signer = deps.signer ?? new S3UploadSigner({ bucket: config.bucket, region: config.region, endpoint: settings.storage.endpoint, credentials: deps.credentials, clock: deps.clock });
  // The functions read manifests with their own identity: ECR tokens for ECR; anonymous (or a
  // Bearer challenge without credentials) for other registries.
  const registry =
    deps.registry ?? new OciRegistry(settings.registryAuth.kind === 'ecr' ? { credentials: ecrCredentials({ region: config.region, credentials: deps.credentials, clock: deps.clock }) } : {});
  const images = new ImageRecords({ store: deps.store, layout: deps.records.layout, registry, registryName: settings.registry, clock: deps.clock });
  const executor = new KubernetesExecutor({ api, records: deps.records, signer, images, settings, clock: deps.clock });
  return { api, executor, images, liveStatus: new KubernetesLiveStatus(api, deps.clock), settings, clock: deps.clock };
}
