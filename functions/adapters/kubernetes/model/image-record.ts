/**
 * Image records: which manifest digest the runs of a stack use on a cluster. Pure parts (the key,
 * the record's shape and its checks); ../images.ts reads and writes them.
 *
 * A build Job runs the user's code (RUN lines, sdists, Pipfile sources) with push access to the
 * repository, so nothing a build pod says or pushes is trusted on its own: a tag that exists in the
 * registry is no evidence of a build (any build can push any tag), and the digest a build reports
 * is only its claim. A record is written by the functions alone (the schedule stage, the
 * reconciler), under a key for which no pod holds a grant, after they resolved the build's own tag
 * in the registry themselves and found the digest the build reported. Runs pin `<registry>@<digest>`
 * from it, and a later inspection of the same stack is a cache hit only through it.
 */
import { buildImageTag, checkRegistry, MANIFEST_DIGEST, pinnedImage } from '../manifests/image-refs.js';

export interface ImageRecord {
  stack_digest: string;
  registry: string;
  /** The tag the recorded build pushed: its own (`buildImageTag`). */
  tag: string;
  /** `sha256:<hex>` of the manifest, computed by the functions from the registry's answer. */
  digest: string;
  /** `<registry>@<digest>`: what runs pin. */
  image: string;
  /** The inspection whose build it was. */
  inspection_id: string;
  recorded_at: string;
}

export function newImageRecord(input: { stackDigest: string; registry: string; inspectionId: string; digest: string; recordedAt: Date }): ImageRecord {
  return {
    stack_digest: input.stackDigest,
    registry: checkRegistry(input.registry),
    tag: buildImageTag(input.registry, input.stackDigest, input.inspectionId),
    digest: input.digest,
    image: pinnedImage(input.registry, input.digest),
    inspection_id: input.inspectionId,
    recorded_at: input.recordedAt.toISOString(),
  };
}

/**
 * The stored record, when it is one for this stack in this registry and consistent in itself;
 * undefined for anything else (another registry's, a damaged object), which then counts as none.
 */
export function parseImageRecord(raw: unknown, expected: { stackDigest: string; registry: string }): ImageRecord | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  const [digest, inspectionId, recordedAt] = [str('digest'), str('inspection_id'), str('recorded_at')];
  if (str('stack_digest') !== expected.stackDigest || str('registry') !== expected.registry) return undefined;
  if (!digest || !MANIFEST_DIGEST.test(digest) || !inspectionId || !recordedAt || Number.isNaN(Date.parse(recordedAt))) return undefined;
  try {
    const record = newImageRecord({ stackDigest: expected.stackDigest, registry: expected.registry, inspectionId, digest, recordedAt: new Date(recordedAt) });
    return str('image') === record.image && str('tag') === record.tag ? { ...record, recorded_at: recordedAt } : undefined;
  } catch {
    return undefined;
  }
}
