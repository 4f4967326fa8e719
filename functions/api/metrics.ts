/**
 * GET /metrics: Prometheus text exposition (prom-client) of what the store and the queues say.
 *
 * Inspections by state, builds and runs by outcome come from the store, never from counters kept in
 * one process (on Lambda every instance would count only what it saw). A full listing of every
 * inspection's objects on each scrape would cost O(inspections) reads, so the census here reads
 * incrementally and caches:
 *
 * - the listing index (`<prefix>-index/`, 1000 ids a LIST) is listed at most once per refresh
 *   (AMUN_METRICS_REFRESH_SECONDS, 60 s by default; scrapes in between answer from the cache);
 * - an inspection is read (its summary: one GET; without one, one HEAD of its build log to tell
 *   pending from building; its build status once: one GET) until its summary says finished. Then
 *   its state is kept in memory and it is never read again: finished inspections cost nothing but
 *   their line in the listing;
 * - a refresh reads at most AMUN_METRICS_MAX_READS inspections and stops after REFRESH_BUDGET_MS,
 *   the least recently read first; the others wait for the next refresh (`amun_inspections_unread`
 *   says how many have not been read yet, e.g. after a cold start);
 * - each build and each run is counted once, when the census first sees it (build status and run
 *   results are written once and never change), so the counters only grow while the process lives.
 *
 * A refresh therefore costs ceil(inspections / 1000) LIST requests plus, for each unfinished
 * inspection, one to three small GET/HEAD requests; `amun_metrics_store_requests_total` counts them.
 * Queue depths: two GetQueueAttributes per queue (the queue, then its dead-letter queue, found from
 * the queue's RedrivePolicy), cached for QUEUE_CACHE_MS.
 */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsSettings } from '../config.js';
import type { BuildStatus, InspectionSummary } from '../core/generated/types.js';
import type { InspectionRecords } from '../core/records.js';
import type { Logger } from '../logger.js';
import type { QueueName } from '../queues.js';

export type InspectionState = InspectionSummary['state'];
/** Every state a summary can name, in order; the gauge reports each, zeros included. */
export const INSPECTION_STATES: ReadonlyArray<InspectionState> = ['pending', 'building', 'running', 'succeeded', 'failed'];

/** A refresh stops reading after this long; what it has not read waits for the next one. */
export const REFRESH_BUDGET_MS = 5000;
/** Inspections read at once during a refresh. */
const READ_CONCURRENCY = 16;
/** Queue depths are read again after this long (at most; AMUN_METRICS_REFRESH_SECONDS when shorter). */
const QUEUE_CACHE_MS = 5000;
/** One SQS call may take this long before the queue is reported down. */
const QUEUE_TIMEOUT_MS = 3000;

const BUILD_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/** A label value from a stored reason: short snake_case words pass, anything else is `other` (bounded cardinality). */
function reasonLabel(reason: string): string {
  return /^[a-z][a-z0-9_]{0,39}$/.test(reason) ? reason : 'other';
}

/** succeeded, cached (an earlier build of the same stack was reused), or the failure reason. */
export function buildOutcome(status: Pick<BuildStatus, 'state' | 'reason' | 'cached'>): string {
  if (status.state === 'succeeded') return status.cached ? 'cached' : 'succeeded';
  return status.reason ? reasonLabel(status.reason) : 'failed';
}

/** succeeded (exit 0), failed (the script exited non-zero), or why the run ended abnormally (deadline, oom, lost, invalid_result, …). */
export function runOutcome(item: InspectionSummary['items'][number]): string {
  if (item.reason) return reasonLabel(item.reason);
  return item.exit_code === 0 ? 'succeeded' : 'failed';
}

function seconds(from: string | null | undefined, to: string | null | undefined): number | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}

interface OpenInspection {
  /** Undefined until first read. */
  state: InspectionState | undefined;
  buildSeen: boolean;
  itemsSeen: Set<number>;
  /** Order of the last read (0: never). */
  readAt: number;
}

export interface CensusSink {
  build(outcome: string, seconds: number | undefined): void;
  run(outcome: string, seconds: number | undefined): void;
}

