/**
 * The Kubernetes objects of an inspection, as pure functions of their input (no I/O, no clock):
 *
 *   <id>-build         Job: kaniko builds the stored context and pushes it under the build's own tag
 *                      <registry>:<stack digest>-<inspection hash>, then a report step uploads the
 *                      build log and status
 *   (runs pin the image by the manifest digest the functions recorded: functions/adapters/kubernetes/images.ts)
 *   <id>-build-upload  Secret: the report step's presigned PUT URLs (curl config files)
 *   <id>-build-docker  ConfigMap: the builder's registry configuration (ECR credential helper)
 *   <id>-run           Indexed Job: completions = batch_size; item n is JOB_COMPLETION_INDEX n
 *   <id>-run-upload    Secret: the presigned POST policy for results/ (a curl config file)
 *
 * Names are deterministic, so a redelivered message meets 409 AlreadyExists, which counts as
 * success. Everything carries the inspection id as a label; Secrets and ConfigMaps are owned by
 * their Job and go with it.
 */
import { createHash } from 'node:crypto';
import type {
  V1Affinity,
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1Job,
  V1OwnerReference,
  V1PodSpec,
  V1ResourceRequirements,
  V1Secret,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { IMAGE_PATHS, RUN_USER } from '../dockerfile.js';
import type { InspectionSpecification } from '../generated/types.js';
import { INSPECTION_ID_PATTERN } from '../layout.js';
import { DEFAULT_REQUESTS } from '../specification.js';
import { placement, type LabelMap, type Placement } from './placement.js';
import { BUILD_SCRIPT, REPORT_SCRIPT, UPLOAD_SCRIPT } from './scripts.js';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  inspection: 'amun/inspection-id',
} as const;

export const ANNOTATIONS = {
  stackDigest: 'amun/stack-digest',
  image: 'amun/image',
  batchSize: 'amun/batch-size',
  deadlineSeconds: 'amun/deadline-seconds',
  /** Kubernetes' own: the completion index of a pod of an Indexed Job. */
  completionIndex: 'batch.kubernetes.io/job-completion-index',
} as const;

export const MANAGED_BY = 'amun';
export type Component = 'build' | 'run';

/** Label selector of every object Amun creates, or of one inspection's. */
/** Disruptions (preemption, eviction, node drain) are retried and not counted, in every Job. */
const ignoreDisruptions = () => ({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });

/** Metadata of an Amun Job: its deterministic name, the namespace, the inspection's labels. */
function jobMetadata(name: string, namespace: string, labels: Record<string, string>, annotations: Record<string, string>) {
  return { name, namespace, labels, annotations };
}

export function selector(inspectionId?: string): string {
  return `${LABELS.managedBy}=${MANAGED_BY}${inspectionId ? `,${LABELS.inspection}=${inspectionId}` : ''}`;
}

export const CONTAINERS = { build: 'build', report: 'report', harness: 'harness', upload: 'upload' } as const;

/** In-pod paths. */
export const POD_PATHS = {
  work: '/amun/work',
  secrets: '/amun/secrets',
  uploadOutput: '/amun/output',
  dockerConfig: '/kaniko/.docker',
  shell: '/busybox/sh',
} as const;

export const DEFAULT_UPLOADER_IMAGE = 'docker.io/curlimages/curl:8.11.1';
/**
 * UID and GID of the steps that hold the upload grants (the build's report step, the runs' upload
 * sidecar): never the harness's RUN_USER. Also the pods' fsGroup, which the grant files (mode 0400,
 * to which the kubelet adds group read) belong to. fsGroup is every container's supplementary
 * group, so what keeps the user's code from the grants is that only these steps mount them.
 */
