/**
 * `npm run bench:api`: API throughput and latency on the embedded stack.
 *
 * Starts a stack (process executor, data in a temp folder), then for 1, 8 and 32 concurrent
 * clients sends a fixed number of requests (each phase also stops at a time bound):
 *   - submit: POST /api/v1/inspect with a script-less spec (no runs; the builds still run in the
 *     background on the same machine and store, so they share the CPU with the API);
 *   - status: GET /api/v1/inspect/{id}/status over the inspections submitted before.
 * Prints requests/s, p50 and p99 latency, store operations per request, work-queue messages per
 * request and CPU time per request of each thread (the API's, the rest of the stack's process:
 * the S3/SQS server thread and Node's helpers, and the load generator's), next to the targets
 * (≥ 200 submits/s and p99 < 100 ms at 8 clients). Then what one script-only inspection stores
 * at submit (its build held), next to its target (< 5 KB), and what every inspection shares,
 * stored once.
 *
 * Store operations are counted twice: all of them (`stack.app.store.stats`, which includes the
 * background builds), and those made while answering requests (attributed with AsyncLocalStorage:
 * every queue-triggered handler runs inside a marked context, everything else is the API).
 * Conditional writes count as puts, versioned reads as gets, as in the store's own counters.
 *
 * Environment: BENCH_SCALE (default 1) multiplies the request counts; BENCH_MAX_SECONDS (default
 * 20) bounds each phase; BENCH_BUILDS=hold keeps the build stage from running until the end (the API
 * alone); BENCH_PROFILE=1 writes a CPU profile of the 8-client submit phase to the working directory.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import type { LoadJob, LoadResult } from './load-worker.js';
import { countStoreOps, OPS, zero, type Counts } from './store-ops.js';
import { threadCpuMs } from './thread-cpu.js';

process.env.AMUN_LOG_LEVEL ??= 'WARN';
// Imported after the log level is set: the logger reads it when its module loads.
const { startLocalStack } = await import('../local/stack.js');

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 20);
const HOLD_BUILDS = process.env.BENCH_BUILDS === 'hold';
const CLIENTS = [1, 8, 32];
const COUNTS = { submit: { 1: 100, 8: 400, 32: 800 }, status: { 1: 300, 8: 1500, 32: 3000 } } as const;
const TARGET = { clients: 8, submitsPerSecond: 200, p99Ms: 100, storedBytes: 5 * 1024 };
/** Script-only inspections submitted to measure what each stores. */
const STORAGE_SAMPLE = 20;
const SCRIPT_ONLY = { base: 'registry.fedoraproject.org/fedora:40', identifier: 'bench-storage', script: 'import json\nprint(json.dumps({"answer": 42}))\n' };

const dir = mkdtempSync(join(tmpdir(), 'amun-bench-'));
const background = new AsyncLocalStorage<true>();
/** Builds that start while this holds wait until the end (BENCH_BUILDS=hold: all of them). */
let holdBuilds = HOLD_BUILDS;
let releaseBuilds!: () => void;
const buildsReleased = new Promise<void>((r) => (releaseBuilds = r));
const stack = await startLocalStack({
  dataDir: dir,
  port: 0,
  executor: 'process',
  waitTimeSeconds: 1,
  wrapHandler: (name, handler) => (event, context) =>
    background.run(true, async () => {
      if (name === 'build' && holdBuilds) await buildsReleased;
      return handler(event, context);
    }),
});

// Attribute store operations: the API's own, apart from the background stages'.
const apiOps = zero();
countStoreOps(stack.app.store, (op) => {
  if (!background.getStore()) apiOps[op]++;
});

const ids: string[] = [];
const loader = new Worker(new URL('./load-worker.ts', import.meta.url), { execArgv: ['--import', 'tsx'] });
function load(what: 'submit' | 'status', clients: number, total: number, spec?: LoadJob['spec']): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    loader.once('message', (result: LoadResult) => {
      ids.push(...result.ids);
      resolve(result);
    });
    loader.once('error', reject);
    loader.postMessage({ url: stack.apiUrl, what, clients, total, maxSeconds: MAX_SECONDS, ids, ...(spec ? { spec } : {}) } satisfies LoadJob);
  });
}

/**
 * What the sample of script-only inspections stores (every object under `<prefix>/<id>/`, their
 * builds held so that only what submit wrote is there; the listing entries are empty), and what
 * they share, stored once (the blobs).
 */
async function storedAtSubmit(sample: string[]): Promise<{ perInspection: number; context: number; shared: number; blobs: number }> {
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const { makeS3Client } = await import('../functions/adapters/clients.js');
  const s3 = makeS3Client({ region: stack.config.region, endpoint: stack.storageEndpoint });
  const sizes = async (prefix: string): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: stack.config.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) out.set(o.Key ?? '', o.Size ?? 0);
      token = page.NextContinuationToken;
    } while (token);
    return out;
  };
  const { layout } = stack.app;
  let total = 0;
  let context = 0;
  for (const id of sample) {
    const own = await sizes(layout.root(id));
    for (const size of own.values()) total += size;
    context += own.get(layout.context(id)) ?? 0;
  }
  const blobs = await sizes(`${layout.blobPrefix}/`);
  s3.destroy();
  return { perInspection: total / sample.length, context: context / sample.length, shared: [...blobs.values()].reduce((a, b) => a + b, 0), blobs: blobs.size };
}