export interface CensusCounts {
  states: Record<InspectionState, number>;
  /** Listed, not read yet. */
  unread: number;
  /** Store requests made by all refreshes so far. */
  requests: number;
  /** Inspections whose read failed in the last refresh. */
  failedReads: number;
}

/** The store side: which inspections exist, in which state; each build and run reported to the sink once. */
export class InspectionCensus {
  private readonly finished = new Map<string, InspectionState>();
  private readonly open = new Map<string, OpenInspection>();
  private requests = 0;
  private failedReads = 0;
  private order = 0;

  constructor(
    private readonly deps: { records: InspectionRecords; sink: CensusSink; maxReads: number; budgetMs?: number; logger?: Logger },
  ) {}

  /** Lists every inspection, then reads the unfinished ones (bounded); throws when the listing fails. */
  async refresh(): Promise<void> {
    const deadline = Date.now() + (this.deps.budgetMs ?? REFRESH_BUDGET_MS);
    const present = new Set(await this.listAll());
    for (const id of this.finished.keys()) if (!present.has(id)) this.finished.delete(id);
    for (const id of this.open.keys()) if (!present.has(id)) this.open.delete(id);
    for (const id of present) {
      if (!this.finished.has(id) && !this.open.has(id)) this.open.set(id, { state: undefined, buildSeen: false, itemsSeen: new Set(), readAt: 0 });
    }
    const due = [...this.open.entries()].sort((a, b) => a[1].readAt - b[1].readAt).slice(0, this.deps.maxReads);
    this.failedReads = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < due.length && Date.now() < deadline) {
        const [id, entry] = due[next++]!;
        await this.read(id, entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, due.length) }, worker));
  }

  counts(): CensusCounts {
    const states = Object.fromEntries(INSPECTION_STATES.map((s) => [s, 0])) as Record<InspectionState, number>;
    let unread = 0;
    for (const state of this.finished.values()) states[state] = (states[state] ?? 0) + 1;
    for (const entry of this.open.values()) {
      if (entry.state === undefined) unread++;
      else states[entry.state] = (states[entry.state] ?? 0) + 1;
    }
    return { states, unread, requests: this.requests, failedReads: this.failedReads };
  }

  private async listAll(): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      this.requests++;
      const page = await this.deps.records.list({ page: 1, limit: 1000, token });
      ids.push(...page.ids);
      token = page.nextToken;
    } while (token);
    return ids;
  }

  private async read(id: string, entry: OpenInspection): Promise<void> {
    const { records, sink } = this.deps;
    entry.readAt = ++this.order;
    try {
      this.requests++;
      const stored = await records.summary(id);
      if (!stored) {
        // No summary before the build's outcome: the build log tells a build under way from one not started.
        this.requests++;
        entry.state = (await records.hasBuildLog(id)) ? 'building' : 'pending';
        return;
      }
      const summary = stored.summary;
      entry.state = summary.state;
      if (summary.build !== null && !entry.buildSeen) {
        this.requests++;
        const status = await records.buildStatus(id);
        if (status) {
          sink.build(buildOutcome(status), seconds(status.started_at, status.finished_at));
          entry.buildSeen = true;
        }
      }
      for (const item of summary.items) {
        if (entry.itemsSeen.has(item.item)) continue;
        entry.itemsSeen.add(item.item);
        sink.run(runOutcome(item), item.wall_time ?? undefined);
      }
      if (summary.finished && entry.buildSeen) {
        this.open.delete(id);
        this.finished.set(id, summary.state);
      }
    } catch (error) {
      this.failedReads++;
      this.deps.logger?.warn('metrics: reading an inspection failed', { inspection_id: id, error: error as Error });
    }
  }
}

export interface QueueDepth {
  queue: QueueName;
  up: boolean;
  visible?: number;
  inFlight?: number;
  delayed?: number;
  /** Messages in its dead-letter queue (visible and in flight); undefined when it has none. */
  deadLetters?: number;
}

const count = (value: string | undefined): number => {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
};

/** The dead-letter queue's URL: its ARN's name beside the queue (SQS requires both in one account and region). */
export function deadLetterUrl(queueUrl: string, redrivePolicy: string | undefined): string | undefined {
  if (!redrivePolicy) return undefined;
  try {
    const arn = (JSON.parse(redrivePolicy) as { deadLetterTargetArn?: string }).deadLetterTargetArn;
    const name = arn?.split(':').pop();
    if (!name) return undefined;
    return `${queueUrl.slice(0, queueUrl.lastIndexOf('/') + 1)}${name}`;
  } catch {
    return undefined;
  }
}

