/**
 * The one owner of an inspection's objects in the store: every read and every write of them goes
 * through here (the API, the stages, the executors and the reconciler call it; nothing else
 * touches their keys). Readers get typed, checked values; writers validate what they write and
 * serialize it one way (sorted keys, two-space indent), and write the objects that must exist
 * once with the store's conditional writes.
 *
 *   <prefix>/<id>/build/Dockerfile      created first at submit where there is none: claims a minted id
 *   <prefix>/<id>/build/context.json    the build context; the files every inspection shares are
 *                                       named by digest: <prefix>-blobs/sha256/<hex>, created once
 *   <prefix>/<id>/build/specification   created last at submit: its existence is the inspection's
 *   <prefix>/<id>/build/log             streamed while the build runs
 *   <prefix>/<id>/build/claim           which delivery of the build message builds (created once)
 *   <prefix>/<id>/build/status          the build's outcome (created once; triggers schedule)
 *   <prefix>/<id>/results/<n>/{hwinfo,log,result}   result last (created once; triggers index)
 *   <prefix>/<id>/summary               swapped in over the version it was computed after
 *   <prefix>/<id>/completion            claimed before the completion message is sent
 *   <prefix>-index/<inverted time>_<id> the listing, newest first
 */
import type { BuildStatus, InspectionSummary, MetricsAnswer, RunReport } from './generated/types.js';
import { decodeStoredContext, encodeStoredContext, isBlobReference, matchesBlob, type BlobReference } from './context.js';
import { CorruptDataError, NotFoundError } from './errors.js';
import { stableJson } from './json.js';
import { fromOriginalReport } from './results.js';
import { computeSummary, type SummaryInputs } from './summary.js';
import { BUILD_CONTEXT_TAGS, isInspectionId, type Layout } from './layout.js';
import type { ContextFile, FileBody, LogSink, ObjectStore } from './ports.js';
import { parseTimestamp, storedSpecification, type Specification } from './specification.js';
import { assertStored, validators } from './validation.js';

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const BLOB_TYPE = 'application/octet-stream';
/** Blobs kept in memory once read (content-addressed, so never stale): a version's few shared files. */
const MAX_CACHED_BLOBS = 32;

/** The summary as stored, with the ETag a swap must name. */
/** GET /inspect/{id}/metrics without its parameters: what is stored once an inspection finished. */
export type InspectionMetrics = Omit<MetricsAnswer, 'parameters'>;

/** Result reads in flight at once while reading an inspection's outcomes. */
const OUTCOME_READS = 16;

export interface StoredSummary {
  summary: InspectionSummary;
  text: string;
  etag: string;
}

/** The completion marker: claimed (`sending`) before the message goes out, final after. */
export type CompletionMarker = { sending: true; delivery: string; claimed_at: string; etag: string } | { sending: false; etag: string };

export interface RecordsDeps {
  store: ObjectStore;
  layout: Layout;
  /** A log sink that streams into the given key while a step runs. */
  logSink: (key: string) => LogSink;
}

export class InspectionRecords {
  /** Blobs this process stored or is storing: created once and never deleted, so written at most once per process. */
  private readonly storedBlobs = new Map<string, Promise<void>>();
  /** Blob bytes by sha256, read or being read. */
  private readonly blobs = new Map<string, Promise<Buffer>>();

  constructor(private readonly deps: RecordsDeps) {}

  get layout(): Layout {
    return this.deps.layout;
  }

