/**
 * `npm run bench:harness`: what the container executor costs on top of the engine.
 *
 * On the embedded stack with the container executor (podman or docker, data in a temp folder):
 *
 * 1. Per-run overhead. One inspection of a trivial Python script (batch 10) is built; its run
 *    messages are held back, and the bench drives the runs itself: 10 runs through the pipeline's
 *    run stage (read spec and build status, container executor: fresh output directory, harness
 *    with hwinfo and rusage, then upload of hwinfo, log and the hardware-stamped result) against
 *    10 bare `<engine> run --rm` of the same image running the same script without the harness
 *    (same CPU/memory limits, no network), and 10 bare runs of the harness as the executor starts
 *    it (HARNESS_COMMAND, with nothing mounted or uploaded), interleaved with the order rotating,
 *    from the same process, after one warm-up each; every timed run starts on an idle stack.
 *    Prints the medians and the ratio executor / bare script (target ≤ 1.10, aim 1.05: harness
 *    and upload under 10 %), split into the harness's share and the executor's and upload's
 *    share, and the executor's runs taken apart: the engine's `run` (the same harness, with the
 *    executor's flags and output mount), the executor's own work around it, and the pipeline's
 *    (store reads before, uploads after; each store operation counted and timed).
 * 2. Stack reuse. An inspection with a native package (jq, so apt really runs) and batch 1, end
 *    to end from submit to the finished summary: cold (a stack nobody built) and then the same
 *    stack again (the image is reused without a build; target ≤ 2× one bare run of part 1). The
 *    cached one is taken apart stage by stage: when each function ran (build, schedule, run,
 *    index), the engine calls and store operations within, and the waits between them (queue
 *    and S3-event delivery).
 *
 * Every figure with a target says `met` or `MISSED` beside it.
 *
 * Needs a container engine and localhost/amun-test/debian:bookworm (scripts/ci-base-image.sh).
 * Environment: BENCH_RUNS (default 10), AMUN_BASE_IMAGE.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpawnResult } from '../functions/adapters/executors/spawn.js';

process.env.AMUN_LOG_LEVEL ??= 'WARN';
const { startLocalStack } = await import('../local/stack.js');
const { ContainerExecutor } = await import('../functions/adapters/executors/container.js');
const { HARNESS_COMMAND } = await import('../functions/core/dockerfile.js');

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const BASE = process.env.AMUN_BASE_IMAGE ?? 'localhost/amun-test/debian:bookworm';
const TARGET = { ratio: 1.1, aim: 1.05, cachedOverBare: 2 };
const nonce = randomBytes(6).toString('hex');

/** What ran while it was being watched: function invocations, engine calls, store operations. */
interface Span {
  what: string;
  start: number;
  end: number;
  /** The function invocation it ran in (its name and number), if any. */
  stage?: string | undefined;
  /** A store operation's key, past the inspection id. */
  key?: string | undefined;
}
const watch = { on: false, handlers: [] as Span[], engine: [] as Span[], store: [] as Span[], finishedWritten: undefined as number | undefined, summaryKey: '' };
/** Marks the bench's own store reads (its polling), which are not the pipeline's. */
const ours = new AsyncLocalStorage<true>();
/** The function invocation a call happens in. */
const stage = new AsyncLocalStorage<string>();
let invocations = 0;
const timed = async <T>(list: Span[], what: string, fn: () => Promise<T>, key?: string): Promise<T> => {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    if (watch.on && !ours.getStore()) list.push({ what, start, end: performance.now(), stage: stage.getStore(), key });
  }
};

const dir = mkdtempSync(join(tmpdir(), 'amun-bench-harness-'));
const stack = await startLocalStack({
  dataDir: dir,
  port: 0,
  executor: 'container',
  waitTimeSeconds: 1,
  overrides: { logIntervalMs: 250 },
  wrapHandler: (name, handler) => async (event, context) => {
    // The per-run inspection's run messages are dropped: the bench runs its items itself.
    if (name === 'run') {
      const mine = event.Records.filter((r) => (JSON.parse(r.body) as { inspection_id: string }).inspection_id.startsWith('inspection-bench-runs-'));
      if (mine.length === event.Records.length) return { batchItemFailures: [] };
    }
    const id = `${name}#${++invocations}`;
    return stage.run(id, () => timed(watch.handlers, id, () => handler(event, context)));
  },
});
const executor = stack.app.executor;
if (!(executor instanceof ContainerExecutor)) throw new Error('bench:harness needs the container executor');
const { store, layout, pipeline } = stack.app;
const engine = executor.engine;

