/**
 * `npm run bench:batch`: one big inspection end to end on the embedded stack.
 *
 * Starts a stack (process executor, data in a temp folder), submits one inspection of a trivial
 * script (batch BENCH_BATCH, default 1,000; `run.parallelism` BENCH_PARALLELISM, default 2) and
 * waits for its summary to say finished. Prints, each beside its target with met or missed:
 *   - wall time from submit to finished (< 60 s for 1,000 runs) and results per second;
 *   - the most runs of the inspection at once (= its run.parallelism: the process executor honours
 *     it as the container executor does);
 *   - store operations per result of the index stage (constant: ≤ 5, whatever the batch), and of
 *     every stage together (the run stage's own writes included);
 *   - the floor, measured first in this process: the CPU and wall time of the two bare interpreter
 *     starts a run makes (the harness's `python3 -I -S`, the script's `python3` with its site), and
 *     the batch's wall time at that cost on min(CPUs, parallelism) CPUs, with the ratio to it;
 *   - CPU per result of the runs' processes (the harness and the script, reaped children) and of
 *     the stack's own process (every thread), which say where the wall time goes;
 *   - what was left to do once `finished` was written: index events handled after it, and how long
 *     the stack took to go idle (nothing queued: ≤ 2 s).
 * Store operations are attributed to stages with AsyncLocalStorage around each queue handler.
 *
 * Environment: BENCH_BATCH, BENCH_PARALLELISM, BENCH_MAX_SECONDS (default 600) bounds the wait.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionSummary } from '../functions/core/generated/types.js';
import { countStoreOps } from './store-ops.js';

process.env.AMUN_LOG_LEVEL ??= 'WARN';
// Imported after the log level is set: the logger reads it when its module loads.
const { startLocalStack } = await import('../local/stack.js');

const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
const PARALLELISM = Number(process.env.BENCH_PARALLELISM ?? 2);
const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 600);
const TARGET = { wallSeconds: 60 * (BATCH / 1000), indexOpsPerResult: 5, idleAfterFinishedSeconds: 2 };


const dir = mkdtempSync(join(tmpdir(), 'amun-bench-batch-'));
const stage = new AsyncLocalStorage<string>();
let finishedAt: number | undefined;
const indexEventsAfterFinished = { count: 0 };
let runsNow = 0;
let runsMax = 0;
const stack = await startLocalStack({
  dataDir: dir,
  port: 0,
  executor: 'process',
  waitTimeSeconds: 1,
  wrapHandler: (name, handler) => (event, context) =>
    stage.run(name, async () => {
      if (name === 'index' && finishedAt !== undefined) indexEventsAfterFinished.count += event.Records.length;
      return handler(event, context);
    }),
});

// Runs at once, and the time inside the executor (the rest of a run message's time is the stage's).
const executor = stack.app.executor as { runItem?: (...args: unknown[]) => Promise<unknown> };
const runItem = executor.runItem!.bind(executor);
let executorMs = 0;
executor.runItem = async (...args: unknown[]) => {
  runsMax = Math.max(runsMax, ++runsNow);
  const t = performance.now();
  try {
    return await runItem(...args);
  } finally {
    executorMs += performance.now() - t;
    runsNow--;
  }
};

const opsByStage = new Map<string, number>();
countStoreOps(stack.app.store, () => {
  const name = stage.getStore() ?? 'api';
  opsByStage.set(name, (opsByStage.get(name) ?? 0) + 1);
});

const spec = {
  base: 'docker.io/library/python:3.12-slim',
  identifier: `bench batch ${BATCH}`,
  batch_size: BATCH,
  script: 'print("hello")\n',
  run: { parallelism: PARALLELISM },
};

async function summary(id: string): Promise<InspectionSummary | undefined> {
  const raw = await stack.app.store.get(stack.app.layout.summary(id));
  return raw ? (JSON.parse(raw.toString('utf8')) as InspectionSummary) : undefined;
}

/** CPU seconds of this process (every thread: API, stages, the S3/SQS server) and of the children it reaped (the runs). */
function cpuSeconds(): { stack: number; runs: number } {
  const own = process.cpuUsage();
  // /proc/self/stat fields 16 and 17 (cutime, cstime), in clock ticks (USER_HZ, 100 on Linux).
  const fields = readFileSync('/proc/self/stat', 'latin1').split(') ')[1]!.split(' ');
  return { stack: (own.user + own.system) / 1e6, runs: (Number(fields[13]) + Number(fields[14])) / 100 };
}

/**
 * The floor, measured here first: what two bare interpreter starts cost (the harness's
 * `python3 -I -S` and the script's `python3` with its site packages, as the process executor
 * starts them), FLOOR_SAMPLES times one after another, in CPU and wall time per run.
 */
