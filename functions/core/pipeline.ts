/**
 * The stages after submit, each idempotent: a stage that finds its work done does nothing, and
 * every object it writes is a function of what is stored, so redelivery leaves the same bytes.
 *
 * Deliveries are at least once and may overlap, so what must happen once is decided by the store's
 * conditional writes, never by a check followed by a write:
 * - the build: the first delivery of a build message creates `build/claim` naming itself; a
 *   duplicate that finds another's claim leaves the build to it (the claimant's own redelivery,
 *   after a crash, carries the same delivery id and goes on);
 * - outcomes (`build/status`, `results/<n>/result`): created once, the first writer wins;
 * - the summary: a compare-and-swap on its ETag, so a slower index invocation can never write an
 *   older view over a newer one; a result is folded into the summary read (the items it lists
 *   say which are counted), the last one and every other change recompute it from the store;
 * - the completion message: its marker is created (claimed) before the send, so of racing index
 *   invocations one sends.
 */
import { randomUUID } from 'node:crypto';
import type { BuildStatus, InspectionSummary, RunReport } from './generated/types.js';
import { digestBuild } from './dockerfile.js';
import { CorruptDataError, NotFoundError } from './errors.js';
import { withHardwareMatch } from './hardware.js';
import type { Clock, Executor, MessageQueue, RunOutput } from './ports.js';
import type { InspectionRecords } from './records.js';
import { syntheticResult } from './results.js';
import { reportedScript, type Specification } from './specification.js';
import { addItem, computeSummary } from './summary.js';
import { inspectionMetrics } from './explorer.js';
import { toProblems, validators } from './validation.js';

export interface PipelineDeps {
  records: InspectionRecords;
  clock: Clock;
  executor: Executor;
  /** Local executors: one run message per item goes here. */
  runQueue?: MessageQueue | undefined;
  completionQueue: MessageQueue;
  defaultDeadlineSeconds: number;
}

export type Outcome = 'done' | 'skipped';

/** Who is asking: the queue delivery (its message id stays the same across redeliveries). */
export interface Delivery {
  deliveryId?: string | undefined;
}

/** A claim on the completion message older than this is taken over (its claimant died before sending). */
const COMPLETION_CLAIM_STALE_MS = 5 * 60_000;
/** Compare-and-swap rounds for the summary before giving up (and letting the message be retried). */
const SUMMARY_ATTEMPTS = 20;
/** Specifications (a few KB each) and build statuses kept in memory by a pipeline. */
const CACHE_SIZE = 256;

/** The last `size` values by key, for objects that never change once stored. */
class Recent<T> {
  private readonly values = new Map<string, T>();
  constructor(private readonly size: number) {}

  peek(key: string): T | undefined {
    return this.values.get(key);
  }

  set(key: string, value: T): void {
    this.values.delete(key);
    if (this.values.size >= this.size) this.values.delete(this.values.keys().next().value!);
    this.values.set(key, value);
  }

  async get(key: string, read: () => Promise<T>): Promise<T> {
    const cached = this.values.get(key);
    if (cached !== undefined) return cached;
    const value = await read();
    this.set(key, value);
    return value;
  }
}

/**
 * At most `limit` at once, per key, in arrival order: how many items of one inspection run at a
 * time (`run.parallelism`) under the local executors.
 */
class Lanes {
  private readonly lanes = new Map<string, { running: number; waiting: Array<() => void> }>();

  async acquire(key: string, limit: number): Promise<() => void> {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { running: 0, waiting: [] };
      this.lanes.set(key, lane);
    }
    const current = lane;
    if (current.running >= Math.max(1, limit)) await new Promise<void>((resolve) => current.waiting.push(resolve));
    else current.running++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = current.waiting.shift();
      if (next) next();
      else if (--current.running === 0) this.lanes.delete(key);
    };
    return release;
  }
}

export class Pipeline {
  /** Items running in this process: a duplicate delivery of one waits for it instead of running it again. */
  private readonly running = new Map<string, Promise<Outcome>>();
  /** Items of one inspection running at once, at most its `run.parallelism`. */
  private readonly lanes = new Lanes();
  /** What never changes once stored, by inspection: specifications, successful builds' statuses. */
  private readonly specs = new Recent<Specification>(CACHE_SIZE);
  private readonly builds = new Recent<BuildStatus>(CACHE_SIZE);

  constructor(private readonly deps: PipelineDeps) {}