// Instruments the engine and the store (the pipeline and the executor call them through these objects).
const exec = engine.exec.bind(engine);
engine.exec = (args, options) => timed(watch.engine, args.slice(0, args[0] === 'image' ? 2 : 1).join(' '), () => exec(args, options));
for (const method of ['get', 'read', 'put', 'putIf', 'exists', 'list', 'delete'] as const) {
  const original = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store);
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    const key = typeof args[0] === 'string' ? args[0].replace(/^.*?inspection-[^/]*\//, '') : undefined;
    const result = await timed(watch.store, method, () => original(...args), key);
    if (watch.on && !ours.getStore() && (method === 'put' || method === 'putIf') && args[0] === watch.summaryKey && watch.finishedWritten === undefined && /"finished":\s*true/.test(String(args[1]))) {
      watch.finishedWritten = performance.now();
    }
    return result;
  };
}
const executorRunItem = executor.runItem.bind(executor);
/** The last run's executor call, the records' writeItem (uploads) and the release of its output directory. */
const last = { executor: undefined as Span | undefined, writeItem: undefined as Span | undefined, release: undefined as Span | undefined };
executor.runItem = async (request) => {
  const start = performance.now();
  try {
    const output = await executorRunItem(request);
    const release = output.release;
    if (release) {
      output.release = async () => {
        const at = performance.now();
        await release();
        last.release = { what: 'release', start: at, end: performance.now() };
      };
    }
    return output;
  } finally {
    last.executor = { what: 'executor', start, end: performance.now() };
  }
};
const writeItem = stack.app.records.writeItem.bind(stack.app.records);
stack.app.records.writeItem = async (...args) => {
  const start = performance.now();
  try {
    return await writeItem(...args);
  } finally {
    last.writeItem = { what: 'writeItem', start, end: performance.now() };
  }
};

const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const mark = (ok: boolean): string => (ok ? 'met' : 'MISSED');
const sum = (spans: Span[]): number => spans.reduce((n, s) => n + (s.end - s.start), 0);
/** How long at least one of the spans was under way. */
const union = (spans: Span[]): number => {
  let total = 0;
  let reach = -Infinity;
  for (const s of [...spans].sort((x, y) => x.start - y.start)) {
    if (s.end <= reach) continue;
    total += s.end - Math.max(s.start, reach);
    reach = s.end;
  }
  return total;
};

