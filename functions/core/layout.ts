/**
 * Where everything lives in the store. The original's keys (build/specification, build/Dockerfile,
 * build/log, results/<n>/{hwinfo,log,result}) are kept as they were; what we add sits beside them.
 */

/** Tag of build-context objects: the bucket's lifecycle rule expires them by it (S3 lifecycle filters match key prefixes, and contexts sit below each inspection id). */
export const BUILD_CONTEXT_TAGS: Readonly<Record<string, string>> = { 'amun-artifact': 'build-context' };

export const INSPECTION_ID_PATTERN = /^inspection-[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export class Layout {
  /** `prefix` without a trailing slash, e.g. `inspections` or `<bucket_prefix>/<deployment>/inspections`. */
  constructor(
    readonly prefix: string,
    readonly indexPrefix = `${prefix}-index`,
  ) {
    if (prefix.endsWith('/') || prefix.startsWith('/')) throw new Error(`store prefix must not start or end with '/': ${prefix}`);
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
    return `${this.prefix}/${id}/build/status`;
  }
  /** Ours: the build context, every file with its mode in one object (schemas/build-context.json). */
  context(id: string): string {
    return `${this.prefix}/${id}/build/context.json`;
  }
  resultsPrefix(id: string): string {
    return `${this.prefix}/${id}/results/`;
  }
  result(id: string, item: number): string {
    return `${this.prefix}/${id}/results/${item}/result`;
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
  /** Ours: written once the completion message went out. */
  completion(id: string): string {
    return `${this.prefix}/${id}/completion`;
  }
  /** Ours: newest-first listing entry. Keys sort by inverted creation time, so a plain listing is newest first. */
  indexEntry(id: string, createdMs: number): string {
    const inverted = String(9_999_999_999_999 - createdMs).padStart(13, '0');
    return `${this.indexPrefix}/${inverted}_${id}`;
  }
  idFromIndexEntry(key: string): string | undefined {
    const m = /_([^/]+)$/.exec(key);
    return m?.[1];
  }

  /** Parses `<prefix>/<id>/results/<n>/result` and friends; undefined for keys outside the layout. */
  parse(key: string): { id: string; rest: string } | undefined {
    if (!key.startsWith(`${this.prefix}/`)) return undefined;
    const tail = key.slice(this.prefix.length + 1);
    const slash = tail.indexOf('/');
    if (slash <= 0) return undefined;
    const id = tail.slice(0, slash);
    if (!INSPECTION_ID_PATTERN.test(id)) return undefined;
    return { id, rest: tail.slice(slash + 1) };
  }
}