/** Depth of one queue and of its dead-letter queue: two GetQueueAttributes calls. */
export async function queueDepth(sqs: SQSClient, queue: QueueName, url: string, timeoutMs = QUEUE_TIMEOUT_MS): Promise<QueueDepth> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed', 'RedrivePolicy'],
    }),
    { abortSignal: AbortSignal.timeout(timeoutMs) },
  );
  const a = out.Attributes ?? {};
  const depth: QueueDepth = {
    queue,
    up: true,
    visible: count(a.ApproximateNumberOfMessages),
    inFlight: count(a.ApproximateNumberOfMessagesNotVisible),
    delayed: count(a.ApproximateNumberOfMessagesDelayed),
  };
  const dlq = deadLetterUrl(url, a.RedrivePolicy);
  if (dlq) {
    const d = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    depth.deadLetters = count(d.Attributes?.ApproximateNumberOfMessages) + count(d.Attributes?.ApproximateNumberOfMessagesNotVisible);
  }
  return depth;
}

export interface MetricsDeps {
  records: InspectionRecords;
  sqs: SQSClient;
  queueUrls: Partial<Record<QueueName, string | undefined>>;
  settings: MetricsSettings;
  info: { version: string; serviceVersion: string; storeLayout: string };
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop, GC) of the process that answers; default true. */
  processMetrics?: boolean;
}