async function submit(spec: object): Promise<string> {
  const res = await fetch(`${stack.apiUrl}/api/v1/inspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const body = (await res.json()) as { inspection_id?: string };
  if (res.status !== 202 || !body.inspection_id) throw new Error(`submit: ${res.status} ${JSON.stringify(body)}`);
  return body.inspection_id;
}
async function json<T>(key: string): Promise<T | undefined> {
  const raw = await ours.run(true, () => store.get(key));
  return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
}
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15 * 60_000, pollMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
const finished = (id: string): Promise<{ state: string }> => until(id, async () => {
  const s = await json<{ finished: boolean; state: string }>(layout.summary(id));
  return s?.finished ? s : undefined;
});

try {
  const requests = { cpu: String(cpus().length), memory: '512Mi' };
  const script = 'import json\nprint(json.dumps({"ok": True}))\n';

  // 1. Per-run overhead.
  const runsId = await submit({ base: BASE, identifier: 'bench runs', script, batch_size: RUNS + 1, run: { requests }, environment: [{ name: 'BENCH_NONCE', value: nonce }] });
  const build = await until('the per-run build', () => json<{ state: string; image_digest: string | null; message: string | null }>(layout.buildStatus(runsId)));
  if (build.state !== 'succeeded' || !build.image_digest) throw new Error(`build failed: ${build.message ?? ''}`);
  const limit = String(Math.ceil(512 * 2 ** 20));
  const same = ['run', '--rm', '--pull', 'never', '--network', 'none', '--cpus', requests.cpu, '--memory', limit, '--memory-swap', limit];
  const bareRun = (args: string[], expect: string) => async (): Promise<number> => {
    await stack.idle(); // each timed run starts on a quiet stack: the previous result's index stage is done
    const t = performance.now();
    const r: SpawnResult = await exec(args);
    const elapsed = performance.now() - t;
    if (r.code !== 0 || !`${r.stdout}${r.stderr}`.includes(expect)) throw new Error(`bare run failed: ${r.code} ${r.stderr}`);
    return elapsed;
  };
  /** Where one executor run's time went. */
  interface Breakdown {
    total: number;
    executor: number;
    engineRun: number;
    /** The run stage's store operations before the executor ran, and after. */
    before: Span[];
    after: Span[];
    /** After the executor: until the uploads start (the report's check), the uploads, the release of the output directory. */
    check: number;
    upload: number;
    release: number;
  }
  const breakdowns: Breakdown[] = [];
  const series = {
    // The target's baseline: the same script in the same image, no harness, nothing mounted or uploaded.
    bare: bareRun([...same, '--entrypoint', 'python3', build.image_digest, '/home/amun/script'], '"ok": true'),
    // The harness as the executor starts it, nothing mounted or uploaded: splits harness from executor.
    harness: bareRun([...same, '--entrypoint', HARNESS_COMMAND[0]!, build.image_digest, ...HARNESS_COMMAND.slice(1)], ''),
    executor: async (item: number): Promise<number> => {
      await stack.idle();
      watch.engine = [];
      watch.store = [];
      watch.on = true;
      const t = performance.now();
      await pipeline.runItem(runsId, item);
      const elapsed = performance.now() - t;
      watch.on = false;
      const engineRun = watch.engine.filter((s) => s.what === 'run');
      // The run stage's own operations (not those of the index stage its result starts meanwhile).
      const own = watch.store.filter((s) => s.stage === undefined);
      const ran = last.executor ?? { what: 'executor', start: t, end: t };
      const uploads = last.writeItem ?? { what: 'writeItem', start: ran.end, end: ran.end };
      breakdowns.push({
        total: elapsed, executor: ran.end - ran.start, engineRun: sum(engineRun),
        before: own.filter((s) => s.end <= ran.start), after: own.filter((s) => s.start >= ran.end),
        check: uploads.start - ran.end, upload: uploads.end - uploads.start, release: last.release ? last.release.end - last.release.start : 0,
      });
      const result = await json<{ exit_code: number; stdout: unknown }>(layout.result(runsId, item));
      if (result?.exit_code !== 0) throw new Error(`run ${item} failed: ${JSON.stringify(result)}`);
      return elapsed;
    },
  };
  await series.bare();
  await series.harness();
  await series.executor(RUNS); // warm-up: the last item
  breakdowns.length = 0;
  const times = { executor: [] as number[], bare: [] as number[], harness: [] as number[] };
  const order = ['executor', 'bare', 'harness'] as const;
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, rotating which goes first.
    for (let k = 0; k < order.length; k++) {
      const which = order[(i + k) % order.length]!;
      times[which].push(which === 'executor' ? await series.executor(i) : await series[which]());
    }
  }
  const bareMedian = median(times.bare);
  const ratio = median(times.executor) / bareMedian;
  const harnessShare = median(times.harness) / bareMedian;
  const executorShare = median(times.executor) / median(times.harness);

  // 2. Cold stack vs reused stack, submit to finished summary.
  const stackSpec = { base: BASE, identifier: 'bench stack', packages: ['jq'], script: 'import subprocess\nsubprocess.run(["jq", "--version"], check=True)\n', run: { requests }, environment: [{ name: 'BENCH_NONCE', value: nonce }] };
  let t = performance.now();
  const coldId = await submit(stackSpec);
  const cold = await finished(coldId);
  const coldMs = performance.now() - t;
  await stack.idle();
  Object.assign(watch, { handlers: [], engine: [], store: [], finishedWritten: undefined, summaryKey: '' });
  watch.on = true;
  t = performance.now();
  const warmSubmit = submit(stackSpec);
  const warmId = await warmSubmit;
  const answered = performance.now();
  watch.summaryKey = layout.summary(warmId);
  const warm = await until(warmId, async () => {
    const s = await json<{ finished: boolean; state: string }>(layout.summary(warmId));
    return s?.finished ? s : undefined;
  }, 15 * 60_000, 5);
  const warmObserved = performance.now() - t;
  await stack.idle();
  watch.on = false;
  const warmMs = (watch.finishedWritten ?? t + warmObserved) - t;
  const warmBuild = await json<{ cached: boolean }>(layout.buildStatus(warmId));

  console.log(`\nbench:harness on ${engine.binary} (${executor.flavor}), ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), runs limited to ${requests.cpu} CPUs / ${requests.memory}`);
  const row = (label: string, xs: number[]): string => `  ${label.padEnd(62)} median ${ms(median(xs)).padStart(7)}  [${xs.map((x) => x.toFixed(0)).join(' ')}]`;
  console.log(`\nper run of a trivial script, ${RUNS} each, interleaved:`);
  console.log(row('through the container executor (pipeline run stage)', times.executor));
  console.log(row(`bare ${engine.binary} run --rm, same image, script only`, times.bare));
  console.log(row(`bare ${engine.binary} run --rm, same image, the harness (${HARNESS_COMMAND.slice(0, 3).join(' ')})`, times.harness));
  console.log(`  of which the harness in the container: ×${harnessShare.toFixed(3)}; executor and upload on top of it: ×${executorShare.toFixed(3)}`);

  const storeOps = (spans: Span[]): string => {
    const by = new Map<string, Span[]>();
    for (const s of spans) by.set(s.what, [...(by.get(s.what) ?? []), s]);
    return [...by].map(([what, xs]) => `${xs.length} ${what} ${ms(union(xs))}`).join(', ');
  };
  const listed = (spans: Span[]): string => spans.map((s) => `${s.what} ${s.key ?? ''} ${(s.end - s.start).toFixed(0)}`).join(', ');
  const b = (f: (x: Breakdown) => number): number => median(breakdowns.map(f));
  const typical = [...breakdowns].sort((x, y) => x.total - y.total)[Math.floor(breakdowns.length / 2)];
  console.log(`\n  the executor's runs taken apart (medians of ${breakdowns.length}; store operations of the median run, ms each):`);
  console.log(`    engine run (the harness, with the executor's flags and output mount)  ${ms(b((x) => x.engineRun)).padStart(7)}   (the bare harness run: ${ms(median(times.harness))})`);
  console.log(`    the executor around it (output directory, files read back)            ${ms(b((x) => x.executor - x.engineRun)).padStart(7)}`);
  console.log(`    the pipeline before the executor (store reads)                         ${ms(b((x) => union(x.before))).padStart(7)}   ${listed(typical?.before ?? [])}`);
  console.log(`    the pipeline after it                                                  ${ms(b((x) => x.total - x.executor - union(x.before))).padStart(7)}`);
  console.log(`      the report's check (validation, hardware match)                      ${ms(b((x) => x.check)).padStart(7)}`);
  console.log(`      the uploads (records.writeItem)                                      ${ms(b((x) => x.upload)).padStart(7)}   ${listed(typical?.after ?? [])}`);
  console.log(`      the output directory's release                                       ${ms(b((x) => x.release)).padStart(7)}`);

  console.log(`\ninspection of one stack (apt install of jq, batch 1), submit → finished:`);
  console.log(`  cold (built):    ${ms(coldMs)}  (${cold.state})`);
  console.log(`  cached (reused): ${ms(warmMs)}  (${warm.state}, build cached: ${warmBuild?.cached === true}; the finished summary was written ${ms(warmMs)} after the submit, seen by polling at ${ms(warmObserved)})`);
  console.log(`  speed-up ×${(coldMs / warmMs).toFixed(1)}`);
  console.log(`\n  the cached inspection, function by function (ms after the submit, which was answered at ${ms(answered - t)}):`);
  const at = (x: number): string => (x - t).toFixed(0).padStart(6);
  const spans = [...watch.handlers].sort((x, y) => x.start - y.start);
  let previous = answered;
  for (const s of spans) {
    const mine = (list: Span[]): Span[] => list.filter((x) => x.stage === s.what);
    const engineCalls = mine(watch.engine).map((x) => `${engine.binary} ${x.what} ${ms(x.end - x.start)}`).join(', ');
    const wait = s.start - previous;
    console.log(`    ${s.what.padEnd(11)} ${at(s.start)} → ${at(s.end)}  ${ms(s.end - s.start).padStart(7)}  (${wait >= 0 ? `${ms(wait)} after the one before ended` : `started ${ms(-wait)} before the one before ended`})`);
    console.log(`      store: ${storeOps(mine(watch.store)) || 'none'}${engineCalls ? `; ${engineCalls}` : ''}`);
    previous = Math.max(previous, s.end);
  }
  const end = t + warmMs;
  const busy = union([{ what: 'submit', start: t, end: answered }, ...spans.map((s) => ({ ...s, end: Math.min(s.end, end) })).filter((s) => s.start < end)]);
  console.log(`    until the finished summary: in the submit or a function ${ms(busy)}, in none (queue and S3-event delivery) ${ms(warmMs - busy)}`);

  console.log(`\ntargets:`);
  console.log(`  per run, executor / bare ${engine.binary} run ≤ ${TARGET.ratio.toFixed(2)} (aim ${TARGET.aim.toFixed(2)}): ${ratio.toFixed(3)} (${ms(median(times.executor))} vs ${ms(bareMedian)}) — ${mark(ratio <= TARGET.ratio)}`);
  console.log(`  cached-stack inspection, submit → finished, batch 1 ≤ ${TARGET.cachedOverBare}× one bare run (${ms(TARGET.cachedOverBare * bareMedian)}): ${ms(warmMs)} (${(warmMs / bareMedian).toFixed(1)}×) — ${mark(warmMs <= TARGET.cachedOverBare * bareMedian)}\n`);

  // The bench's images go; their layers stay in the engine's build cache.
  for (const id of [runsId, coldId]) {
    const status = await json<{ image: string | null }>(layout.buildStatus(id));
    if (status?.image) await engine.removeImage(status.image).catch(() => undefined);
  }
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