async function backlog(): Promise<number> {
  const { GetQueueAttributesCommand } = await import('@aws-sdk/client-sqs');
  const { makeSqsClient } = await import('../functions/adapters/clients.js');
  const sqs = makeSqsClient({ region: stack.config.region, endpoint: stack.storageEndpoint });
  const { Attributes: a = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrls.work, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  sqs.destroy();
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

interface Row {
  what: 'submit' | 'status';
  clients: number;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  api: Counts;
  all: Counts;
  queued: number;
  /** CPU ms per request: the API's thread, the rest of this process (the S3/SQS server thread, GC and libuv helpers), the load generator's thread. */
  cpu: { api: number; rest: number; load: number };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
const statsNow = (): Counts => {
  const s = stack.app.store.stats;
  return { get: s.get, put: s.put, exists: s.head, list: s.list, delete: s.delete };
};
const diff = (a: Counts, b: Counts): Counts => Object.fromEntries(OPS.map((op) => [op, a[op] - b[op]])) as Counts;

async function phase(what: Row['what'], clients: number, total: number, profile = false): Promise<Row> {
  const api0 = { ...apiOps };
  const all0 = statsNow();
  const sent0 = stack.app.queues.work.sent;
  const process0 = process.cpuUsage();
  const main0 = threadCpuMs();
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const { latencies, errors, seconds, cpuMs: loadMs } = await load(what, clients, total);
  const mainMs = threadCpuMs() - main0;
  const { user, system } = process.cpuUsage(process0);
  const processMs = (user + system) / 1000;
  if (session) {
    const { profile: cpu } = await session.post('Profiler.stop');
    const file = join(process.cwd(), `bench-${what}-${clients}.cpuprofile`);
    writeFileSync(file, JSON.stringify(cpu));
    session.disconnect();
    console.log(`CPU profile: ${file}`);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const n = latencies.length;
  return {
    what,
    clients,
    requests: n,
    errors,
    seconds,
    rps: n / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    api: diff({ ...apiOps }, api0),
    all: diff(statsNow(), all0),
    queued: stack.app.queues.work.sent - sent0,
    cpu: { api: mainMs / n, rest: (processMs - mainMs - loadMs) / n, load: loadMs / n },
  };
}

const perReq = (c: Counts, n: number) =>
  OPS.filter((op) => c[op] > 0)
    .map((op) => `${(c[op] / n).toFixed(op === 'list' || op === 'delete' ? 2 : 1)} ${op === 'exists' ? 'head' : op}`)
    .join(', ') || '0';

function table(rows: Row[]): string {
  const header = ['phase', 'clients', 'requests', 'errors', 'req/s', 'p50 ms', 'p99 ms', 'API store ops/req', 'all store ops/req (with builds)', 'queued/req', 'CPU ms/req: API + rest + load'];
  const body = rows.map((r) => [
    r.what,
    String(r.clients),
    String(r.requests),
    String(r.errors),
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    perReq(r.api, r.requests),
    perReq(r.all, r.requests),
    (r.queued / r.requests).toFixed(2),
    `${r.cpu.api.toFixed(1)} + ${r.cpu.rest.toFixed(1)} + ${r.cpu.load.toFixed(1)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 || i > 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

try {
  console.log(`amun API benchmark — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; load from a worker thread, the stack's S3/SQS server on another`);
  console.log(
    HOLD_BUILDS
      ? 'submit: POST /api/v1/inspect, script-less spec — builds HELD (BENCH_BUILDS=hold): the API alone'
      : 'submit: POST /api/v1/inspect, script-less spec (no runs) — the builds still run in the background, on the same CPU and store',
  );
  console.log('status: GET /api/v1/inspect/{id}/status over the inspections submitted above\n');
  // Warm up: connections, JIT, the first build's work directory.
  await load('submit', 1, 20);
  await load('status', 1, 50);
  if (!HOLD_BUILDS) await stack.idle();

  const rows: Row[] = [];
  for (const clients of CLIENTS) {
    rows.push(await phase('submit', clients, Math.round(COUNTS.submit[clients as 1] * SCALE), process.env.BENCH_PROFILE === '1' && clients === TARGET.clients));
  }
  for (const clients of CLIENTS) rows.push(await phase('status', clients, Math.round(COUNTS.status[clients as 1] * SCALE)));
  console.log(table(rows));

  const at = (what: Row['what']) => rows.find((r) => r.what === what && r.clients === TARGET.clients)!;
  const submit = at('submit');
  const status = at('status');
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(`\ntargets at ${TARGET.clients} clients:`);
  console.log(`  submits/s ≥ ${TARGET.submitsPerSecond}: ${submit.rps.toFixed(0)} — ${mark(submit.rps >= TARGET.submitsPerSecond)}`);
  console.log(`  submit p99 < ${TARGET.p99Ms} ms: ${submit.p99.toFixed(1)} ms — ${mark(submit.p99 < TARGET.p99Ms)}`);
  console.log(`  status p99 < ${TARGET.p99Ms} ms: ${status.p99.toFixed(1)} ms — ${mark(status.p99 < TARGET.p99Ms)}`);

  // Storage: script-only inspections, their builds held (only what submit wrote is stored).
  holdBuilds = true;
  const sample = (await load('submit', 1, STORAGE_SAMPLE, SCRIPT_ONLY)).ids;
  const stored = await storedAtSubmit(sample);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  console.log(`
stored per script-only inspection at submit (${sample.length} submitted, builds held; specification, Dockerfile, build context):`);
  console.log(`  < ${kb(TARGET.storedBytes)}: ${kb(stored.perInspection)} (build/context.json ${kb(stored.context)}) — ${mark(stored.perInspection < TARGET.storedBytes)}`);
  console.log(`  shared by every inspection of this version, stored once: ${kb(stored.shared)} in ${stored.blobs} blobs`);
  const depth = await backlog();
  console.log(`\n${ids.length} inspections submitted; ${depth} build messages still queued at the end (they are dropped with the temp stack)`);
} finally {
  releaseBuilds();
  loader.postMessage('close');
  await loader.terminate();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
