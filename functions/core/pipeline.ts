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
 * - the summary: a compare-and-swap on its ETag, recomputed from the store on conflict, so a
 *   slower index invocation can never write an older view over a newer one;
 * - the completion message: its marker is created (claimed) before the send, so of racing index
 *   invocations one sends.
 */
import { randomUUID } from 'node:crypto';
import type { BuildStatus, InspectionSpecification, InspectionSummary, RunReport } from './generated/types.js';
import { decodeContext } from './context.js';
import { digestBuild } from './dockerfile.js';
import { CorruptDataError, NotFoundError } from './errors.js';
import { withHardwareMatch } from './hardware.js';
import { stableJson } from './json.js';
import type { Layout } from './layout.js';
import type { Clock, ContextFile, Executor, LogSink, MessageQueue, ObjectStore } from './ports.js';
import { syntheticResult } from './results.js';
import { computeSummary } from './summary.js';
import { assertStored, validators, toProblems } from './validation.js';

export interface PipelineDeps {
  store: ObjectStore;
  layout: Layout;
  clock: Clock;
  executor: Executor;
  /** Local executors: one run message per item goes here. */
  runQueue?: MessageQueue | undefined;
  completionQueue: MessageQueue;
  /** A log sink that streams into the given key while a step runs. */
  logSink: (key: string) => LogSink;
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

export class Pipeline {
  /** Items running in this process: a duplicate delivery of one waits for it instead of running it again. */
  private readonly running = new Map<string, Promise<Outcome>>();

  constructor(private readonly deps: PipelineDeps) {}

  private async json<T>(key: string): Promise<T | undefined> {
    const raw = await this.deps.store.get(key);
    return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
  }

  async specification(id: string): Promise<InspectionSpecification> {
    const spec = await this.json<InspectionSpecification>(this.deps.layout.specification(id));
    if (!spec) throw new NotFoundError(`no specification for ${id}`);
    return spec;
  }

  async buildStatus(id: string): Promise<BuildStatus | undefined> {
    const status = await this.json<unknown>(this.deps.layout.buildStatus(id));
    return status === undefined ? undefined : assertStored<BuildStatus>('buildStatus', status, `build status of ${id}`);
  }

  /** The build context as stored at submit time: the single source for every executor. */
  async context(id: string): Promise<ContextFile[]> {
    const raw = await this.deps.store.get(this.deps.layout.context(id));
    if (!raw) throw new CorruptDataError(`no build context stored for ${id}`);
    return decodeContext(raw, `build context of ${id}`);
  }

