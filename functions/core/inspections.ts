/**
 * Submitting inspections and reading them back: what the API and the spec-drop ingest call.
 * Store and queue arrive as ports; nothing here knows about HTTP, Lambda or S3 events.
 */
import type { BuildStatus, BuildStatusView, InspectionSpecification, InspectionSummary, RunReport } from './generated/types.js';
import { harnessFiles } from './generated/harness.js';
import { encodeContext } from './context.js';
import { generateBuild } from './dockerfile.js';
import { NotFoundError, SpecificationError } from './errors.js';
import { stableJson } from './json.js';
import { BUILD_CONTEXT_TAGS, INSPECTION_ID_PATTERN, type Layout } from './layout.js';
import type { Clock, ClusterView, LiveStatusSource, MessageQueue, ObjectStore } from './ports.js';
import { mintInspectionId, normalizeSpecification } from './specification.js';
import { computeSummary } from './summary.js';
import { assertStored } from './validation.js';

export interface InspectionDeps {
  store: ObjectStore;
  workQueue: MessageQueue;
  layout: Layout;
  clock: Clock;
  version: string;
  /** Resolves a script given as a URL into its text (policy lives in the adapter). */
  fetchScript?: (url: string) => Promise<string>;
  isScriptUrl?: (script: string) => boolean;
  /** The cluster's live view, joined into status while the cluster has the inspection's objects. */
  liveStatus?: LiveStatusSource | undefined;
  /** How long status waits for the live view before answering from the store alone. */
  liveStatusTimeoutMs?: number;
}

export interface SubmitOptions {
  /** Makes the id deterministic: a redelivered drop event mints the same inspection. */
  idSeed?: string;
  /** Creation time to record (the drop event's time, so a redelivery writes the same bytes). */
  createdAt?: Date;
}

export interface Submitted {
  inspectionId: string;
  specification: InspectionSpecification;
  /** False when the seeded inspection already existed and nothing was written. */
  created: boolean;
}

export interface ListOptions {
  page: number;
  limit: number;
  token?: string | undefined;
}

export class InspectionService {
  constructor(private readonly deps: InspectionDeps) {}

  /** Validates, resolves the script, and renders the Dockerfile without storing anything. */
  async prepare(input: unknown, createdAt: Date): Promise<{ specification: InspectionSpecification; dockerfile: string; context: ReturnType<typeof generateBuild>['context'] }> {
    const specification = normalizeSpecification(input, { now: createdAt, version: this.deps.version });
    if (specification.script !== undefined && (this.deps.isScriptUrl?.(specification.script) ?? false)) {
      if (!this.deps.fetchScript) throw new SpecificationError('invalid specification', [{ path: '/script', message: 'script URLs are not enabled' }]);
      const url = specification.script.trim();
      specification.script = await this.deps.fetchScript(url);
      specification['@script_url'] = url;
    }
    const { dockerfile, context } = generateBuild(specification, harnessFiles);
    return { specification, dockerfile, context };
  }

  async dockerfile(input: unknown): Promise<{ dockerfile: string; specification: InspectionSpecification }> {
    const { dockerfile, specification } = await this.prepare(input, this.deps.clock.now());
    return { dockerfile, specification };
  }

  /**
   * Everything is validated and rendered before the first write; the specification is written last
   * of the objects (it is what makes an inspection exist), then the build is queued.
   */
  async submit(input: unknown, options: SubmitOptions = {}): Promise<Submitted> {
    const { store, layout, workQueue } = this.deps;
    const createdAt = options.createdAt ?? this.deps.clock.now();
    const { specification, dockerfile, context } = await this.prepare(input, createdAt);
    let inspectionId = mintInspectionId(specification.identifier, options.idSeed);
    if (options.idSeed !== undefined) {
      if (await store.exists(layout.specification(inspectionId))) {
        return { inspectionId, specification, created: false };
      }
    } else {
      for (let attempt = 0; await store.exists(layout.specification(inspectionId)); attempt++) {
        if (attempt > 5) throw new Error('could not mint a unique inspection id');
        inspectionId = mintInspectionId(specification.identifier);
      }
    }
    // Everything else may land in any order; the specification only after all of it.
    await Promise.all([
      store.put(layout.context(inspectionId), encodeContext(context), 'application/json', BUILD_CONTEXT_TAGS),
      store.put(layout.dockerfile(inspectionId), dockerfile, 'text/plain; charset=utf-8'),
      store.put(layout.indexEntry(inspectionId, createdAt.getTime()), '', 'text/plain'),
    ]);
    await store.put(layout.specification(inspectionId), stableJson(specification), 'application/json');
    await workQueue.send({ type: 'build', inspection_id: inspectionId }, { deduplicationId: `build-${inspectionId}` });
    return { inspectionId, specification, created: true };
  }