  /** build: runs the executor's build once; its status object (which triggers schedule) is written last. */
  async build(id: string, signal?: AbortSignal, delivery: Delivery = {}): Promise<Outcome> {
    const { records, executor, clock } = this.deps;
    if (await records.hasBuildStatus(id)) return 'skipped';
    // Before anything is written: a message about an inspection that does not exist writes nothing.
    const spec = await records.specification(id);
    // A duplicate delivery leaves the build to the claimant, whose message ends with a status either way.
    if (!(await records.claimBuild(id, delivery.deliveryId ?? randomUUID(), clock.now()))) return 'skipped';
    const [dockerfile, context] = await Promise.all([records.dockerfile(id), records.context(id)]);
    const stackDigest = digestStack(dockerfile, context);
    const log = records.buildLogSink(id);
    const startedAt = clock.now().toISOString();
    let status: BuildStatus;
    try {
      const outcome = await executor.build({ inspectionId: id, spec, dockerfile, context, stackDigest, log, ...(signal ? { signal } : {}) });
      if (outcome.state === 'pending') {
        // A cluster build reports by itself: its status object arrives when it ends.
        log.write(`${outcome.message}\n`);
        await log.flush();
        return 'done';
      }
      status = { ...outcome, inspection_id: id, executor: executor.kind, stack_digest: outcome.stack_digest ?? stackDigest };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.write(`\nbuild failed: ${message}\n`);
      status = {
        inspection_id: id, state: 'failed', started_at: startedAt, finished_at: clock.now().toISOString(),
        exit_code: null, reason: 'executor_error', message, executor: executor.kind, image: null, image_digest: null,
        stack_digest: stackDigest, cached: false,
      };
    }
    await log.flush();
    await records.writeBuildStatus(id, status);
    return 'done';
  }

  /** schedule: a build outcome appeared. Start the runs, or close the inspection. */
  async schedule(id: string, delivery: Delivery = {}): Promise<Outcome> {
    const { records, executor, runQueue } = this.deps;
    const build = await records.buildStatus(id);
    if (!build) throw new NotFoundError(`no build status for ${id}`);
    const spec = await records.specification(id);
    if (build.state !== 'succeeded' || !spec.script) {
      await this.refresh(id, delivery);
      return 'done';
    }
    if (executor.runItem) {
      if (!runQueue) throw new Error('a local executor needs a run queue');
      // One listing for the items done already (a redelivery), not a request per item.
      const done = await records.itemsWithResult(id);
      const messages = [];
      for (let item = 0; item < spec.batch_size; item++) if (!done.has(item)) messages.push({ body: { type: 'run', inspection_id: id, item }, deduplicationId: `run-${id}-${item}` });
      if (runQueue.sendAll) await runQueue.sendAll(messages);
      else for (const m of messages) await runQueue.send(m.body, { deduplicationId: m.deduplicationId });
    } else if (executor.startRuns) {
      const stackDigest = digestStack(await records.dockerfile(id), await records.context(id));
      const started = await executor.startRuns({ inspectionId: id, spec, build, stackDigest, context: () => records.context(id), deadlineSeconds: this.deadline(spec) });
      // Runs the executor refused (they cannot be placed, no verified image) end at once, each with a result that says why.
      if (started.state === 'refused') for (let item = 0; item < spec.batch_size; item++) await this.recordRunFailure(id, item, started.message);
    }
    await this.refresh(id, delivery);
    return 'done';
  }

  private deadline(spec: Specification): number {
    return spec.run?.deadline_seconds ?? this.deps.defaultDeadlineSeconds;
  }

  /**
   * run: one item with a local executor. Files go up hwinfo, log, then result (the trigger).
   * Local executors run in this one process, so a duplicate delivery that arrives while the item
   * runs waits for that run (and is skipped) instead of starting a second one, and an item waits
   * while `run.parallelism` items of its inspection run (1 by default: one after another, as the
   * original). The run route takes several messages at once (AMUN_RUN_SLOTS), so the items of
   * an inspection run side by side up to its parallelism; the message of an item that waits stays
   * invisible (its visibility is extended) and nothing is held in memory but the wait.
   */
  async runItem(id: string, item: number, signal?: AbortSignal): Promise<Outcome> {
    const key = `${id}\0${item}`;
    const current = this.running.get(key);
    if (current) {
      await current.catch(() => undefined);
      return 'skipped';
    }
    const run = this.runItemOnce(id, item, signal);
    this.running.set(key, run);
    try {
      return await run;
    } finally {
      this.running.delete(key);
    }
  }