export const UPLOADER_USER = 1043;
/** Mode of the grant files in the upload Secret's volume (the kubelet adds group read for fsGroup). */
export const GRANT_FILE_MODE = 0o400;
export const DEFAULT_BUILD_DEADLINE_SECONDS = 3600;
/** Per run, on top of its own deadline: pod start, hwinfo, uploads. */
export const RUN_OVERHEAD_SECONDS = 120;
/** Once per run Job: scheduling, a node coming up, the image pull. */
export const RUN_START_GRACE_SECONDS = 900;
/** Attempts per index (backoffLimitPerIndex): one retry for a failure no rule explains. */
export const BACKOFF_LIMIT_PER_INDEX = 1;
const SIDECAR_RESOURCES: V1ResourceRequirements = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '50m', memory: '64Mi' } };

export type RegistryAuth = { kind: 'ecr' } | { kind: 'secret'; secretName: string } | { kind: 'none' };

/** What the cluster looks like: one per deployment, from configuration. */
export interface ClusterSettings {
  namespace: string;
  /** Repository built stacks are pushed to, each build under its own tag (`buildImageTag`). */
  registry: string;
  /** A kaniko debug variant (it needs /busybox/sh), e.g. ghcr.io/osscontainertools/kaniko:debug. */
  builderImage: string;
  /** An image with sh and curl for the report and upload steps. */
  uploaderImage: string;
  labels: LabelMap;
  /** Runs get a node to themselves (required pod anti-affinity against other Amun runs). */
  exclusiveNodes: boolean;
  /** The builder's service account: S3 read of the context and registry push (IRSA / Pod Identity). */
  builderServiceAccount: string;
  registryAuth: RegistryAuth;
  /** Where the builder reads the context: kaniko's S3 client (endpoint only for S3-compatible stores). */
  storage: { bucket: string; region: string; endpoint?: string | undefined };
  buildDeadlineSeconds: number;
  /** Bytes of each output stream kept in the log and in the report (the harness's limits); its defaults when absent. */
  output?: { logBytes: number; resultBytes: number };
}

const ECR_HOST = /^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;
const REPOSITORY = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
const DIGEST = /^[0-9a-f]{64}$/;

export function registryHost(registry: string): string {
  return registry.split('/')[0] ?? registry;
}

/** ECR registries use the builder's AWS identity (kaniko's ecr-login helper); others a dockerconfigjson Secret when named. */
export function registryAuthFor(registry: string, secretName?: string): RegistryAuth {
  if (secretName) return { kind: 'secret', secretName };
  return ECR_HOST.test(registryHost(registry)) ? { kind: 'ecr' } : { kind: 'none' };
}

export function checkRegistry(registry: string): string {
  if (!REPOSITORY.test(registry) || registry.length > 200) {
    throw new Error(`registry must be a repository without tag, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun, got ${JSON.stringify(registry)}`);
  }
  return registry;
}

/**
 * The tag a build pushes: `<registry>:<stack digest>-<16 hex digits of sha256(inspection id)>`, its
 * own, so that no build ever needs to overwrite another's tag (registries with immutable tags
 * refuse that) and a tag found in the registry says nothing about whether a stack was built.
 */
export function buildImageTag(registry: string, stackDigest: string, inspectionId: string): string {
  if (!DIGEST.test(stackDigest)) throw new Error(`stack digest must be 64 hex digits, got ${JSON.stringify(stackDigest)}`);
  if (!INSPECTION_ID_PATTERN.test(inspectionId)) throw new Error(`not an inspection id: ${JSON.stringify(inspectionId)}`);
  return `${checkRegistry(registry)}:${stackDigest}-${createHash('sha256').update(inspectionId).digest('hex').slice(0, 16)}`;
}

export const MANIFEST_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** `<registry>@sha256:…`: what runs use, an image that no later push can change. */
export function pinnedImage(registry: string, manifestDigest: string): string {
  if (!MANIFEST_DIGEST.test(manifestDigest)) throw new Error(`manifest digest must be sha256:<64 hex digits>, got ${JSON.stringify(manifestDigest)}`);
  return `${checkRegistry(registry)}@${manifestDigest}`;
}