  /** build: runs the executor's build once; its status object (which triggers schedule) is written last. */
  async build(id: string, signal?: AbortSignal, delivery: Delivery = {}): Promise<Outcome> {
    const { store, layout, executor } = this.deps;
    if (await store.exists(layout.buildStatus(id))) return 'skipped';
    // Before anything is written: a message about an inspection that does not exist writes nothing.
    const spec = await this.specification(id);
    if (!(await this.claimBuild(id, delivery.deliveryId ?? randomUUID()))) return 'skipped';
    const dockerfileRaw = await store.get(layout.dockerfile(id));
    if (!dockerfileRaw) throw new CorruptDataError(`no Dockerfile stored for ${id}`);
    const dockerfile = dockerfileRaw.toString('utf8');
    const context = await this.context(id);
    const stackDigest = digestStack(dockerfile, context);
    const log = this.deps.logSink(layout.buildLog(id));
    const startedAt = this.deps.clock.now().toISOString();
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
        inspection_id: id, state: 'failed', started_at: startedAt, finished_at: this.deps.clock.now().toISOString(),
        exit_code: null, reason: 'executor_error', message, executor: executor.kind, image: null, image_digest: null,
        stack_digest: stackDigest, cached: false,
      };
    }
    await log.flush();
    assertStored('buildStatus', status, `build status of ${id}`);
    await store.putIf(layout.buildStatus(id), stableJson(status), { absent: true }, 'application/json');
    return 'done';
  }

  /**
   * True when this delivery may build: it created the claim, or the claim is its own (a
   * redelivery after it died mid-build). A duplicate delivery leaves the build to the claimant,
   * whose message ends with a status either way (its last attempt records the failure).
   */
  private async claimBuild(id: string, deliveryId: string): Promise<boolean> {
    const { store, layout, clock } = this.deps;
    const key = layout.buildClaim(id);
    if (await store.putIf(key, stableJson({ delivery: deliveryId, claimed_at: clock.now().toISOString() }), { absent: true }, 'application/json')) return true;
    const holder = parseObject(await store.get(key));
    return holder?.delivery === deliveryId;
  }

  /** schedule: a build outcome appeared. Start the runs, or close the inspection. */
  async schedule(id: string, delivery: Delivery = {}): Promise<Outcome> {
    const { store, layout, executor, runQueue } = this.deps;
    const build = await this.buildStatus(id);
    if (!build) throw new NotFoundError(`no build status for ${id}`);
    const spec = await this.specification(id);
    if (build.state !== 'succeeded' || !spec.script) {
      await this.refresh(id, delivery);
      return 'done';
    }
    const batchSize = spec.batch_size ?? 1;
    if (executor.runItem) {
      if (!runQueue) throw new Error('a local executor needs a run queue');
      for (let item = 0; item < batchSize; item++) {
        if (await store.exists(layout.result(id, item))) continue;
        await runQueue.send({ type: 'run', inspection_id: id, item }, { deduplicationId: `run-${id}-${item}` });
      }
    } else if (executor.startRuns) {
      await executor.startRuns({ inspectionId: id, spec, build, context: () => this.context(id), deadlineSeconds: this.deadline(spec) });
    }
    await this.refresh(id, delivery);
    return 'done';
  }

  private deadline(spec: InspectionSpecification): number {
    return spec.run?.deadline_seconds ?? this.deps.defaultDeadlineSeconds;
  }

  /**
   * run: one item with a local executor. Files go up hwinfo, log, then result (the trigger).
   * Local executors run in this one process, so a duplicate delivery that arrives while the item
   * runs waits for that run (and is skipped) instead of starting a second one.
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
    const { store, layout, executor } = this.deps;
    if (!executor.runItem) throw new Error(`the ${executor.kind} executor does not run items one by one`);
    if (await store.exists(layout.result(id, item))) return 'skipped';
    const spec = await this.specification(id);
    if (item < 0 || item >= (spec.batch_size ?? 1)) throw new CorruptDataError(`item ${item} is outside the batch of ${id}`);
    const build = await this.buildStatus(id);
    if (build?.state !== 'succeeded') throw new CorruptDataError(`item ${item} of ${id} has no successful build to run on`);
    const output = await executor.runItem({ inspectionId: id, item, spec, build, context: () => this.context(id), deadlineSeconds: this.deadline(spec), ...(signal ? { signal } : {}) });
    try {
      if (output.hwinfo) await store.put(layout.resultHwinfo(id, item), output.hwinfo, 'application/json');
      await store.put(layout.resultLog(id, item), output.log, 'text/plain; charset=utf-8');
        await store.putIf(layout.result(id, item), stampHardware(output.result, spec), { absent: true }, 'application/json');
    } finally {
      await output.release?.();
    }
    return 'done';
  }

  /**
   * The last delivery of a build message failed too: record a failed build (the inspection then
   * closes as failed) instead of letting the message vanish into the dead-letter queue.
   */
  async recordBuildFailure(id: string, message: string): Promise<Outcome> {
    const { store, layout, executor } = this.deps;
    if (await store.exists(layout.buildStatus(id))) return 'skipped';
    const now = this.deps.clock.now().toISOString();
    const status: BuildStatus = {
      inspection_id: id, state: 'failed', started_at: null, finished_at: now, exit_code: null, reason: 'executor_error',
      message, executor: executor.kind, image: null, image_digest: null, stack_digest: null, cached: false,
    };
    await store.putIf(layout.buildStatus(id), stableJson(status), { absent: true }, 'application/json');
    return 'done';
  }

  /**
   * The last delivery of a build outcome's event failed to start the runs: every item without a
   * result gets one saying why, so that the inspection closes instead of waiting forever.
   */
  async recordScheduleFailure(id: string, message: string): Promise<Outcome> {
    const spec = await this.specification(id);
    for (let item = 0; item < (spec.batch_size ?? 1); item++) await this.recordRunFailure(id, item, message);
    await this.refresh(id);
    return 'done';
  }

  /** The last delivery of a run message failed too: the item gets a result saying why. */
  async recordRunFailure(id: string, item: number, message: string): Promise<Outcome> {
    const { store, layout, executor } = this.deps;
    if (await store.exists(layout.result(id, item))) return 'skipped';
    const spec = await this.specification(id);
    const now = this.deps.clock.now();
    const report = syntheticResult({ inspectionId: id, item, executor: executor.kind, reason: 'executor_error', message, script: spec.script ?? '', startedAt: now, finishedAt: now });
    await store.putIf(layout.result(id, item), stableJson(report), { absent: true }, 'application/json');
    return 'done';
  }

  /** index: a result appeared. Recompute the summary; announce completion once. */
  async index(id: string, delivery: Delivery = {}): Promise<Outcome> {
    await this.refresh(id, delivery);
    return 'done';
  }

  /**
   * Writes the summary recomputed from every stored outcome (when it changed), and sends the
   * completion message once. The summary is swapped in only over the version this call read
   * before it read the outcomes: a concurrent call that wrote in between makes it start over
   * with a view at least as new, so the stored summary never goes back.
   */
  async refresh(id: string, delivery: Delivery = {}): Promise<void> {
    const { store, layout } = this.deps;
    const spec = await this.specification(id);
    for (let attempt = 1; ; attempt++) {
      const current = await store.read(layout.summary(id));
      const summary = await this.summarize(id, spec);
      const text = stableJson(summary);
      const stored = current?.body.toString('utf8') === text || (await store.putIf(layout.summary(id), text, current ? { etag: current.etag } : { absent: true }, 'application/json'));
      if (stored) {
        if (summary.finished) await this.complete(id, spec, summary.state === 'succeeded' ? 'succeeded' : 'failed', summary.items_failed, summary.finished_at ?? null, delivery);
        return;
      }
      if (attempt >= SUMMARY_ATTEMPTS) throw new Error(`the summary of ${id} kept changing under ${SUMMARY_ATTEMPTS} attempts to write it`);
    }
  }

  /** The summary as the stored outcomes make it. */
  private async summarize(id: string, spec: InspectionSpecification): Promise<InspectionSummary> {
    const { store, layout } = this.deps;
    const build = await this.buildStatus(id);
    const results = new Map<number, RunReport | 'invalid'>();
    const prefix = layout.resultsPrefix(id);
    let token: string | undefined;
    do {
      const page = await store.list(prefix, { delimiter: '/', ...(token ? { token } : {}) });
      for (const p of page.prefixes) {
        const item = Number(p.slice(prefix.length, -1));
        if (!Number.isInteger(item)) continue;
        const raw = await store.get(layout.result(id, item));
        if (!raw) continue;
        let report: unknown;
        try {
          report = JSON.parse(raw.toString('utf8'));
        } catch {
          report = undefined;
        }
        results.set(item, validators.result(report) ? (report as RunReport) : 'invalid');
      }
      token = page.nextToken;
    } while (token);
    const summary = computeSummary({ inspectionId: id, spec, build, results });
    return assertStored('summary', summary, `summary of ${id}`);
  }

  /**
   * One completion message per inspection. Its marker is claimed (created, `sending`) before the
   * send and completed after it: of racing deliveries one sends; a claimant that died before
   * completing it is taken over by its own redelivery at once, by any other after a while.
   */
  private async complete(id: string, spec: InspectionSpecification, state: 'succeeded' | 'failed', itemsFailed: number, finishedAt: string | null, delivery: Delivery): Promise<void> {
    const { store, layout, clock } = this.deps;
    const key = layout.completion(id);
    const deliveryId = delivery.deliveryId ?? randomUUID();
    const claim = (): string => stableJson({ delivery: deliveryId, claimed_at: clock.now().toISOString(), sending: true });
    const existing = await store.read(key);
    if (existing) {
      const marker = parseObject(existing.body);
      if (marker?.sending !== true) return;
      const age = clock.now().getTime() - Date.parse(String(marker.claimed_at));
      const mine = marker.delivery === deliveryId;
      if (!mine && !(age > COMPLETION_CLAIM_STALE_MS)) return;
      if (!(await store.putIf(key, claim(), { etag: existing.etag }, 'application/json'))) return;
    } else if (!(await store.putIf(key, claim(), { absent: true }, 'application/json'))) {
      return;
    }
    const message = {
      type: 'inspection_completed' as const,
      inspection_id: id,
      state,
      batch_size: spec.batch_size ?? 1,
      items_failed: itemsFailed,
      finished_at: finishedAt,
      force_sync: spec.force_sync ?? false,
    };
    if (!validators.completionMessage(message)) throw new CorruptDataError(`completion message: ${JSON.stringify(toProblems(validators.completionMessage.errors))}`);
    const send = spec.send_messages !== false;
    if (send) await this.deps.completionQueue.send(message, { deduplicationId: `completed-${id}` });
    await store.put(key, stableJson({ ...message, sent: send }), 'application/json');
  }
}

/**
 * The run report with `hardware_match` / `hardware_mismatches` from the spec's run requests. A
 * report that is not a JSON object is left as it is (the index stage marks it invalid).
 */
function stampHardware(result: Buffer, spec: InspectionSpecification): Buffer | string {
  let report: unknown;
  try {
    report = JSON.parse(result.toString('utf8'));
  } catch {
    return result;
  }
  if (report === null || typeof report !== 'object' || Array.isArray(report)) return result;
  return `${stableJson(withHardwareMatch(report as RunReport, spec))}\n`;
}

/** A stored JSON object, or undefined when there is none or it is not one. */
function parseObject(raw: Buffer | undefined): Record<string, unknown> | undefined {
  if (!raw) return undefined;
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The stack digest: the generator's own framing, over the stored Dockerfile and context. */
export const digestStack = digestBuild;
