/**
 * Submitting inspections and reading them back: what the API and the spec-drop ingest call.
 * Store and queue arrive as ports; nothing here knows about HTTP, Lambda or S3 events.
 */
import { createHash } from 'node:crypto';
import type { BuildStatusView, InspectionSummary } from './generated/types.js';
import { harnessFiles } from './generated/harness.js';
import { generateBuild } from './dockerfile.js';
import { NotFoundError, SpecificationError } from './errors.js';
import type { Clock, ClusterView, LiveStatusSource, MessageQueue } from './ports.js';
import type { InspectionRecords } from './records.js';
import { mintInspectionId, normalizeSpecification, type Specification } from './specification.js';
import { computeSummary, workflowView } from './summary.js';

/** Ids minted again, at most, when the one minted was taken (8 random hex digits: a rare collision, never six in a row). */
const MINT_ATTEMPTS = 5;

export interface InspectionDeps {
  records: InspectionRecords;
  workQueue: MessageQueue;
  clock: Clock;
  version: string;
  /** Resolves a script given as a URL into its text (policy lives in the adapter). */
  fetchScript?: (url: string) => Promise<string>;
  isScriptUrl?: (script: string) => boolean;
  /** Refuses (SpecificationError, 400) what the configured executor can never run: checked at submit. */
  admit?: (specification: Specification) => void;
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
  specification: Specification;
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
  async prepare(input: unknown, createdAt: Date): Promise<{ specification: Specification; dockerfile: string; context: ReturnType<typeof generateBuild>['context'] }> {
    const specification = normalizeSpecification(input, { now: createdAt, version: this.deps.version });
    this.deps.admit?.(specification);
    // A script URL stays in `script`; what was fetched is recorded beside it, and its text goes to
    // the build context (amun/script), where the build and the runs read it.
    let scriptText: string | undefined;
    if (specification.script !== undefined && (this.deps.isScriptUrl?.(specification.script) ?? false)) {
      if (!this.deps.fetchScript) throw new SpecificationError('invalid specification', [{ path: '/script', message: 'script URLs are not enabled' }]);
      const url = specification.script.trim();
      scriptText = await this.deps.fetchScript(url);
      specification['@script_fetched'] = { url, sha256: createHash('sha256').update(scriptText, 'utf8').digest('hex'), bytes: Buffer.byteLength(scriptText, 'utf8') };
    }
    const { dockerfile, context } = generateBuild(specification, harnessFiles, scriptText === undefined ? {} : { scriptText });
    return { specification, dockerfile, context };
  }

  /** The Dockerfile and build context a specification renders to, nothing stored. */
  async dockerfile(input: unknown): Promise<{ dockerfile: string; specification: Specification; context: ReturnType<typeof generateBuild>['context'] }> {
    return this.prepare(input, this.deps.clock.now());
  }

  /**
   * Everything is validated and rendered before the first write; then stored, then the build is
   * queued. A minted id is claimed by the store's conditional create (no read first); one that
   * was taken is minted again. A seeded id that exists already was submitted before: nothing is
   * written, nothing queued.
   */
  async submit(input: unknown, options: SubmitOptions = {}): Promise<Submitted> {
    const { records, workQueue } = this.deps;
    const createdAt = options.createdAt ?? this.deps.clock.now();
    const { specification, dockerfile, context } = await this.prepare(input, createdAt);
    const inspection = { specification, dockerfile, context, createdAt };
    let inspectionId = mintInspectionId(specification.identifier, options.idSeed);
    if (options.idSeed !== undefined) {
      if (await records.exists(inspectionId)) return { inspectionId, specification, created: false };
      // A concurrent delivery of the same seed may have created it meanwhile: it queues the build.
      if (!(await records.create(inspectionId, inspection, { claim: false }))) return { inspectionId, specification, created: false };
    } else {
      for (let attempt = 0; !(await records.create(inspectionId, inspection, { claim: true })); attempt++) {
        if (attempt >= MINT_ATTEMPTS) throw new Error('could not mint a unique inspection id');
        inspectionId = mintInspectionId(specification.identifier);
      }
    }
    await workQueue.send({ type: 'build', inspection_id: inspectionId }, { deduplicationId: `build-${inspectionId}` });
    return { inspectionId, specification, created: true };
  }