export type ObjectSuffix = 'build' | 'run' | 'build-upload' | 'run-upload' | 'build-docker';

/** Job names stay at most 52 characters, so pod names and Indexed pod hostnames fit in 63. */
const MAX_NAME = 52;

/** `<id>-<suffix>`, or a shortened id with a hash when that is too long: deterministic either way. */
export function objectName(inspectionId: string, suffix: ObjectSuffix): string {
  if (!INSPECTION_ID_PATTERN.test(inspectionId)) throw new Error(`not an inspection id: ${JSON.stringify(inspectionId)}`);
  const plain = `${inspectionId}-${suffix}`;
  if (plain.length <= MAX_NAME) return plain;
  const hash = createHash('sha256').update(inspectionId).digest('hex').slice(0, 8);
  const room = MAX_NAME - suffix.length - hash.length - 2;
  return `${inspectionId.slice(0, room).replace(/-+$/, '')}-${hash}-${suffix}`;
}

export function labelsFor(inspectionId: string, component: Component): Record<string, string> {
  return { [LABELS.name]: 'amun', [LABELS.component]: component, [LABELS.managedBy]: MANAGED_BY, [LABELS.inspection]: inspectionId };
}

function resources(requests: { cpu?: string; memory?: string } | undefined, extra: Record<string, string> = {}): V1ResourceRequirements {
  const base = { cpu: requests?.cpu ?? DEFAULT_REQUESTS.cpu, memory: requests?.memory ?? DEFAULT_REQUESTS.memory };
  // Limits equal to requests: Guaranteed QoS, so a measurement does not share its CPU quota.
  return { requests: { ...base }, limits: { ...base, ...extra } };
}

/**
 * Restricted-profile container security as `user`: no privilege escalation, no capabilities. The
 * harness keeps the image's group (its files are 1042:0, group = user); the uploader runs as its own.
 */
function restricted(user: number, readOnlyRootFilesystem: boolean, group?: number): V1SecurityContext {
  return {
    runAsUser: user,
    ...(group !== undefined ? { runAsGroup: group } : {}),
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function affinityFor(place: Placement, exclusive: boolean): V1Affinity | undefined {
  const affinity: V1Affinity = {};
  if (place.nodeAffinity.length > 0) {
    affinity.nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: place.nodeAffinity }] } };
  }
  if (exclusive) {
    affinity.podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'run' } },
        },
      ],
    };
  }
  return Object.keys(affinity).length > 0 ? affinity : undefined;
}

function placementFields(place: Placement, exclusive: boolean): Pick<V1PodSpec, 'affinity' | 'nodeSelector' | 'tolerations'> {
  const affinity = affinityFor(place, exclusive);
  return {
    ...(affinity ? { affinity } : {}),
    ...(Object.keys(place.nodeSelector).length > 0 ? { nodeSelector: place.nodeSelector } : {}),
    ...(place.tolerations.length > 0 ? { tolerations: place.tolerations } : {}),
  };
}