  private async json(key: string, what: string): Promise<unknown> {
    const raw = await this.deps.store.get(key);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      throw new CorruptDataError(`${what} is not JSON`);
    }
  }

  // ------------------------------------------------------------------ the inspection as submitted

  /** Whether the inspection exists (its specification is stored). Ids that cannot be one are not. */
  async exists(id: string): Promise<boolean> {
    return isInspectionId(id) && this.deps.store.exists(this.layout.specification(id));
  }

  /** The stored specification with the defaults the pipeline relies on; NotFoundError when there is none. */
  async specification(id: string): Promise<Specification> {
    if (!isInspectionId(id)) throw new NotFoundError(`no inspection ${id}`);
    const value = await this.json(this.layout.specification(id), `specification of ${id}`);
    if (value === undefined) throw new NotFoundError(`no inspection ${id}`);
    return storedSpecification(value);
  }

  async dockerfile(id: string): Promise<string> {
    const raw = await this.deps.store.get(this.layout.dockerfile(id));
    if (!raw) throw new CorruptDataError(`no Dockerfile stored for ${id}`);
    return raw.toString('utf8');
  }

  /**
   * The build context as stored at submit time, every file with its bytes (the shared ones read
   * from their blobs): the single source for every executor and for the stack digest.
   */
  async context(id: string): Promise<ContextFile[]> {
    const raw = await this.deps.store.get(this.layout.context(id));
    if (!raw) throw new CorruptDataError(`no build context stored for ${id}`);
    const what = `build context of ${id}`;
    const files = decodeStoredContext(raw, what);
    return Promise.all(files.map(async (file) => (isBlobReference(file) ? { path: file.path, mode: file.mode, content: await this.blob(file, what) } : file)));
  }

  /** A blob's bytes, checked against the digest that names them. */
  private blob(reference: BlobReference, what: string): Promise<Buffer> {
    const cached = this.blobs.get(reference.sha256);
    if (cached) return cached;
    const read = (async () => {
      const bytes = await this.deps.store.get(this.layout.blob(reference.sha256));
      if (!bytes) throw new CorruptDataError(`${what} names the blob ${reference.sha256} (${reference.path}), which is not stored`);
      if (!matchesBlob(reference, bytes)) throw new CorruptDataError(`the blob ${reference.sha256} (${reference.path}) of ${what} does not match its digest`);
      return bytes;
    })();
    if (this.blobs.size >= MAX_CACHED_BLOBS) this.blobs.clear();
    this.blobs.set(reference.sha256, read);
    // A failed read is not kept: the next reader tries again.
    read.catch(() => this.blobs.delete(reference.sha256));
    return read;
  }

  /** The build context as the tarball a cluster builder reads (kubernetes executor); returns its key. */
  async writeContextTarball(id: string, tarball: Buffer): Promise<string> {
    const key = this.layout.contextTarball(id);
    await this.deps.store.put(key, tarball, 'application/gzip', BUILD_CONTEXT_TAGS);
    return key;
  }

  /**
   * Stores a new inspection: the blobs its context names (those this process has not stored yet),
   * context, Dockerfile and listing entry, then the specification after all of them (it is what
   * makes the inspection exist), created only where there is none.
   *
   * `claim` (an id minted at random, which may collide with any inspection stored, ours or the
   * original's): the Dockerfile goes first and is created only where there is none, so a taken id
   * is found without a read and nothing of the other inspection is written over. Without it (an
   * id derived from a seed, whose earlier attempt may have stopped half way), the objects are
   * written over with the same bytes.
   * Four store calls, three of them at once; false when the id was taken.
   */
  async create(id: string, inspection: { specification: Specification; dockerfile: string; context: ReadonlyArray<ContextFile>; createdAt: Date }, options: { claim: boolean }): Promise<boolean> {
    const { store } = this.deps;
    const { layout } = this;
    const context = encodeStoredContext(inspection.context);
    const blobs = this.storeBlobs(context.blobs);
    const rest = (): Array<Promise<unknown>> => [
      store.put(layout.context(id), context.text, JSON_TYPE, BUILD_CONTEXT_TAGS),
      store.put(layout.indexEntry(id, inspection.createdAt.getTime()), '', 'text/plain'),
    ];
    if (options.claim) {
      const [, claimed] = await Promise.all([blobs, store.putIf(layout.dockerfile(id), inspection.dockerfile, { absent: true }, TEXT_TYPE)]);
      if (!claimed) return false;
      await Promise.all(rest());
    } else {
      await Promise.all([blobs, store.put(layout.dockerfile(id), inspection.dockerfile, TEXT_TYPE), ...rest()]);
    }
    return store.putIf(layout.specification(id), stableJson(inspection.specification), { absent: true }, JSON_TYPE);
  }

  /** Creates the blobs this process has not stored yet (an existing one is left as it is: same name, same bytes). */
  private async storeBlobs(blobs: ReadonlyArray<{ sha256: string; content: Buffer }>): Promise<void> {
    await Promise.all(
      blobs.map((blob) => {
        let stored = this.storedBlobs.get(blob.sha256);
        if (!stored) {
          stored = this.deps.store.putIf(this.layout.blob(blob.sha256), blob.content, { absent: true }, BLOB_TYPE).then(() => undefined);
          this.storedBlobs.set(blob.sha256, stored);
          // A failed write is not remembered: the next submit writes it again.
          stored.catch(() => this.storedBlobs.delete(blob.sha256));
        }
        return stored;
      }),
    );
  }

  /** A page of inspection ids, newest first: page N costs N small list calls, or one with the returned token. */
  async list({ page, limit, token }: { page: number; limit: number; token?: string | undefined }): Promise<{ ids: string[]; nextToken: string | undefined }> {
    const { store } = this.deps;
    let cursor = token;
    let skip = token ? 0 : page - 1;
    for (;;) {
      const result = await store.list(`${this.layout.indexPrefix}/`, { delimiter: '/', maxKeys: limit, ...(cursor ? { token: cursor } : {}) });
      if (skip === 0) return { ids: result.keys.map((k) => this.layout.idFromIndexEntry(k)).filter((id): id is string => !!id), nextToken: result.nextToken };
      if (!result.nextToken) return { ids: [], nextToken: undefined };
      cursor = result.nextToken;
      skip--;
    }
  }

  /** Every listed inspection id, newest first, page by page of the listing (1,000 ids a store call). */
  async *listedIds(): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.deps.store.list(`${this.layout.indexPrefix}/`, { delimiter: '/', ...(token ? { token } : {}) });
      for (const key of page.keys) {
        const id = this.layout.idFromIndexEntry(key);
        if (id) yield id;
      }
      token = page.nextToken;
    } while (token);
  }

  /**
   * Writes the listing entry of every inspection the store holds that has none (inspections the
   * original service wrote, or a listing lost): found by the store's layout (`<prefix>/<id>/` with
   * a specification), dated by the specification's `@created`; and the summary of each that has
   * none, from what it stored. Idempotent.
   */
  async reindex(): Promise<{ inspections: number; added: number; summaries: number }> {
    const { store } = this.deps;
    const listed = new Set<string>();
    let token: string | undefined;
    do {
      const page = await store.list(`${this.layout.indexPrefix}/`, token ? { token } : {});
      for (const key of page.keys) {
        const id = this.layout.idFromIndexEntry(key);
        if (id) listed.add(id);
      }
      token = page.nextToken;
    } while (token);
    let inspections = 0;
    let added = 0;
    let summaries = 0;
    token = undefined;
    do {
      const page = await store.list(`${this.layout.prefix}/`, { delimiter: '/', ...(token ? { token } : {}) });
      for (const prefix of page.prefixes) {
        const id = prefix.slice(this.layout.prefix.length + 1, -1);
        if (!isInspectionId(id)) continue;
        const value = await this.json(this.layout.specification(id), `specification of ${id}`).catch(() => undefined);
        if (value === undefined) continue;
        inspections++;
        // An inspection without a summary (the original wrote none) gets one from what it stored.
        if (!(await store.exists(this.layout.summary(id)))) {
          // Create-once: a summary the pipeline wrote meanwhile wins. One that cannot be computed
          // (a specification we cannot read) leaves the inspection listed without one.
          const summary = await this.outcomes(id).then(computeSummary, () => undefined);
          if (summary) {
            await this.swapSummary(id, summary, undefined);
            summaries++;
          }
        }
        if (listed.has(id)) continue;
        const created = (value as { '@created'?: unknown })['@created'];
        const at = parseTimestamp(created);
        await store.put(this.layout.indexEntry(id, Number.isNaN(at) ? 0 : at), '', 'text/plain');
        added++;
      }
      token = page.nextToken;
    } while (token);
    return { inspections, added, summaries };
  }

  /** Whether the listing has no entry at all while the store holds inspections (it was never built). */
  async indexMissing(): Promise<boolean> {
    const { store } = this.deps;
    if ((await store.list(`${this.layout.indexPrefix}/`, { maxKeys: 1 })).keys.length > 0) return false;
    return (await store.list(`${this.layout.prefix}/`, { delimiter: '/', maxKeys: 1 })).prefixes.length > 0;
  }

  // ------------------------------------------------------------------ the build

  /** The build log as it is now; undefined before the build started. */
  async buildLog(id: string): Promise<string | undefined> {
    return (await this.deps.store.get(this.layout.buildLog(id)))?.toString('utf8');
  }

  async hasBuildLog(id: string): Promise<boolean> {
    return this.deps.store.exists(this.layout.buildLog(id));
  }

  /** A sink that streams into the build log while the build runs. */
  buildLogSink(id: string): LogSink {
    return this.deps.logSink(this.layout.buildLog(id));
  }

  /**
   * Ends the build log with a line (the reconciler's note): after `text` when given (the build
   * pod's own log, which is more than what was uploaded), else after what is stored.
   */
  async endBuildLog(id: string, line: string, text?: string): Promise<void> {
    const log = text || ((await this.buildLog(id)) ?? '');
    await this.deps.store.put(this.layout.buildLog(id), `${log}${log && !log.endsWith('\n') ? '\n' : ''}${line}\n`, TEXT_TYPE);
  }

  async buildStatus(id: string): Promise<BuildStatus | undefined> {
    const value = await this.json(this.layout.buildStatus(id), `build status of ${id}`);
    return value === undefined ? undefined : assertStored<BuildStatus>('buildStatus', value, `build status of ${id}`);
  }

  async hasBuildStatus(id: string): Promise<boolean> {
    return this.deps.store.exists(this.layout.buildStatus(id));
  }

  /** The build's outcome, created once (the first writer wins); false when one was there already. */
  async writeBuildStatus(id: string, status: BuildStatus): Promise<boolean> {
    assertStored('buildStatus', status, `build status of ${id}`);
    return this.deps.store.putIf(this.layout.buildStatus(id), stableJson(status), { absent: true }, JSON_TYPE);
  }

  /**
   * True when this delivery may build: it created the claim, or the claim is its own (a
   * redelivery after it died mid-build).
   */
  async claimBuild(id: string, delivery: string, at: Date): Promise<boolean> {
    const key = this.layout.buildClaim(id);
    if (await this.deps.store.putIf(key, stableJson({ delivery, claimed_at: at.toISOString() }), { absent: true }, JSON_TYPE)) return true;
    const holder = await this.json(key, `build claim of ${id}`).catch(() => undefined);
    return (holder as { delivery?: unknown } | undefined)?.delivery === delivery;
  }

  // ------------------------------------------------------------------ items

  async hasResult(id: string, item: number): Promise<boolean> {
    return this.deps.store.exists(this.layout.result(id, item));
  }

  /** An item's report as stored (whatever a run pod uploaded: not checked); undefined before it exists. */
  async result(id: string, item: number): Promise<unknown> {
    return this.json(this.layout.result(id, item), `result ${item} of ${id}`);
  }

  /**
   * An item's report when it matches the schema (a report the original service wrote is read as
   * ours: see fromOriginalReport), `invalid` when not, undefined before it exists.
   */
  async report(id: string, item: number): Promise<RunReport | 'invalid' | undefined> {
    let value: unknown;
    try {
      value = await this.result(id, item);
    } catch {
      return 'invalid';
    }
    if (value === undefined) return undefined;
    if (validators.result(value)) return value as RunReport;
    const original = fromOriginalReport(value);
    return original && validators.result(original) ? original : 'invalid';
  }

  async itemLog(id: string, item: number): Promise<string | undefined> {
    return (await this.deps.store.get(this.layout.resultLog(id, item)))?.toString('utf8');
  }

  /** The items that have a `results/<n>/` prefix, in every list page. */
  async resultItems(id: string): Promise<number[]> {
    const prefix = this.layout.resultsPrefix(id);
    const items: number[] = [];
    let token: string | undefined;
    do {
      const page = await this.deps.store.list(prefix, { delimiter: '/', ...(token ? { token } : {}) });
      for (const p of page.prefixes) {
        const item = Number(p.slice(prefix.length, -1));
        if (Number.isInteger(item) && item >= 0) items.push(item);
      }
      token = page.nextToken;
    } while (token);
    return items.sort((a, b) => a - b);
  }

  /** The items whose report exists: one listing of `results/` (every page), no request per item. */
  async itemsWithResult(id: string): Promise<Set<number>> {
    const prefix = this.layout.resultsPrefix(id);
    const items = new Set<number>();
    let token: string | undefined;
    do {
      const page = await this.deps.store.list(prefix, token ? { token } : {});
      for (const key of page.keys) {
        const m = /^([0-9]+)\/result$/.exec(key.slice(prefix.length));
        if (m) items.add(Number(m[1]));
      }
      token = page.nextToken;
    } while (token);
    return items;
  }

  /**
   * Everything the summary is computed from: the specification, the build status and every
   * item's report (valid, or `invalid`).
   */
  async outcomes(id: string): Promise<SummaryInputs> {
    const [spec, build, items] = await Promise.all([this.specification(id), this.buildStatus(id), this.resultItems(id)]);
    // Read OUTCOME_READS at a time: a batch of 1,000 is 1,000 GETs, one after the other took seconds.
    const sorted = [...items].sort((a, b) => a - b);
    const reports: Array<RunReport | 'invalid' | undefined> = new Array<RunReport | 'invalid' | undefined>(sorted.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < sorted.length) {
        const at = next++;
        reports[at] = await this.report(id, sorted[at]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OUTCOME_READS, sorted.length) }, worker));
    const results = new Map<number, RunReport | 'invalid'>();
    sorted.forEach((item, at) => {
      const report = reports[at];
      if (report !== undefined) results.set(item, report);
    });
    return { inspectionId: id, spec, build, results };
  }

  /** Whether any item has stored anything yet. */
  async hasAnyItem(id: string): Promise<boolean> {
    return (await this.deps.store.list(this.layout.resultsPrefix(id), { delimiter: '/', maxKeys: 1 })).prefixes.length > 0;
  }

  /**
   * An item's outcome: hwinfo and log first, the report last (its creation triggers indexing),
   * created once. The report must match the schema. False when the item had a report already.
   */
  async writeItem(id: string, item: number, files: { report: RunReport; log?: Buffer | FileBody | string; hwinfo?: Buffer }): Promise<boolean> {
    assertStored('result', files.report, `result ${item} of ${id}`);
    const { store } = this.deps;
    // hwinfo and the log side by side; the result, which triggers indexing, only once both are stored.
    await Promise.all([
      files.hwinfo ? store.put(this.layout.resultHwinfo(id, item), files.hwinfo, JSON_TYPE) : undefined,
      files.log !== undefined ? store.put(this.layout.resultLog(id, item), files.log, TEXT_TYPE) : undefined,
    ]);
    return store.putIf(this.layout.result(id, item), `${stableJson(files.report)}\n`, { absent: true }, JSON_TYPE);
  }

  /** An item's log, when the item has none (the reconciler's account of a pod that died). */
  async writeItemLogIfMissing(id: string, item: number, text: string): Promise<void> {
    await this.deps.store.putIf(this.layout.resultLog(id, item), text, { absent: true }, TEXT_TYPE);
  }

  // ------------------------------------------------------------------ summary and completion

  /** The metrics written when the inspection finished; undefined before (or for one the original wrote). */
  async metrics(id: string): Promise<InspectionMetrics | undefined> {
    const raw = await this.deps.store.get(this.layout.metrics(id));
    if (!raw) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new CorruptDataError(`metrics of ${id} are not JSON`);
    }
    if (!validators.metricsAnswer({ ...(value as object), parameters: {} })) throw new CorruptDataError(`metrics of ${id} do not match the schema`);
    return value as InspectionMetrics;
  }

  /** A finished inspection's metrics: final, since every result is created once. Same inputs, same bytes. */
  async writeMetrics(id: string, metrics: InspectionMetrics): Promise<void> {
    if (!validators.metricsAnswer({ ...metrics, parameters: {} })) throw new CorruptDataError(`metrics of ${id} do not match the schema`);
    await this.deps.store.put(this.layout.metrics(id), stableJson(metrics), JSON_TYPE);
  }

  async summary(id: string): Promise<StoredSummary | undefined> {
    const stored = await this.deps.store.read(this.layout.summary(id));
    if (!stored) return undefined;
    const text = stored.body.toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CorruptDataError(`summary of ${id} is not JSON`);
    }
    return { summary: assertStored<InspectionSummary>('summary', value, `summary of ${id}`), text, etag: stored.etag };
  }

  /**
   * Writes the summary unless it is unchanged, only over the version `over` names (none: only if
   * there is none yet). False when another writer came first: the caller computes again.
   */
  async swapSummary(id: string, summary: InspectionSummary, over: StoredSummary | undefined): Promise<boolean> {
    assertStored('summary', summary, `summary of ${id}`);
    const text = stableJson(summary);
    if (over?.text === text) return true;
    return this.deps.store.putIf(this.layout.summary(id), text, over ? { etag: over.etag } : { absent: true }, JSON_TYPE);
  }

  async completion(id: string): Promise<CompletionMarker | undefined> {
    const stored = await this.deps.store.read(this.layout.completion(id));
    if (!stored) return undefined;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(stored.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return { sending: false, etag: stored.etag };
    }
    if (value.sending === true) return { sending: true, delivery: String(value.delivery), claimed_at: String(value.claimed_at), etag: stored.etag };
    return { sending: false, etag: stored.etag };
  }

  /** Claims the completion message for `delivery` (over the marker read, or when there is none); false when another came first. */
  async claimCompletion(id: string, delivery: string, at: Date, over: CompletionMarker | undefined): Promise<boolean> {
    const body = stableJson({ delivery, claimed_at: at.toISOString(), sending: true });
    return this.deps.store.putIf(this.layout.completion(id), body, over ? { etag: over.etag } : { absent: true }, JSON_TYPE);
  }

  /** The final marker, once the message went out (or was not to be sent). */
  async completeCompletion(id: string, message: Record<string, unknown>, sent: boolean): Promise<void> {
    await this.deps.store.put(this.layout.completion(id), stableJson({ ...message, sent }), JSON_TYPE);
  }
}
