/**
 * The Kubernetes objects of an inspection, as pure functions of their input (no I/O, no clock):
 *
 *   <id>-build         Job: kaniko builds the stored context and pushes it under the build's own
 *                      tag, then a report step uploads the build log and status (build-job.ts)
 *   <id>-build-upload  Secret: the report step's presigned PUT URLs (upload-objects.ts, curl-config.ts)
 *   <id>-build-docker  ConfigMap: the builder's registry configuration (ECR credential helper)
 *   <id>-run           Indexed Job: completions = batch_size; item n is JOB_COMPLETION_INDEX n (run-job.ts)
 *   <id>-run-upload    Secret: the presigned POST policy for results/ (a curl config file)
 *
 * Names are deterministic (names.ts), so a redelivered message meets 409 AlreadyExists, which
 * counts as success. Everything carries the inspection id as a label; Secrets and ConfigMaps are
 * owned by their Job and go with it. Where pods may run is placement.ts; the shell programs they
 * run around the builder and the harness are scripts.ts; `amun manifests` renders preview.ts.
 */
export { builderResources, buildJob, isLargeStack, KILLED_EXIT_CODE, type BuilderResources, type BuildJobInput } from './build-job.js';
export { curlPostConfig, curlPutConfig } from './curl-config.js';
export { buildImageTag, checkRegistry, MANIFEST_DIGEST, pinnedImage, registryAuthFor, registryHost, type RegistryAuth } from './image-refs.js';
export { ANNOTATIONS, CONTAINERS, LABELS, labelsFor, MANAGED_BY, objectName, selector, type Component, type ObjectSuffix } from './names.js';
export { checkPlacement, GPU_RESOURCE, GPU_TAINT, karpenterGpuName, LABEL_PRESETS, labelPreset, placement, PlacementError, processorLabel, type LabelMap, type LabelPreset, type Placement } from './placement.js';
export { GRANT_FILE_MODE, POD_PATHS, UPLOADER_USER } from './pod.js';
export { previewManifests, RUN_IMAGE_PLACEHOLDER, type Manifest, type PreviewInput } from './preview.js';
export { BACKOFF_LIMIT_PER_INDEX, DO_NOT_DISRUPT, INTERRUPTED_EXIT_CODE, RUN_OVERHEAD_SECONDS, RUN_START_GRACE_SECONDS, runJob, runJobDeadline, type RunJobInput } from './run-job.js';
export { BUILD_SCRIPT, REPORT_SCRIPT, UPLOAD_SCRIPT } from './scripts.js';
export {
  DEFAULT_BUILD_DEADLINE_SECONDS,
  DEFAULT_BUILDER_FLOOR,
  DEFAULT_BUILDER_IMAGE,
  DEFAULT_CACHE_TTL_HOURS,
  DEFAULT_UPLOADER_IMAGE,
  DIGEST_PINNED,
  HELPER_IMAGES,
  helperImageRef,
  type BuildCache,
  type BuilderFloor,
  type ClusterSettings,
  type HelperImage,
} from './settings.js';
export { dockerConfigMap, ownerOf, uploadSecret, type UploadSecretInput } from './upload-objects.js';