const FLOOR_SAMPLES = 40;
const interpreter = spawnSync('python3', ['-I', '-S', '-c', 'import sys; sys.stdout.write(sys.executable)'], { encoding: 'utf8' }).stdout.trim() || 'python3';
const floorCpu0 = cpuSeconds().runs;
const floorWall0 = performance.now();
for (let n = 0; n < FLOOR_SAMPLES; n++) {
  spawnSync(interpreter, ['-I', '-S', '-c', 'pass']);
  spawnSync(interpreter, ['-c', 'pass']);
}
const floor = { cpuMs: ((cpuSeconds().runs - floorCpu0) * 1000) / FLOOR_SAMPLES, wallMs: (performance.now() - floorWall0) / FLOOR_SAMPLES };
// At best the runs use every CPU (or their parallelism, if fewer) on nothing but the two interpreters.
const floorSeconds = (BATCH * floor.cpuMs) / 1000 / Math.min(cpus().length, PARALLELISM);

const cpuBefore = cpuSeconds();
const started = performance.now();
const answer = await fetch(`${stack.apiUrl}/api/v1/inspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
const body = (await answer.json()) as { inspection_id?: string };
if (answer.status !== 202 || !body.inspection_id) throw new Error(`submit answered ${answer.status}: ${JSON.stringify(body)}`);
const id = body.inspection_id;
let last: InspectionSummary | undefined;
let lastPrint = 0;
while (performance.now() - started < MAX_SECONDS * 1000) {
  // Read outside every stage: not counted against them.
  last = await stage.run('bench', () => summary(id));
  if (last?.finished) {
    finishedAt = performance.now();
    break;
  }
  if (performance.now() - lastPrint > 10_000) {
    lastPrint = performance.now();
    console.error(`bench:batch: ${last?.items_done ?? 0}/${BATCH} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  await new Promise((r) => setTimeout(r, 100));
}
if (finishedAt === undefined || !last) throw new Error(`not finished after ${MAX_SECONDS} s: ${JSON.stringify(last && { state: last.state, items_done: last.items_done })}`);
await stack.idle();
const idleAt = performance.now();
const cpuAfter = cpuSeconds();

const wall = (finishedAt - started) / 1000;
const results = last.items_done;
const perResult = (name: string) => (opsByStage.get(name) ?? 0) / results;
const allStages = [...opsByStage.entries()].filter(([name]) => name !== 'bench').reduce((a, [, n]) => a + n, 0) / results;
const rows: Array<[string, string, string, boolean | undefined]> = [
  ['wall time, submit → finished', `${wall.toFixed(1)} s`, `< ${TARGET.wallSeconds} s`, wall < TARGET.wallSeconds],
  ['results per second', (results / wall).toFixed(1), '', undefined],
  ['time per run in the executor', `${(executorMs / results).toFixed(0)} ms`, '', undefined],
  ['floor: two bare interpreter starts a run', `${floor.cpuMs.toFixed(0)} ms CPU`, `${floor.wallMs.toFixed(0)} ms wall`, undefined],
  [`floor for the batch on ${Math.min(cpus().length, PARALLELISM)} CPUs`, `${floorSeconds.toFixed(1)} s`, `wall time ×${(wall / floorSeconds).toFixed(2)}`, undefined],
  ['CPU per result: the runs (harness, script)', `${(((cpuAfter.runs - cpuBefore.runs) * 1000) / results).toFixed(0)} ms`, '', undefined],
  ['CPU per result: the stack (Node, S3/SQS)', `${(((cpuAfter.stack - cpuBefore.stack) * 1000) / results).toFixed(0)} ms`, '', undefined],
  ['runs of the inspection at once (most)', String(runsMax), `= run.parallelism ${PARALLELISM}`, runsMax === PARALLELISM],
  ['store operations per result: index stage', perResult('index').toFixed(2), `≤ ${TARGET.indexOpsPerResult}`, perResult('index') <= TARGET.indexOpsPerResult],
  ['store operations per result: run stage', perResult('run').toFixed(2), '', undefined],
  ['store operations per result: every stage', allStages.toFixed(2), '', undefined],
  ['index events handled after finished', String(indexEventsAfterFinished.count), '', undefined],
  ['idle after finished', `${((idleAt - finishedAt) / 1000).toFixed(2)} s`, `≤ ${TARGET.idleAfterFinishedSeconds} s`, (idleAt - finishedAt) / 1000 <= TARGET.idleAfterFinishedSeconds],
];
console.log(`bench:batch: one inspection, batch ${BATCH}, run.parallelism ${PARALLELISM}, process executor (${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)})`);
console.log(`state ${last.state}, ${results} results, ${last.items_failed} failed; interpreter ${interpreter}`);
const width = Math.max(...rows.map(([name]) => name.length));
for (const [name, value, target, met] of rows) console.log(`${name.padEnd(width)}  ${value.padStart(10)}  ${target.padEnd(24)}${met === undefined ? '' : met ? 'met' : 'missed'}`);
console.log(`store operations by stage: ${[...opsByStage.entries()].map(([name, n]) => `${name} ${n}`).join(', ')}`);
await stack.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(rows.some(([, , , met]) => met === false) ? 1 : 0);
