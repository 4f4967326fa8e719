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
 *    (same CPU/memory limits, no network), and 10 bare runs of the image as built (its entrypoint,
 *    the harness, with nothing mounted or uploaded), interleaved with the order rotating, from the
 *    same process, after one warm-up each; every timed run starts on an idle stack. Prints the
 *    medians and the ratio executor / bare script (target ≤ 1.10: harness and upload under 10 %),
 *    split into the harness's share and the executor's and upload's share.
 * 2. Stack reuse. An inspection with a native package (jq, so apt really runs) and batch 1, end
 *    to end from submit to the finished summary: cold (a stack nobody built) and then the same
 *    stack again (the image is reused without a build).
 *
 * Needs a container engine and localhost/amun-test/debian:bookworm (scripts/ci-base-image.sh).
 * Environment: BENCH_RUNS (default 10), AMUN_BASE_IMAGE.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.AMUN_LOG_LEVEL ??= 'WARN';
const { startLocalStack } = await import('../local/stack.js');
const { ContainerExecutor } = await import('../functions/adapters/executors/container.js');

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const BASE = process.env.AMUN_BASE_IMAGE ?? 'localhost/amun-test/debian:bookworm';
const TARGET_RATIO = 1.1;
const nonce = randomBytes(6).toString('hex');

const dir = mkdtempSync(join(tmpdir(), 'amun-bench-harness-'));
const stack = await startLocalStack({
  dataDir: dir,
  port: 0,
  executor: 'container',
  waitTimeSeconds: 1,
  overrides: { logIntervalMs: 250 },
  // The per-run inspection's run messages are dropped: the bench runs its items itself.
  wrapHandler: (name, handler) => async (event, context) => {
    if (name === 'run') {
      const mine = event.Records.filter((r) => (JSON.parse(r.body) as { inspection_id: string }).inspection_id.startsWith('inspection-bench-runs-'));
      if (mine.length === event.Records.length) return { batchItemFailures: [] };
    }
    return handler(event, context);
  },
});
const executor = stack.app.executor;
if (!(executor instanceof ContainerExecutor)) throw new Error('bench:harness needs the container executor');
const { store, layout, pipeline } = stack.app;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number): string => `${x.toFixed(0)} ms`;

async function submit(spec: object): Promise<string> {
  const res = await fetch(`${stack.apiUrl}/api/v1/inspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  const body = (await res.json()) as { inspection_id?: string };
  if (res.status !== 202 || !body.inspection_id) throw new Error(`submit: ${res.status} ${JSON.stringify(body)}`);
  return body.inspection_id;
}
async function json<T>(key: string): Promise<T | undefined> {
  const raw = await store.get(key);
  return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
}
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15 * 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
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
    const r = await executor.engine.exec(args);
    const elapsed = performance.now() - t;
    if (r.code !== 0 || !`${r.stdout}${r.stderr}`.includes(expect)) throw new Error(`bare run failed: ${r.code} ${r.stderr}`);
    return elapsed;
  };
  const series = {
    // The target's baseline: the same script in the same image, no harness, nothing mounted or uploaded.
    bare: bareRun([...same, '--entrypoint', 'python3', build.image_digest, '/home/amun/script'], '"ok": true'),
    // The image as built (its entrypoint is the harness), nothing mounted or uploaded: splits harness from executor.
    harness: bareRun([...same, build.image_digest], ''),
    executor: async (item: number): Promise<number> => {
      await stack.idle();
      const t = performance.now();
      await pipeline.runItem(runsId, item);
      const elapsed = performance.now() - t;
      const result = await json<{ exit_code: number; stdout: unknown }>(layout.result(runsId, item));
      if (result?.exit_code !== 0) throw new Error(`run ${item} failed: ${JSON.stringify(result)}`);
      return elapsed;
    },
  };
  await series.bare();
  await series.harness();
  await series.executor(RUNS); // warm-up: the last item
  const times = { executor: [] as number[], bare: [] as number[], harness: [] as number[] };
  const order = ['executor', 'bare', 'harness'] as const;
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, rotating which goes first.
    for (let k = 0; k < order.length; k++) {
      const which = order[(i + k) % order.length]!;
      times[which].push(which === 'executor' ? await series.executor(i) : await series[which]());
    }
  }
  const ratio = median(times.executor) / median(times.bare);
  const harnessShare = median(times.harness) / median(times.bare);
  const executorShare = median(times.executor) / median(times.harness);

  // 2. Cold stack vs reused stack, submit to finished summary.
  const stackSpec = { base: BASE, identifier: 'bench stack', packages: ['jq'], script: 'import subprocess\nsubprocess.run(["jq", "--version"], check=True)\n', run: { requests }, environment: [{ name: 'BENCH_NONCE', value: nonce }] };
  let t = performance.now();
  const coldId = await submit(stackSpec);
  const cold = await finished(coldId);
  const coldMs = performance.now() - t;
  t = performance.now();
  const warmId = await submit(stackSpec);
  const warm = await finished(warmId);
  const warmMs = performance.now() - t;
  const warmBuild = await json<{ cached: boolean }>(layout.buildStatus(warmId));

  const engine = `${executor.engine} (${executor.flavor})`;
  console.log(`\nbench:harness on ${engine}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown CPU'}), runs limited to ${requests.cpu} CPUs / ${requests.memory}`);
  const row = (label: string, xs: number[]): string => `  ${label.padEnd(58)} median ${ms(median(xs)).padStart(7)}  [${xs.map((x) => x.toFixed(0)).join(' ')}]`;
  console.log(`\nper run of a trivial script, ${RUNS} each, interleaved:`);
  console.log(row('through the container executor (pipeline run stage)', times.executor));
  console.log(row(`bare ${executor.engine} run --rm, same image, script only`, times.bare));
  console.log(row(`bare ${executor.engine} run --rm, same image, its entrypoint (harness)`, times.harness));
  console.log(`  ratio executor / bare: ${ratio.toFixed(3)} (target ≤ ${TARGET_RATIO.toFixed(2)}): ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'}`);
  console.log(`    of which the harness in the container: ×${harnessShare.toFixed(3)}; executor and upload on top of it: ×${executorShare.toFixed(3)}`);
  console.log(`\ninspection of one stack (apt install of jq, batch 1), submit → finished:`);
  console.log(`  cold (built):   ${ms(coldMs)}  (${cold.state})`);
  console.log(`  cached (reused): ${ms(warmMs)}  (${warm.state}, build cached: ${warmBuild?.cached === true})`);
  console.log(`  speed-up ×${(coldMs / warmMs).toFixed(1)}\n`);

  // The bench's images go; their layers stay in the engine's build cache.
  for (const id of [runsId, coldId]) {
    const status = await json<{ image: string | null }>(layout.buildStatus(id));
    if (status?.image) await executor.engine.removeImage(status.image).catch(() => undefined);
  }
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
