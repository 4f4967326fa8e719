/**
 * The container executor's failure modes on a real engine, called directly (no stack): each one
 * must end in a result with a clear reason, never in a hole, and leave no container behind. Also
 * the image cleanup policies.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import type { LogSink, RunOutput } from '../../functions/core/ports.js';
import { ContainerExecutor, type ContainerExecutorOptions } from '../../functions/adapters/executors/container.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { tempDir } from '../support/stack.js';
import type { Specification } from '../../functions/core/specification.js';

const LONG = 5 * 60_000;
const NONCE = randomBytes(6).toString('hex');

class MemoryLog implements LogSink {
  text = '';
  write(chunk: string | Buffer): void {
    this.text += chunk.toString();
  }
  async flush(): Promise<void> {}
}

describeWithEngine('container executor failure modes', (engine) => {
  const dir = tempDir('amun-container-executor-');
  const options = (extra: Partial<ContainerExecutorOptions> = {}): ContainerExecutorOptions => ({ engine: engine.engine, engineFlags: engine.flags, dataDir: dir.path, ...extra });
  const executor = new ContainerExecutor(options());
  const noPython = 'localhost/amun-test/nopython:bookworm';
  let counter = 0;

  /** Tags this suite made: removed at the end (their layers stay in the engine's build cache). */
  const images = new Set<string>([noPython]);

  afterAll(async () => {
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    dir.remove();
  });

  const buildSpec = async (ex: ContainerExecutor, spec: Specification): Promise<{ status: BuildStatus; log: string }> => {
    const generated = generateBuild(spec, harnessFiles);
    const log = new MemoryLog();
    const inspectionId = `inspection-executor-${String(++counter).padStart(8, '0')}`;
    const outcome = await ex.build({ inspectionId, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log });
    if (outcome.image) images.add(outcome.image);
    return { status: { ...outcome, inspection_id: inspectionId, executor: 'container' }, log: log.text };
  };
  /** Builds the spec and runs its item 0; `runMs` is how long the run took (the build left out). */
  const runOne = async (spec: Specification, deadlineSeconds = 60, ex = executor): Promise<{ report: RunReport; output: RunOutput; status: BuildStatus; runMs: number }> => {
    const { status, log } = await buildSpec(ex, spec);
    expect({ state: status.state, log: status.state === 'succeeded' ? '' : log }).toEqual({ state: 'succeeded', log: '' });
    const started = Date.now();
    const output = await ex.runItem({ inspectionId: status.inspection_id, item: 0, spec, build: status, context: async () => [], deadlineSeconds });
    return { report: JSON.parse(output.result.toString('utf8')) as RunReport, output, status, runMs: Date.now() - started };
  };
  const containersOf = async (inspectionId: string): Promise<string[]> => {
    const out = await run(engine.engine, [...engine.flags, 'ps', '--all', '--filter', `label=amun.inspection=${inspectionId}`, '--format', '{{.Names}}']);
    return out.stdout.split('\n').filter(Boolean);
  };
  const spec = (script: string, extra: Partial<Specification> = {}): Specification => ({
    base: BASE_IMAGE, script, batch_size: 1, environment: [{ name: 'AMUN_TEST_NONCE', value: NONCE }], ...extra,
  });

  it('reports oom when the memory limit kills the script', async () => {
    const { report, status } = await runOne(spec('data = b"x" * (512 * 1024 * 1024)\nprint(len(data))\n', { run: { requests: { cpu: '1', memory: '64Mi' } } }));
    expect(report).toMatchObject({ reason: 'oom', exit_code: -9, executor: 'container' });
    expect(report.message).toContain('OOM');
    expect(await containersOf(status.inspection_id)).toEqual([]);
  }, LONG);

  it('reports no_python when the image has no python3 for the harness', async () => {
    writeFileSync(join(dir.path, 'Dockerfile.nopython'), `FROM ${BASE_IMAGE}\nRUN rm -f /usr/bin/python3 /usr/bin/python3.*\n`);
    const made = await run(engine.engine, [...engine.flags, 'build', '--tag', noPython, '--file', join(dir.path, 'Dockerfile.nopython'), dir.path]);
    expect(made.code).toBe(0);
    const { report, status } = await runOne(spec('print(1)\n', { base: noPython }));
    expect(report).toMatchObject({ reason: 'no_python', exit_code: null, executor: 'container', hwinfo: null });
    expect(report.message).toContain('no python3');
    expect(await containersOf(status.inspection_id)).toEqual([]);
  }, LONG);

  it('reports harness_error when the harness cannot write its result', async () => {
    // The script puts a directory where the harness writes its result.
    const { report } = await runOne(spec('import os\nos.makedirs("/home/amun/output/result")\n'));
    expect(report).toMatchObject({ reason: 'harness_error', executor: 'container' });
    expect(report.message).toContain('the harness wrote no result');
    expect(report.stderr).toContain('cannot write');
  }, LONG);

  it('kills a container that outlives deadline + grace and writes the deadline result itself', async () => {
    // The script ignores SIGTERM (a shell's trap: in place within milliseconds, long before the
    // deadline however busy the machine), so the harness would wait 5 s before its SIGKILL; the
    // executor's grace is 1 s.
    const ex = new ContainerExecutor(options({ killGraceSeconds: 1 }));
    const { report, status, runMs } = await runOne(spec("#!/bin/sh\ntrap '' TERM\nsleep 120\n"), 1, ex);
    expect(report).toMatchObject({ reason: 'deadline', executor: 'container' });
    expect(report.message).toContain('was killed');
    // Killed about 2 s into the run (deadline + grace), not at the script's 120 s; the build is not
    // counted, so a slow build on a busy machine cannot eat the margin.
    expect(runMs).toBeLessThan(60_000);
    expect(await containersOf(status.inspection_id)).toEqual([]);
  }, LONG);

  it("hands the run's output directory over and removes it once released, without making the pipeline wait", async () => {
    const { report, output } = await runOne(spec('print("released")\n'));
    expect(report).toMatchObject({ exit_code: 0, reason: null, stdout: 'released\n' });
    const log = output.log as { path: string; size: number };
    expect(log.path.startsWith(join(dir.path, 'runs'))).toBe(true);
    expect(existsSync(log.path)).toBe(true);
    await output.release?.();
    for (let waited = 0; existsSync(dirname(log.path)) && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(dirname(log.path))).toBe(false);
  }, LONG);

  it('removes the image after the runs with AMUN_IMAGE_CLEANUP=after-run, and keeps the N latest with lru:N', async () => {
    const afterRun = new ContainerExecutor(options({ imageCleanup: { policy: 'after-run' } }));
    const { status } = await runOne(spec('print("cleanup")\n', { environment: [{ name: 'AMUN_TEST_NONCE', value: `${NONCE}-after-run` }] }), 60, afterRun);
    expect(await afterRun.engine.imageId(status.image!)).toBeUndefined();

    const lru = new ContainerExecutor(options({ imageCleanup: { policy: 'lru', keep: 1 }, dataDir: `${dir.path}/lru` }));
    const first = await buildSpec(lru, spec('print(1)\n', { environment: [{ name: 'AMUN_TEST_NONCE', value: `${NONCE}-lru-1` }] }));
    const second = await buildSpec(lru, spec('print(2)\n', { environment: [{ name: 'AMUN_TEST_NONCE', value: `${NONCE}-lru-2` }] }));
    expect(await lru.engine.imageId(first.status.image!)).toBeUndefined();
    expect(await lru.engine.imageId(second.status.image!)).toBe(second.status.image_digest);
  }, LONG);
});