const env = (vars: Record<string, string>): V1EnvVar[] => Object.entries(vars).map(([name, value]) => ({ name, value }));
const completionIndexEnv = (name: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${ANNOTATIONS.completionIndex}']` } } });

export interface BuildJobInput {
  inspectionId: string;
  spec: InspectionSpecification;
  stackDigest: string;
  /** Key of the context tarball in the bucket (it holds the Dockerfile at its root). */
  contextKey: string;
  settings: ClusterSettings;
}

/** The build Job: kaniko as the build step (an init container), then the report step. */
export function buildJob({ inspectionId, spec, stackDigest, contextKey, settings }: BuildJobInput): V1Job {
  const name = objectName(inspectionId, 'build');
  const image = buildImageTag(settings.registry, stackDigest, inspectionId);
  const place = placement(spec.build?.requests, settings.labels, '/build/requests');
  const labels = labelsFor(inspectionId, 'build');
  const { storage } = settings;
  const kanikoArgs = [
    `--context=s3://${storage.bucket}/${contextKey}`,
    '--dockerfile=Dockerfile',
    `--destination=${image}`,
    `--digest-file=${POD_PATHS.work}/digest`,
    '--push-retry=3',
    '--verbosity=info',
  ];
  const builderEnv = env({
    AMUN_WORK: POD_PATHS.work,
    AWS_REGION: storage.region,
    ...(storage.endpoint ? { S3_ENDPOINT: storage.endpoint, S3_FORCE_PATH_STYLE: 'true' } : {}),
  });
  const workMount: V1VolumeMount = { name: 'work', mountPath: POD_PATHS.work };
  const volumes: V1Volume[] = [
    { name: 'work', emptyDir: {} },
    { name: 'upload', secret: { secretName: objectName(inspectionId, 'build-upload'), defaultMode: GRANT_FILE_MODE } },
  ];
  const builderMounts: V1VolumeMount[] = [workMount];
  if (settings.registryAuth.kind === 'ecr') {
    volumes.push({ name: 'docker-config', configMap: { name: objectName(inspectionId, 'build-docker') } });
    builderMounts.push({ name: 'docker-config', mountPath: POD_PATHS.dockerConfig, readOnly: true });
  } else if (settings.registryAuth.kind === 'secret') {
    volumes.push({ name: 'docker-config', secret: { secretName: settings.registryAuth.secretName, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
    builderMounts.push({ name: 'docker-config', mountPath: POD_PATHS.dockerConfig, readOnly: true });
  }
  const builder: V1Container = {
    name: CONTAINERS.build,
    image: settings.builderImage,
    command: [POD_PATHS.shell, '-c', BUILD_SCRIPT, 'amun-build', ...kanikoArgs],
    env: builderEnv,
    resources: resources(spec.build?.requests),
    // kaniko unpacks the base image and runs the RUN lines as root in its own container: it
    // cannot drop to UID 1042. The upload grants are not mounted here; the registry's push
    // credentials are (docs/KUBERNETES.md says what a build can therefore still do).
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    volumeMounts: builderMounts,
  };
  const report: V1Container = {
    name: CONTAINERS.report,
    image: settings.uploaderImage,
    command: ['/bin/sh', '-c', REPORT_SCRIPT],
    env: env({ AMUN_WORK: POD_PATHS.work, AMUN_SECRETS: POD_PATHS.secrets, AMUN_IMAGE: image, AMUN_INSPECTION_ID: inspectionId, AMUN_STACK_DIGEST: stackDigest }),
    resources: SIDECAR_RESOURCES,
    // Its own UID, the grants' group: what the build step left in the work directory is read, never written.
    securityContext: restricted(UPLOADER_USER, true, UPLOADER_USER),
    volumeMounts: [{ ...workMount, readOnly: true }, { name: 'upload', mountPath: POD_PATHS.secrets, readOnly: true }],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: jobMetadata(name, settings.namespace, labels, { [ANNOTATIONS.stackDigest]: stackDigest, [ANNOTATIONS.image]: image, [ANNOTATIONS.deadlineSeconds]: String(settings.buildDeadlineSeconds) }),
    spec: {
      completions: 1,
      parallelism: 1,
      // The build step always exits 0 and the report step records its outcome: a failed pod is
      // the infrastructure's doing (OOM, eviction), and the reconciler reports it.
      backoffLimit: 0,
      podFailurePolicy: { rules: [ignoreDisruptions()] },
      activeDeadlineSeconds: settings.buildDeadlineSeconds,
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          serviceAccountName: settings.builderServiceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          restartPolicy: 'Never',
          // fsGroup makes the grant files readable by the report step's group (UPLOADER_USER).
          securityContext: { fsGroup: UPLOADER_USER, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: [builder],
          containers: [report],
          volumes,
          ...placementFields(place, false),
        },
      },
    },
  };
}

export interface RunJobInput {
  inspectionId: string;
  spec: InspectionSpecification;
  /**
   * The image to run: `<registry>@sha256:…`, pinned by the manifest digest the functions recorded
   * for this stack's build (never a tag, which any later push could move).
   */
  image: string;
  /** Deadline of one run. */
  deadlineSeconds: number;
  /** `<prefix>/<id>/results/`: the upload step writes `<n>/hwinfo|log|result` under it. */
  resultsPrefix: string;
  settings: ClusterSettings;
}

/** activeDeadlineSeconds of a run Job: every wave of `parallelism` runs, plus start-up. */
export function runJobDeadline(batchSize: number, parallelism: number, deadlineSeconds: number): number {
  const waves = Math.ceil(batchSize / Math.max(1, Math.min(parallelism, batchSize)));
  return waves * (deadlineSeconds + RUN_OVERHEAD_SECONDS) + RUN_START_GRACE_SECONDS;
}

/** The run Job: Indexed, one completion per item, the harness beside an upload sidecar. */
export function runJob({ inspectionId, spec, image, deadlineSeconds, resultsPrefix, settings }: RunJobInput): V1Job {
  const name = objectName(inspectionId, 'run');
  const batchSize = spec.batch_size ?? 1;
  const parallelism = Math.min(spec.run?.parallelism ?? 1, batchSize);
  const place = placement(spec.run?.requests, settings.labels, '/run/requests');
  const labels = labelsFor(inspectionId, 'run');
  const outputMount: V1VolumeMount = { name: 'output', mountPath: IMAGE_PATHS.output };
  const harness: V1Container = {
    name: CONTAINERS.harness,
    image,
    command: ['python3', IMAGE_PATHS.entrypoint],
    env: [
      ...env({
        AMUN_INSPECTION_ID: inspectionId,
        AMUN_EXECUTOR_KIND: 'kubernetes',
        AMUN_DEADLINE_SECONDS: String(deadlineSeconds),
        AMUN_OUTPUT_DIR: IMAGE_PATHS.output,
        ...(settings.output ? { AMUN_OUTPUT_LIMIT_BYTES: String(settings.output.logBytes), AMUN_RESULT_OUTPUT_LIMIT_BYTES: String(settings.output.resultBytes) } : {}),
      }),
      completionIndexEnv('AMUN_ITEM'),
    ],
    resources: resources(spec.run?.requests, place.limits),
    securityContext: restricted(RUN_USER, false),
    // The output directory only: the upload grant is never mounted where the user's script runs.
    volumeMounts: [outputMount],
  };
  const upload: V1Container = {
    name: CONTAINERS.upload,
    image: settings.uploaderImage,
    // A native sidecar: started before the harness, stopped after it.
    restartPolicy: 'Always',
    command: ['/bin/sh', '-c', UPLOAD_SCRIPT],
    env: [...env({ AMUN_OUTPUT_DIR: POD_PATHS.uploadOutput, AMUN_SECRETS: POD_PATHS.secrets, AMUN_RESULTS_PREFIX: resultsPrefix }), completionIndexEnv('AMUN_ITEM')],
    resources: SIDECAR_RESOURCES,
    // Another UID than the harness's, and the only container that mounts the grant (GRANT_FILE_MODE,
    // group UPLOADER_USER); its script refuses links and anything but regular files of the output directory.
    securityContext: restricted(UPLOADER_USER, true, UPLOADER_USER),
    volumeMounts: [
      { name: 'output', mountPath: POD_PATHS.uploadOutput, readOnly: true },
      { name: 'upload', mountPath: POD_PATHS.secrets, readOnly: true },
    ],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: jobMetadata(name, settings.namespace, labels, {
      [ANNOTATIONS.image]: image,
      [ANNOTATIONS.batchSize]: String(batchSize),
      [ANNOTATIONS.deadlineSeconds]: String(deadlineSeconds),
    }),
    spec: {
      completionMode: 'Indexed',
      completions: batchSize,
      parallelism,
      backoffLimitPerIndex: BACKOFF_LIMIT_PER_INDEX,
      podFailurePolicy: {
        rules: [
          ignoreDisruptions(),
          // The harness exits 0 whenever it wrote a result, whatever the script did: a non-zero
          // exit (OOM kill, a crash) is final for that item; the reconciler writes why.
          { action: 'FailIndex', onExitCodes: { containerName: CONTAINERS.harness, operator: 'NotIn', values: [0] } },
        ],
      },
      activeDeadlineSeconds: runJobDeadline(batchSize, parallelism, deadlineSeconds),
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 60,
          // No shared process namespace: the harness cannot reach the sidecar's files through /proc.
          securityContext: { runAsUser: RUN_USER, runAsNonRoot: true, fsGroup: UPLOADER_USER, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: [upload],
          containers: [harness],
          volumes: [
            { name: 'output', emptyDir: {} },
            { name: 'upload', secret: { secretName: objectName(inspectionId, 'run-upload'), defaultMode: GRANT_FILE_MODE } },
          ],
          ...(settings.registryAuth.kind === 'secret' ? { imagePullSecrets: [{ name: settings.registryAuth.secretName }] } : {}),
          ...placementFields(place, settings.exclusiveNodes),
        },
      },
    },
  };
}

/** The Job as owner of its Secret and ConfigMap, so that they go with it. */
export function ownerOf(job: Pick<V1Job, 'metadata'>): V1OwnerReference[] {
  const uid = job.metadata?.uid;
  const name = job.metadata?.name;
  if (!uid || !name) return [];
  return [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, blockOwnerDeletion: false, controller: false }];
}

/** One curl config line: `name = "value"` with the config file's quoting. */
function curlLine(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new Error(`curl config value for ${name} spans lines`);
  return `${name} = "${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`;
}

/** curl config for an upload with a presigned PUT URL. */
export function curlPutConfig(url: string): string {
  return curlLine('url', url);
}

/** curl config for a presigned POST: the URL and every policy field, before the caller's key and file. */
export function curlPostConfig(url: string, fields: Record<string, string>): string {
  return curlLine('url', url) + Object.entries(fields).map(([k, v]) => curlLine('form-string', `${k}=${v}`)).join('');
}

export interface UploadSecretInput {
  inspectionId: string;
  component: Component;
  namespace: string;
  /** File name → content (curl config files). */
  files: Record<string, string>;
  owner?: Pick<V1Job, 'metadata'>;
}

export function uploadSecret({ inspectionId, component, namespace, files, owner }: UploadSecretInput): V1Secret {
  const ownerReferences = owner ? ownerOf(owner) : [];
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: objectName(inspectionId, component === 'build' ? 'build-upload' : 'run-upload'),
      namespace,
      labels: labelsFor(inspectionId, component),
      ...(ownerReferences.length > 0 ? { ownerReferences } : {}),
    },
    stringData: files,
  };
}

/** The builder's docker config: ECR through kaniko's built-in ecr-login credential helper. */
export function dockerConfigMap(inspectionId: string, settings: ClusterSettings, owner?: Pick<V1Job, 'metadata'>): V1ConfigMap {
  const ownerReferences = owner ? ownerOf(owner) : [];
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: objectName(inspectionId, 'build-docker'),
      namespace: settings.namespace,
      labels: labelsFor(inspectionId, 'build'),
      ...(ownerReferences.length > 0 ? { ownerReferences } : {}),
    },
    data: { 'config.json': `${JSON.stringify({ credHelpers: { [registryHost(settings.registry)]: 'ecr-login' } }, null, 2)}\n` },
  };
}
