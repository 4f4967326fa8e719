/**
 * Where everything lives in the store. The original's keys (build/specification, build/Dockerfile,
 * build/log, results/<n>/{hwinfo,log,result}) are kept as they were; what we add sits beside them.
 */

/** Tag of build-context objects: the bucket's lifecycle rule expires them by it (S3 lifecycle filters match key prefixes, and contexts sit below each inspection id). */
export const BUILD_CONTEXT_TAGS: Readonly<Record<string, string>> = { 'amun-artifact': 'build-context' };

/** The ends of the keys whose creation triggers a stage: S3 notification filters match them. */
export const LAYOUT_SUFFIXES = { buildStatus: '/build/status', result: '/result' } as const;

/** An object of an inspection that a stage is triggered by. */
export type TriggerObject = { kind: 'build-status'; id: string } | { kind: 'result'; id: string; item: number };

/** A stack digest: the sha256 of a Dockerfile and its context (core/dockerfile.ts), in hex. */
export const STACK_DIGEST_PATTERN = /^[0-9a-f]{64}$/;
/** A blob's name: the sha256 of its bytes, in hex. */
export const BLOB_DIGEST_PATTERN = /^[0-9a-f]{64}$/;

export const INSPECTION_ID_PATTERN = /^inspection-[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Inspection ids name Kubernetes objects: a DNS-1123 label is at most 63 characters. */
export const MAX_INSPECTION_ID_LENGTH = 63;
/** What a valid inspection id looks like, in words (for errors). */
export const INSPECTION_ID_RULE = `must look like inspection-<name>-<hex>: lower-case letters, digits and dashes, at most ${MAX_INSPECTION_ID_LENGTH} characters`;

export function isInspectionId(id: string): boolean {
  return id.length <= MAX_INSPECTION_ID_LENGTH && INSPECTION_ID_PATTERN.test(id);
}

export class Layout {
  /** `prefix` without a trailing slash, e.g. `inspections` or `<bucket_prefix>/<deployment>/inspections`. */
  constructor(
    readonly prefix: string,
    readonly indexPrefix = `${prefix}-index`,
    /**
     * Content-addressed objects beside the store: what every inspection of a version shares (the
     * harness, the generator's own scripts), stored once and named by build contexts. Outside
     * `<prefix>/`, where the original's readers take every folder for an inspection.
     */
    readonly blobPrefix = `${prefix}-blobs`,
  ) {
    if (prefix.endsWith('/') || prefix.startsWith('/')) throw new Error(`store prefix must not start or end with '/': ${prefix}`);
  }

  /** Every prefix the store's objects live under (the grants and the drop-prefix checks read it). */
  get prefixes(): string[] {
    return [this.prefix, this.indexPrefix, this.blobPrefix];
  }

  root(id: string): string {
    return `${this.prefix}/${id}/`;
  }
  specification(id: string): string {
    return `${this.prefix}/${id}/build/specification`;
  }
  dockerfile(id: string): string {
    return `${this.prefix}/${id}/build/Dockerfile`;
  }
  buildLog(id: string): string {
    return `${this.prefix}/${id}/build/log`;
  }
  /** Ours: which delivery of the build message builds (the first to create it); its duplicates leave the build to it. */
  buildClaim(id: string): string {
    return `${this.prefix}/${id}/build/claim`;
  }
  /** Ours: outcome of the build; its creation triggers scheduling. */
  buildStatus(id: string): string {
    return `${this.prefix}/${id}${LAYOUT_SUFFIXES.buildStatus}`;
  }
  /**
   * Ours: the build context, every file with its mode in one object (schemas/build-context.json);
   * the files every inspection shares are named there by digest and stored once (`blob`).
   */
  context(id: string): string {
    return `${this.prefix}/${id}/build/context.json`;
  }
  /** Ours: a content-addressed blob (bytes whose sha256 is `sha256`), created once, never rewritten nor expired. */
  blob(sha256: string): string {
    if (!BLOB_DIGEST_PATTERN.test(sha256)) throw new Error(`blob digest must be 64 hex digits, got ${JSON.stringify(sha256)}`);
    return `${this.blobPrefix}/sha256/${sha256}`;
  }
  /** Ours (kubernetes executor): the build context as the tarball a cluster builder reads. */
  contextTarball(id: string): string {
    return `${this.prefix}/${id}/build/context.tar.gz`;
  }
  resultsPrefix(id: string): string {
    return `${this.prefix}/${id}/results/`;
  }
  result(id: string, item: number): string {
    return `${this.prefix}/${id}/results/${item}${LAYOUT_SUFFIXES.result}`;
  }
  resultLog(id: string, item: number): string {
    return `${this.prefix}/${id}/results/${item}/log`;
  }
  resultHwinfo(id: string, item: number): string {
    return `${this.prefix}/${id}/results/${item}/hwinfo`;
  }
  /** Ours: the summary, recomputed from the objects above. */
  summary(id: string): string {
    return `${this.prefix}/${id}/summary`;
  }
  /** Ours: the metrics of a finished inspection's runs (GET /inspect/{id}/metrics), written once it finished. */
  metrics(id: string): string {
    return `${this.prefix}/${id}/metrics`;
  }
  /** Ours: written once the completion message went out. */
  completion(id: string): string {
    return `${this.prefix}/${id}/completion`;
  }
  /** Ours: newest-first listing entry. Keys sort by inverted creation time, so a plain listing is newest first. */
  indexEntry(id: string, createdMs: number): string {
    const inverted = String(9_999_999_999_999 - createdMs).padStart(13, '0');
    return `${this.indexPrefix}/${inverted}_${id}`;
  }
  /**
   * Ours (kubernetes executor): the image digest the functions recorded for a stack. Beside the
   * inspections (no inspection id is `images`), outside every grant a pod gets.
   */
  imageRecord(stackDigest: string): string {
    if (!STACK_DIGEST_PATTERN.test(stackDigest)) throw new Error(`stack digest must be 64 hex digits, got ${JSON.stringify(stackDigest)}`);
    return `${this.prefix}/images/${stackDigest}`;
  }
  idFromIndexEntry(key: string): string | undefined {
    const m = /_([^/]+)$/.exec(key);
    return m?.[1];
  }

  /** Which triggering object a key is (a build status, an item's result), or undefined. */
  triggerObject(key: string): TriggerObject | undefined {
    const parsed = this.parse(key);
    if (!parsed) return undefined;
    if (key === this.buildStatus(parsed.id)) return { kind: 'build-status', id: parsed.id };
    const m = /^results\/(0|[1-9][0-9]*)\/result$/.exec(parsed.rest);
    if (m && key === this.result(parsed.id, Number(m[1]))) return { kind: 'result', id: parsed.id, item: Number(m[1]) };
    return undefined;
  }

  /** Parses `<prefix>/<id>/results/<n>/result` and friends; undefined for keys outside the layout. */
  parse(key: string): { id: string; rest: string } | undefined {
    if (!key.startsWith(`${this.prefix}/`)) return undefined;
    const tail = key.slice(this.prefix.length + 1);
    const slash = tail.indexOf('/');
    if (slash <= 0) return undefined;
    const id = tail.slice(0, slash);
    if (!isInspectionId(id)) return undefined;
    return { id, rest: tail.slice(slash + 1) };
  }
}