  /** Newest first (see InspectionRecords.list). */
  async list(options: ListOptions): Promise<{ inspections: string[]; nextToken: string | undefined }> {
    const { ids, nextToken } = await this.deps.records.list(options);
    return { inspections: ids, nextToken };
  }

  async specification(id: string): Promise<Specification> {
    return this.deps.records.specification(id);
  }

  async buildLog(id: string): Promise<string> {
    await this.specification(id);
    const log = await this.deps.records.buildLog(id);
    if (log === undefined) throw new NotFoundError(`no build log for ${id} yet`);
    return log;
  }

  async batchSize(id: string): Promise<number> {
    return (await this.specification(id)).batch_size;
  }

  /**
   * What the original's `job/batch-size` answers: how many results are stored so far (its
   * `get_results_count()`); clients poll it until it reaches the batch size, then read them all.
   * Counted as the items whose result exists, so that every one of them can be read when it does.
   */
  async resultsCount(id: string): Promise<number> {
    const batchSize = await this.batchSize(id);
    return [...(await this.deps.records.itemsWithResult(id))].filter((item) => item < batchSize).length;
  }

  private async item(id: string, item: number): Promise<void> {
    const batchSize = await this.batchSize(id);
    if (!Number.isInteger(item) || item < 0 || item >= batchSize) throw new NotFoundError(`item ${item} is outside 0..${batchSize - 1}`);
  }

  async result(id: string, item: number): Promise<unknown> {
    await this.item(id, item);
    const result = await this.deps.records.result(id, item);
    if (result === undefined) throw new NotFoundError(`no result for item ${item} of ${id} yet`);
    return result;
  }

  async itemLog(id: string, item: number): Promise<string> {
    await this.item(id, item);
    const log = await this.deps.records.itemLog(id, item);
    if (log === undefined) throw new NotFoundError(`no log for item ${item} of ${id} yet`);
    return log;
  }

  /**
   * Status from the store alone, so it survives the executor's objects being gone; the cluster's
   * live view is joined in while it has them. In the original's terms: `data_stored` says the
   * inspection exists in the store (true from submit on), `build` is a pod status report
   * (scheduling, waiting, running, terminated), and `workflow` carries the Argo fields clients of
   * the original read (phase, startedAt, finishedAt, progress) beside our summary.
   */
  async status(id: string): Promise<{ build: BuildStatusView; workflow: InspectionSummary; data_stored: true }> {
    const { records } = this.deps;
    const [build, stored, cluster] = await Promise.all([records.buildStatus(id), records.summary(id), this.liveView(id)]);
    // No summary yet: before the first result (one empty listing), or an inspection the original wrote.
    const summary = stored?.summary ?? computeSummary(await records.outcomes(id));
    const none = { container: null, exit_code: null, finished_at: null, reason: null, started_at: null };
    const ended = (b: NonNullable<typeof build>): BuildStatusView => ({ container: b.image, exit_code: b.exit_code, finished_at: b.finished_at, reason: b.reason, started_at: b.started_at, state: 'terminated' });
    let view: BuildStatusView;
    if (build) {
      view = ended(build);
    } else if (summary.build !== null) {
      // The summary knows the build ended. Its status may have been written between the two reads
      // above (read again); otherwise the original stored none, and results show that it built.
      const late = await records.buildStatus(id);
      view = late ? ended(late) : { ...none, state: 'terminated', exit_code: summary.build === 'succeeded' ? 0 : null, reason: summary.build_reason ?? null };
    } else {
      const buildJob = cluster?.jobs.find((j) => j.component === 'build');
      const waiting = buildJob?.pods.some((p) => p.phase === 'Pending');
      // Only what the reads above cannot tell costs another call.
      const started = buildJob ? buildJob.active > 0 : await records.hasBuildLog(id);
      view = { ...none, state: waiting ? 'waiting' : started ? 'running' : 'scheduling' };
    }
    const workflow = { ...summary, ...workflowView(summary), ...(cluster ? { cluster } : {}) };
    return { build: view, workflow, data_stored: true };
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