  private async runItemOnce(id: string, item: number, signal?: AbortSignal): Promise<Outcome> {
    const { records, executor } = this.deps;
    if (!executor.runItem) throw new Error(`the ${executor.kind} executor does not run items one by one`);
    if (await records.hasResult(id, item)) return 'skipped';
    const spec = await this.specification(id);
    if (item < 0 || item >= spec.batch_size) throw new CorruptDataError(`item ${item} is outside the batch of ${id}`);
    const build = await this.succeededBuild(id);
    if (build?.state !== 'succeeded') throw new CorruptDataError(`item ${item} of ${id} has no successful build to run on`);
    // Checked once, above: another delivery of this item that arrives while this one waits for its
    // lane or runs waits for it in runItem and is skipped, so none can have run it meanwhile.
    const release = await this.lanes.acquire(id, spec.run?.parallelism ?? 1);
    let output: RunOutput;
    try {
      output = await executor.runItem({ inspectionId: id, item, spec, build, context: () => records.context(id), deadlineSeconds: this.deadline(spec), ...(signal ? { signal } : {}) });
    } finally {
      // The lane bounds the runs, not their uploads: the next item starts while this one's files go up.
      release();
    }
    try {
      const report = this.checkedReport(id, item, spec, output.result);
      await records.writeItem(id, item, { report, log: output.log, ...(output.hwinfo ? { hwinfo: output.hwinfo } : {}) });
    } finally {
      await output.release?.();
    }
    return 'done';
  }

