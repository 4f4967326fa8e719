/**
 * The build Job `<id>-build`: kaniko builds the stored context and pushes it under the build's own
 * tag `<registry>:<stack digest>-<inspection hash>` (an init container), then a report step uploads
 * the build log and status with the presigned PUT URLs of `<id>-build-upload`. For ECR the builder
 * reads its registry configuration from the ConfigMap `<id>-build-docker`.
 */
import type { V1Container, V1Job, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { Specification } from '../../../core/specification.js';
import { buildImageTag } from './image-refs.js';
import { ANNOTATIONS, CONTAINERS, labelsFor, objectName } from './names.js';
import { placement } from './placement.js';
import { env, GRANT_FILE_MODE, ignoreDisruptions, jobMetadata, placementFields, POD_PATHS, resources, restricted, SIDECAR_RESOURCES, UPLOADER_USER } from './pod.js';
import { BUILD_SCRIPT, REPORT_SCRIPT } from './scripts.js';
import type { ClusterSettings } from './settings.js';

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
