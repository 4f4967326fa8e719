/**
 * The run Job `<id>-run`: Indexed, completions = batch_size, item n is JOB_COMPLETION_INDEX n; the
 * harness beside an upload sidecar that posts the item's objects with the presigned POST policy of
 * `<id>-run-upload`. Runs pin the image by the manifest digest the functions recorded (images.ts).
 */
import type { V1Container, V1Job, V1VolumeMount } from '@kubernetes/client-node';
import { HARNESS_COMMAND, IMAGE_PATHS, RUN_USER } from '../../../core/dockerfile.js';
import type { Specification } from '../../../core/specification.js';
import { ANNOTATIONS, CONTAINERS, labelsFor, objectName } from './names.js';
import { placement } from './placement.js';
import { completionIndexEnv, env, GRANT_FILE_MODE, ignoreDisruptions, jobMetadata, placementFields, POD_PATHS, resources, restricted, SIDECAR_RESOURCES, UPLOADER_USER } from './pod.js';
import { UPLOAD_SCRIPT } from './scripts.js';
import type { ClusterSettings } from './settings.js';

/** Per run, on top of its own deadline: pod start, hwinfo, uploads. */
export const RUN_OVERHEAD_SECONDS = 120;
/** Once per run Job: scheduling, a node coming up, the image pull. */
export const RUN_START_GRACE_SECONDS = 900;
/** Attempts per index (backoffLimitPerIndex): one retry for a failure no rule explains. */
export const BACKOFF_LIMIT_PER_INDEX = 1;
/**
 * The harness's exit code when SIGTERM cut its run short (the kubelet stopping the pod: a drain,
 * a preemption, an eviction, a node shutting down): it records no result, and the index runs again
 * (a disruption the pod's DisruptionTarget condition names is not counted; otherwise the one retry).
 */
export const INTERRUPTED_EXIT_CODE = 143;
/** Asks Karpenter not to consolidate or drift a node while a measurement runs on it. */
export const DO_NOT_DISRUPT = { 'karpenter.sh/do-not-disrupt': 'true' } as const;

export interface RunJobInput {
  inspectionId: string;
  spec: Specification;
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
  const batchSize = spec.batch_size;
  const parallelism = Math.min(spec.run?.parallelism ?? 1, batchSize);
  const place = placement(spec.run?.requests, settings.labels, '/run/requests');
  const labels = labelsFor(inspectionId, 'run');
  const outputMount: V1VolumeMount = { name: 'output', mountPath: IMAGE_PATHS.output };
  const harness: V1Container = {
    name: CONTAINERS.harness,
    image,
    command: [...HARNESS_COMMAND],
    env: [
      ...env({
        AMUN_INSPECTION_ID: inspectionId,
        AMUN_EXECUTOR_KIND: 'kubernetes',
        AMUN_DEADLINE_SECONDS: String(deadlineSeconds),
        AMUN_OUTPUT_DIR: IMAGE_PATHS.output,
        AMUN_INTERRUPTED_EXIT_CODE: String(INTERRUPTED_EXIT_CODE),
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
          // exit (OOM kill, a crash) is final for that item; the reconciler writes why. An
          // interrupted run (INTERRUPTED_EXIT_CODE) is not: it falls to the per-index retry.
          { action: 'FailIndex', onExitCodes: { containerName: CONTAINERS.harness, operator: 'NotIn', values: [0, INTERRUPTED_EXIT_CODE] } },
        ],
      },
      activeDeadlineSeconds: runJobDeadline(batchSize, parallelism, deadlineSeconds),
      template: {
        metadata: { labels: { ...labels }, annotations: { ...DO_NOT_DISRUPT } },
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