  /**
   * The harness's report with the hardware comparison stamped in; a report that is not one (the
   * harness was replaced, or broke) becomes a result that says so, keeping what the script printed.
   */
  private checkedReport(id: string, item: number, spec: Specification, raw: Buffer): RunReport {
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      value = undefined;
    }
    if (validators.result(value)) return withHardwareMatch(value as RunReport, spec);
    const problems = value === undefined ? 'not JSON' : toProblems(validators.result.errors).map((p) => `${p.path || '/'} ${p.message}`).join('; ');
    const now = this.deps.clock.now();
    const stdout = value && typeof value === 'object' && 'stdout' in value ? (value as { stdout: unknown }).stdout : {};
    return withHardwareMatch(
      syntheticResult({ inspectionId: id, item, executor: this.deps.executor.kind, reason: 'harness_error', message: `the harness wrote an invalid report: ${problems}`, script: reportedScript(spec), startedAt: now, finishedAt: now, stdout: stdout as string }),
      spec,
    );
  }

  /**
   * The last delivery of a build message failed too: record a failed build (the inspection then
   * closes as failed) instead of letting the message vanish into the dead-letter queue.
   */
  async recordBuildFailure(id: string, message: string): Promise<Outcome> {
    const { records, executor, clock } = this.deps;
    if (await records.hasBuildStatus(id)) return 'skipped';
    const status: BuildStatus = {
      inspection_id: id, state: 'failed', started_at: null, finished_at: clock.now().toISOString(), exit_code: null, reason: 'executor_error',
      message, executor: executor.kind, image: null, image_digest: null, stack_digest: null, cached: false,
    };
    await records.writeBuildStatus(id, status);
    return 'done';
  }

  /**
   * The last delivery of a build outcome's event failed to start the runs: every item without a
   * result gets one saying why, so that the inspection closes instead of waiting forever.
   */
  async recordScheduleFailure(id: string, message: string): Promise<Outcome> {
    const spec = await this.deps.records.specification(id);
    for (let item = 0; item < spec.batch_size; item++) await this.recordRunFailure(id, item, message);
    await this.refresh(id);
    return 'done';
  }

  /** The last delivery of a run message failed too: the item gets a result saying why. */
  async recordRunFailure(id: string, item: number, message: string): Promise<Outcome> {
    const { records, executor, clock } = this.deps;
    if (await records.hasResult(id, item)) return 'skipped';
    const spec = await records.specification(id);
    const now = clock.now();
    const report = syntheticResult({ inspectionId: id, item, executor: executor.kind, reason: 'executor_error', message, script: reportedScript(spec), startedAt: now, finishedAt: now });
    await records.writeItem(id, item, { report });
    return 'done';
  }

  /**
   * index: the results of `items` (or of `item`) appeared. While the runs are under way the
   * summary takes the new results (the summary, each result and the cached specification: two
   * store operations and one per result, however large the batch; a batch of events folds in one
   * write), swapped in over the version read, as refresh does; items counted already change
   * nothing. The last item, and any case the fold cannot decide, recompute the
   * summary from every stored object once (refresh), which also writes the metrics and announces
   * completion. Without an item (older callers), refresh.
   */
  async index(id: string, delivery: Delivery & { item?: number; items?: ReadonlyArray<number> } = {}): Promise<Outcome> {
    const { records } = this.deps;
    const items = [...new Set(delivery.items ?? (delivery.item === undefined ? [] : [delivery.item]))];
    if (items.length === 0) {
      await this.refresh(id, delivery);
      return 'done';
    }
    const reports = new Map<number, RunReport | 'invalid' | undefined>();
    for (let attempt = 1; attempt <= SUMMARY_ATTEMPTS; attempt++) {
      const current = await records.summary(id);
      const counted = new Set(current?.summary.items.map((i) => i.item));
      const pending = items.filter((item) => !counted.has(item));
      if (pending.length === 0) {
        // Counted already (a redelivery): only a completion still owed is left to do (the marker is written after the metrics).
        if (current!.summary.finished) {
          const marker = await records.completion(id);
          if (!marker || marker.sending) await this.refresh(id, delivery);
        }
        return 'skipped';
      }
      if (!current || current.summary.state !== 'running') break;
      const spec = await this.specification(id);
      const unread = pending.filter((item) => !reports.has(item));
      const read = await Promise.all(unread.map((item) => records.report(id, item)));
      unread.forEach((item, n) => reports.set(item, read[n]));
      let next: InspectionSummary | undefined = current.summary;
      for (const item of pending) {
        const report = reports.get(item);
        next = report === undefined ? undefined : addItem(next, spec, item, report);
        if (!next) break;
      }
      if (!next) break;
      if (await records.swapSummary(id, next, current)) return 'done';
    }
    await this.refresh(id, delivery);
    return 'done';
  }

  /** The specification (created once, never changed), read once per process while it is in the cache. */
  private specification(id: string): Promise<Specification> {
    return this.specs.get(id, () => this.deps.records.specification(id));
  }

  /** A successful build's status (created once, never changed), read once per process while it is in the cache. */
  private async succeededBuild(id: string): Promise<BuildStatus | undefined> {
    const cached = this.builds.peek(id);
    if (cached) return cached;
    const build = await this.deps.records.buildStatus(id);
    if (build?.state === 'succeeded') this.builds.set(id, build);
    return build;
  }

  /**
   * Writes the summary recomputed from every stored outcome (when it changed), and sends the
   * completion message once. The summary is swapped in only over the version this call read
   * before it read the outcomes: a concurrent call that wrote in between makes it start over
   * with a view at least as new, so the stored summary never goes back.
   */
  async refresh(id: string, delivery: Delivery = {}): Promise<void> {
    const { records } = this.deps;
    const spec = await records.specification(id);
    for (let attempt = 1; ; attempt++) {
      const current = await records.summary(id);
      const outcomes = await records.outcomes(id);
      const summary = computeSummary(outcomes);
      if (await records.swapSummary(id, summary, current)) {
        if (summary.finished) {
          // Final once finished (results are created once): the explorer reads them in one GET.
          await records.writeMetrics(id, inspectionMetrics(outcomes));
          await this.complete(id, spec, summary, delivery);
        }
        return;
      }
      if (attempt >= SUMMARY_ATTEMPTS) throw new Error(`the summary of ${id} kept changing under ${SUMMARY_ATTEMPTS} attempts to write it`);
    }
  }


  /**
   * One completion message per inspection. Its marker is claimed (`sending`) before the send and
   * completed after it: of racing deliveries one sends; a claimant that died before completing
   * it is taken over by its own redelivery at once, by any other after a while.
   */
  private async complete(id: string, spec: Specification, summary: InspectionSummary, delivery: Delivery): Promise<void> {
    const { records, clock } = this.deps;
    const deliveryId = delivery.deliveryId ?? randomUUID();
    const marker = await records.completion(id);
    if (marker && !marker.sending) return;
    if (marker?.sending) {
      const age = clock.now().getTime() - Date.parse(marker.claimed_at);
      if (marker.delivery !== deliveryId && !(age > COMPLETION_CLAIM_STALE_MS)) return;
    }
    if (!(await records.claimCompletion(id, deliveryId, clock.now(), marker))) return;
    const message = {
      type: 'inspection_completed' as const,
      inspection_id: id,
      state: summary.state === 'succeeded' ? ('succeeded' as const) : ('failed' as const),
      batch_size: spec.batch_size,
      items_failed: summary.items_failed,
      finished_at: summary.finished_at ?? null,
      force_sync: spec.force_sync ?? false,
    };
    if (!validators.completionMessage(message)) throw new CorruptDataError(`completion message: ${JSON.stringify(toProblems(validators.completionMessage.errors))}`);
    const send = spec.send_messages !== false;
    if (send) await this.deps.completionQueue.send(message, { deduplicationId: `completed-${id}` });
    await records.completeCompletion(id, message, send);
  }
}

/** The stack digest: the generator's own framing, over the stored Dockerfile and context. */
export const digestStack = digestBuild;
