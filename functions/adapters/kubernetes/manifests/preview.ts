/**
 * The objects an inspection would create on a cluster, for `amun manifests`: the same builders the
 * executor uses, with the upload Secrets' grants left as comments (they are signed when the build
 * or the runs start, and expire with them). The run Job's image is a placeholder: runs are pinned
 * to the manifest digest the functions record when the build has ended (RUN_IMAGE_PLACEHOLDER).
 */
import type { V1ConfigMap, V1Job, V1Secret } from '@kubernetes/client-node';
import { Layout } from '../../../core/layout.js';
import type { Specification } from '../../../core/specification.js';
import { buildJob } from './build-job.js';
import { checkRegistry } from './image-refs.js';
import { runJob } from './run-job.js';
import type { ClusterSettings } from './settings.js';
import { dockerConfigMap, uploadSecret } from './upload-objects.js';

export interface PreviewInput {
  inspectionId: string;
  spec: Specification;
  stackDigest: string;
  settings: ClusterSettings;
  storePrefix: string;
  deadlineSeconds: number;
  kind?: 'build' | 'run' | undefined;
}

export type Manifest = V1Job | V1Secret | V1ConfigMap;

/** The run Job's image in a preview: no digest exists before the build (and no cluster would pull this). */
export const RUN_IMAGE_PLACEHOLDER = '@sha256:<manifest digest the functions record when the build has ended>';

export function previewManifests({ inspectionId, spec, stackDigest, settings, storePrefix, deadlineSeconds, kind }: PreviewInput): Manifest[] {
  const out: Manifest[] = [];
  const layout = new Layout(storePrefix);
  if (kind !== 'run') {
    out.push(buildJob({ inspectionId, spec, stackDigest, contextKey: layout.contextTarball(inspectionId), settings }));
    out.push(
      uploadSecret({
        inspectionId,
        component: 'build',
        namespace: settings.namespace,
        files: {
          'log.curlrc': `# url = "<presigned PUT of ${layout.buildLog(inspectionId)}, signed when the build starts>"\n`,
          'status.curlrc': `# url = "<presigned PUT of ${layout.buildStatus(inspectionId)}, signed when the build starts>"\n`,
        },
      }),
    );
    if (settings.registryAuth.kind === 'ecr') out.push(dockerConfigMap(inspectionId, settings));
  }
  if (kind !== 'build' && spec.script !== undefined) {
    const image = `${checkRegistry(settings.registry)}${RUN_IMAGE_PLACEHOLDER}`;
    out.push(runJob({ inspectionId, spec, image, deadlineSeconds, resultsPrefix: layout.resultsPrefix(inspectionId), settings }));
    out.push(
      uploadSecret({
        inspectionId,
        component: 'run',
        namespace: settings.namespace,
        files: { 'post.curlrc': `# url and form-string fields of a presigned POST policy for keys under ${layout.resultsPrefix(inspectionId)}, signed when the runs start\n` },
      }),
    );
  }
  return out;
}
