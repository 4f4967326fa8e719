/**
 * The build Job `<id>-build`: kaniko builds the stored context and pushes it under the build's own
 * tag `<registry>:<stack digest>-<inspection hash>` (an init container), then a report step uploads
 * the build log and status with the presigned PUT URLs of `<id>-build-upload`. For ECR the builder
 * reads its registry configuration from the ConfigMap `<id>-build-docker`. kaniko gets at least the
 * cluster's builder floor (memory, CPU, and ephemeral storage sized by the stack), and, with a cache
 * repository, pulls RUN layers built before instead of running them again.
 */
import type { V1Container, V1Job, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { parseQuantity } from '../../executors/container-run.js';
import { DEFAULT_REQUESTS, type Specification } from '../../../core/specification.js';
import { buildImageTag } from './image-refs.js';
import { ANNOTATIONS, CONTAINERS, labelsFor, objectName } from './names.js';
import { placement } from './placement.js';
import { env, GRANT_FILE_MODE, ignoreDisruptions, jobMetadata, placementFields, POD_PATHS, restricted, SIDECAR_RESOURCES, UPLOADER_USER } from './pod.js';
import { BUILD_SCRIPT, REPORT_SCRIPT } from './scripts.js';
import type { BuilderFloor, ClusterSettings } from './settings.js';

/** Exit code of a container killed with SIGKILL: the kernel's OOM killer (or the kubelet) ended the builder. */
export const KILLED_EXIT_CODE = 137;

/**
 * Bases and Python packages whose stacks run to gigabytes (CUDA libraries, deep learning
 * frameworks): their builds get the floor's large ephemeral storage.
 */
export const LARGE_BASE = /cuda|cudnn|pytorch|torch|tensorflow|nvidia|nvcr\.io|rocm|jax|tritonserver|deepspeed|vllm/i;
export const LARGE_PACKAGE = /^(?:torch|torchvision|torchaudio|tensorflow|tensorflow-gpu|tf-nightly|jax|jaxlib|cupy|nvidia-.*|mxnet.*|paddlepaddle.*|onnxruntime-gpu|vllm|deepspeed|xformers|triton)$/i;

/** The requirement's name, normalized (PEP 503): `Torch==2.3; python_version > "3.8"` → torch, `tensorflow_gpu` → tensorflow-gpu. */
const requirementName = (requirement: string): string => (/^[A-Za-z0-9._-]+/.exec(requirement.trim())?.[0] ?? '').replace(/[-_.]+/g, '-');

/** Whether a stack is known to be large: its base, or a Python package it installs, names CUDA or a deep learning framework. */
export function isLargeStack(spec: Specification): boolean {
  const packages = [...(spec.python_packages ?? []), ...Object.keys(spec.python?.requirements.packages ?? {})].map(requirementName);
  return LARGE_BASE.test(spec.base) || packages.some((name) => LARGE_PACKAGE.test(name));
}

const larger = (a: string, b: string): string => (parseQuantity(a) >= parseQuantity(b) ? a : b);

export interface BuilderResources {
  cpu: string;
  memory: string;
  'ephemeral-storage': string;
}

/** kaniko's requests (its limits too): the spec's build.requests raised to the floor, ephemeral storage by the stack's size. */
export function builderResources(spec: Specification, floor: BuilderFloor): BuilderResources {
  return {
    cpu: larger(spec.build?.requests?.cpu ?? DEFAULT_REQUESTS.cpu, floor.cpu),
    memory: larger(spec.build?.requests?.memory ?? DEFAULT_REQUESTS.memory, floor.memory),
    'ephemeral-storage': isLargeStack(spec) ? floor.largeEphemeralStorage : floor.ephemeralStorage,
  };
}

export interface BuildJobInput {
  inspectionId: string;
  spec: Specification;
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
    ...(settings.cache ? ['--cache=true', `--cache-repo=${settings.cache.repository}`, `--cache-ttl=${settings.cache.ttlHours}h`] : []),
  ];
  const kaniko = builderResources(spec, settings.builder);
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
    // Limits equal requests, as everywhere: a builder that outgrows them ends now, with a reason.
    resources: { requests: { ...kaniko }, limits: { ...kaniko } },
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
    env: env({ AMUN_WORK: POD_PATHS.work, AMUN_SECRETS: POD_PATHS.secrets, AMUN_IMAGE: image, AMUN_INSPECTION_ID: inspectionId, AMUN_STACK_DIGEST: stackDigest, AMUN_BUILDER_MEMORY: kaniko.memory }),
    resources: SIDECAR_RESOURCES,
    // Its own UID, the grants' group: what the build step left in the work directory is read, never written.
    securityContext: restricted(UPLOADER_USER, true, UPLOADER_USER),
    volumeMounts: [{ ...workMount, readOnly: true }, { name: 'upload', mountPath: POD_PATHS.secrets, readOnly: true }],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: jobMetadata(name, settings.namespace, labels, {
      [ANNOTATIONS.stackDigest]: stackDigest,
      [ANNOTATIONS.image]: image,
      [ANNOTATIONS.deadlineSeconds]: String(settings.buildDeadlineSeconds),
      // What the reconciler quotes when the builder runs out of either.
      [ANNOTATIONS.builderMemory]: kaniko.memory,
      [ANNOTATIONS.builderStorage]: kaniko['ephemeral-storage'],
    }),
    spec: {
      completions: 1,
      parallelism: 1,
      // The build step always exits 0 and the report step records its outcome: a failed pod is
      // the infrastructure's doing, and the reconciler reports it. A disruption (preemption, a
      // drain, a node under pressure) is retried without counting; a builder killed for its
      // memory (OOMKilled, exit 137) or evicted for exceeding its ephemeral storage (no
      // DisruptionTarget) fails the Job at once: the same build would only fail again.
      backoffLimit: 0,
      podFailurePolicy: { rules: [ignoreDisruptions(), { action: 'FailJob', onExitCodes: { containerName: CONTAINERS.build, operator: 'In', values: [KILLED_EXIT_CODE] } }] },
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