/** The registry behind GET /metrics, one per API handler (per Lambda instance, per local stack). */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly census: InspectionCensus;
  private readonly inspections: Gauge;
  private readonly unread: Gauge;
  private readonly storeUp: Gauge;
  private readonly storeRefreshed: Gauge;
  private readonly storeRefreshSeconds: Gauge;
  private readonly storeRequests: Counter;
  private readonly queueMessages: Gauge;
  private readonly deadLetters: Gauge;
  private readonly queueUp: Gauge;
  private storeReadAt = Number.NEGATIVE_INFINITY;
  private storeRefresh: Promise<void> | undefined;
  private queuesReadAt = Number.NEGATIVE_INFINITY;
  private queuesRefresh: Promise<void> | undefined;
  private reportedRequests = 0;

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    if (deps.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'amun_api_info', help: 'Amun API info: the versions of Amun and of its store layout that answer', labelNames: ['version', 'service_version', 'store_layout'], registers })
      .labels(deps.info.version, deps.info.serviceVersion, deps.info.storeLayout)
      .set(1);
    this.inspections = new Gauge({ name: 'amun_inspections', help: 'Inspections in the store by state (from their summaries)', labelNames: ['state'], registers });
    this.unread = new Gauge({ name: 'amun_inspections_unread', help: 'Inspections listed but not read yet (a bounded refresh reads the rest later)', registers });
    const builds = new Counter({ name: 'amun_builds_total', help: 'Image builds by outcome: succeeded, cached, or the failure reason', labelNames: ['outcome'], registers });
    const buildSeconds = new Histogram({ name: 'amun_build_duration_seconds', help: 'Image build durations by outcome (from each build status)', labelNames: ['outcome'], buckets: BUILD_BUCKETS, registers });
    const runs = new Counter({ name: 'amun_runs_total', help: 'Script runs (inspection items) by outcome: succeeded, failed (non-zero exit), or why they ended abnormally', labelNames: ['outcome'], registers });
    const runSeconds = new Histogram({ name: 'amun_run_duration_seconds', help: 'Script run wall times by outcome', labelNames: ['outcome'], buckets: RUN_BUCKETS, registers });
    this.queueMessages = new Gauge({ name: 'amun_queue_messages', help: 'Messages in each pipeline queue: visible (waiting), in_flight (being handled), delayed', labelNames: ['queue', 'state'], registers });
    this.deadLetters = new Gauge({ name: 'amun_queue_dead_letter_messages', help: "Messages in each queue's dead-letter queue", labelNames: ['queue'], registers });
    this.queueUp = new Gauge({ name: 'amun_metrics_queue_up', help: 'Whether the last read of the queue (and its dead-letter queue) succeeded', labelNames: ['queue'], registers });
    this.storeUp = new Gauge({ name: 'amun_metrics_store_up', help: 'Whether the last refresh could list the store', registers });
    this.storeRefreshed = new Gauge({ name: 'amun_metrics_store_refresh_timestamp_seconds', help: 'When the store was last read successfully (Unix time)', registers });
    this.storeRefreshSeconds = new Gauge({ name: 'amun_metrics_store_refresh_duration_seconds', help: 'How long the last store refresh took', registers });
    this.storeRequests = new Counter({ name: 'amun_metrics_store_requests_total', help: 'Store requests made by the metrics refreshes (the cost of scraping)', registers });
    for (const state of INSPECTION_STATES) this.inspections.labels(state).set(0);
    this.census = new InspectionCensus({
      records: deps.records,
      maxReads: deps.settings.maxReads,
      ...(deps.logger ? { logger: deps.logger } : {}),
      sink: {
        build: (outcome, s) => {
          builds.labels(outcome).inc();
          if (s !== undefined) buildSeconds.labels(outcome).observe(s);
        },
        run: (outcome, s) => {
          runs.labels(outcome).inc();
          if (s !== undefined) runSeconds.labels(outcome).observe(s);
        },
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Refreshes what is stale (store and queues side by side), then renders the registry. */
  async scrape(): Promise<string> {
    await Promise.all([this.refreshStore(), this.refreshQueues()]);
    return this.registry.metrics();
  }

  private async refreshStore(): Promise<void> {
    if (!this.storeRefresh && Date.now() - this.storeReadAt < this.deps.settings.refreshSeconds * 1000) return;
    this.storeRefresh ??= (async () => {
      const started = Date.now();
      try {
        await this.census.refresh();
        this.storeUp.set(1);
        this.storeRefreshed.set(Date.now() / 1000);
      } catch (error) {
        this.storeUp.set(0);
        this.deps.logger?.warn('metrics: the store could not be listed', { error: error as Error });
      } finally {
        const counts = this.census.counts();
        for (const state of INSPECTION_STATES) this.inspections.labels(state).set(counts.states[state]);
        this.unread.set(counts.unread);
        this.storeRequests.inc(counts.requests - this.reportedRequests);
        this.reportedRequests = counts.requests;
        this.storeRefreshSeconds.set((Date.now() - started) / 1000);
        this.storeReadAt = Date.now();
        this.storeRefresh = undefined;
      }
    })();
    await this.storeRefresh;
  }

  private async refreshQueues(): Promise<void> {
    const ttl = Math.min(QUEUE_CACHE_MS, this.deps.settings.refreshSeconds * 1000);
    if (!this.queuesRefresh && Date.now() - this.queuesReadAt < ttl) return;
    this.queuesRefresh ??= (async () => {
      const entries = Object.entries(this.deps.queueUrls).filter((e): e is [QueueName, string] => typeof e[1] === 'string' && e[1] !== '');
      const depths = await Promise.all(
        entries.map(([queue, url]) =>
          queueDepth(this.deps.sqs, queue, url).catch((error: unknown): QueueDepth => {
            this.deps.logger?.warn('metrics: a queue could not be read', { queue, error: error as Error });
            return { queue, up: false };
          }),
        ),
      );
      for (const d of depths) {
        this.queueUp.labels(d.queue).set(d.up ? 1 : 0);
        if (!d.up) {
          // Unknown is not zero: the series go away until the queue answers again.
          for (const state of ['visible', 'in_flight', 'delayed']) this.queueMessages.remove(d.queue, state);
          this.deadLetters.remove(d.queue);
          continue;
        }
        this.queueMessages.labels(d.queue, 'visible').set(d.visible ?? 0);
        this.queueMessages.labels(d.queue, 'in_flight').set(d.inFlight ?? 0);
        this.queueMessages.labels(d.queue, 'delayed').set(d.delayed ?? 0);
        if (d.deadLetters !== undefined) this.deadLetters.labels(d.queue).set(d.deadLetters);
      }
      this.queuesReadAt = Date.now();
    })().finally(() => {
      this.queuesRefresh = undefined;
    });
    await this.queuesRefresh;
  }
}