  /**
   * Newest first. Pages come from a delimiter listing of the time index with continuation tokens:
   * page N costs N small list calls (or one, when the caller passes the returned token).
   */
  async list({ page, limit, token }: ListOptions): Promise<{ inspections: string[]; nextToken: string | undefined }> {
    const { store, layout } = this.deps;
    let cursor = token;
    let skip = token ? 0 : page - 1;
    for (;;) {
      const result = await store.list(`${layout.indexPrefix}/`, { delimiter: '/', maxKeys: limit, ...(cursor ? { token: cursor } : {}) });
      if (skip === 0) {
        const inspections = result.keys.map((k) => layout.idFromIndexEntry(k)).filter((id): id is string => !!id);
        return { inspections, nextToken: result.nextToken };
      }
      if (!result.nextToken) return { inspections: [], nextToken: undefined };
      cursor = result.nextToken;
      skip--;
    }
  }

  private checkId(id: string): void {
    if (!INSPECTION_ID_PATTERN.test(id) || id.length > 63) throw new NotFoundError(`no inspection ${id}`);
  }

  async specification(id: string): Promise<InspectionSpecification> {
    this.checkId(id);
    const raw = await this.deps.store.get(this.deps.layout.specification(id));
    if (!raw) throw new NotFoundError(`no inspection ${id}`);
    return JSON.parse(raw.toString('utf8')) as InspectionSpecification;
  }

  async buildLog(id: string): Promise<string> {
    await this.specification(id);
    const raw = await this.deps.store.get(this.deps.layout.buildLog(id));
    if (!raw) throw new NotFoundError(`no build log for ${id} yet`);
    return raw.toString('utf8');
  }

  async batchSize(id: string): Promise<number> {
    return (await this.specification(id)).batch_size ?? 1;
  }

  private async item(id: string, item: number): Promise<void> {
    const batchSize = await this.batchSize(id);
    if (!Number.isInteger(item) || item < 0 || item >= batchSize) throw new NotFoundError(`item ${item} is outside 0..${batchSize - 1}`);
  }

  async result(id: string, item: number): Promise<RunReport> {
    await this.item(id, item);
    const raw = await this.deps.store.get(this.deps.layout.result(id, item));
    if (!raw) throw new NotFoundError(`no result for item ${item} of ${id} yet`);
    return JSON.parse(raw.toString('utf8')) as RunReport;
  }

  async itemLog(id: string, item: number): Promise<string> {
    await this.item(id, item);
    const raw = await this.deps.store.get(this.deps.layout.resultLog(id, item));
    if (!raw) throw new NotFoundError(`no log for item ${item} of ${id} yet`);
    return raw.toString('utf8');
  }

  async buildStatus(id: string): Promise<BuildStatus | undefined> {
    const raw = await this.deps.store.get(this.deps.layout.buildStatus(id));
    return raw ? assertStored<BuildStatus>('buildStatus', JSON.parse(raw.toString('utf8')), `build status of ${id}`) : undefined;
  }

  /** Status from the store alone, so it survives the executor's objects being gone. */
  async status(id: string): Promise<{ build: BuildStatusView; workflow: InspectionSummary | null; data_stored: boolean }> {
    this.checkId(id);
    const { store, layout } = this.deps;
    const [specRaw, build, summaryRaw, cluster] = await Promise.all([store.get(layout.specification(id)), this.buildStatus(id), store.get(layout.summary(id)), this.liveView(id)]);
    if (!specRaw) throw new NotFoundError(`no inspection ${id}`);
    const spec = JSON.parse(specRaw.toString('utf8')) as InspectionSpecification;
    const summary = summaryRaw ? (JSON.parse(summaryRaw.toString('utf8')) as InspectionSummary) : undefined;
    // Only what the three reads above cannot tell costs another call.
    const logExists = build ? true : await store.exists(layout.buildLog(id));
    const dataStored = summary ? summary.items_done > 0 : (await store.list(layout.resultsPrefix(id), { delimiter: '/', maxKeys: 1 })).prefixes.length > 0;
    let view: BuildStatusView;
    if (build) {
      view = { container: build.image, exit_code: build.exit_code, finished_at: build.finished_at, reason: build.reason, started_at: build.started_at, state: 'terminated' };
    } else if (logExists) {
      view = { container: null, exit_code: null, finished_at: null, reason: null, started_at: null, state: 'running' };
    } else {
      view = { container: null, exit_code: null, finished_at: null, reason: null, started_at: null, state: 'pending' };
    }
    const stored = summary ?? computeSummary({ inspectionId: id, spec, build, results: new Map() });
    const workflow = cluster ? { ...stored, cluster } : stored;
    if (!build && cluster?.jobs.some((j) => j.component === 'build' && j.active > 0)) view = { ...view, state: 'running' };
    return { build: view, workflow, data_stored: dataStored };
  }

  /** The cluster's view, or undefined when there is none, it fails, or it is slow: the store answers alone then. */
  private async liveView(id: string): Promise<ClusterView | undefined> {
    const source = this.deps.liveStatus;
    if (!source) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.deps.liveStatusTimeoutMs ?? 3000);
    });
    try {
      return await Promise.race([source.observe(id).catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
