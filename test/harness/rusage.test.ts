/**
 * The harness's `usage` checked from above and below against workloads of known size (see
 * test/support/rusage.ts): the harness run directly, and through the process executor. The
 * container executor's run of the same checks is in test/container/rusage.container.test.ts.
 *
 * The harness is started with the interpreter itself (sys.executable of `python3`), not a
 * launcher such as a pyenv shim: what a launcher runs before it execs the harness is the subject
 * of the last test here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessExecutor } from '../../functions/adapters/executors/process.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import type { LogSink } from '../../functions/core/ports.js';
import { validators, toProblems } from '../../functions/core/validation.js';
import { describeUsageChecks, expectEmptyScriptFigures, measured, RUSAGE_SCRIPT, type Measured } from '../support/rusage.js';
import { tempDir } from '../support/stack.js';
import type { Specification } from '../../functions/core/specification.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entrypoint = join(repoRoot, 'functions', 'harness', 'entrypoint.py');
const LONG = 120_000;

/** The interpreter `python3` names, past any shim in front of it. */
const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();

const dir = tempDir('amun-rusage-');
afterAll(() => dir.remove());

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('AMUN_') || name === 'JOB_COMPLETION_INDEX') delete env[name];
  return { ...env, ...extra };
}

/** Runs argv to its end and returns the result the harness wrote into `output`. */
async function harnessReport(argv: string[], output: string, env: NodeJS.ProcessEnv): Promise<RunReport> {
  const ran = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  const resultPath = join(output, 'result');
  if (!existsSync(resultPath)) throw new Error(`the harness wrote no result (exit ${ran.code}): ${ran.stderr}`);
  const report = JSON.parse(readFileSync(resultPath, 'utf8')) as RunReport;
  const ok = validators.result(report);
  expect(toProblems(validators.result.errors)).toEqual([]);
  expect(ok).toBe(true);
  return report;
}

let runs = 0;
/** The harness on RUSAGE_SCRIPT as item `item`, started by `launcher` (argv before the harness's own). */
async function runHarness(item: number, launcher: (harnessArgv: string[]) => string[] = (a) => a): Promise<Measured> {
  const work = join(dir.path, `harness-${++runs}`);
  mkdirSync(work);
  const script = join(work, 'script');
  writeFileSync(script, RUSAGE_SCRIPT);
  const output = join(work, 'output');
  const argv = [python, entrypoint, '--script', script, '--output', output, '--venv', join(work, 'no-venv'), '--item', String(item), '--deadline', '100'];
  return measured(await harnessReport(launcher(argv), output, { AMUN_ITEM: String(item) }));
}

describe('usage reported by the harness run directly', () => {
  let baseline: Measured;
  let workload: Measured;
  beforeAll(async () => {
    baseline = await runHarness(0);
    workload = await runHarness(1);
  }, LONG);

  describeUsageChecks(() => ({ baseline, workload }));
});

class MemoryLog implements LogSink {
  text = '';
  write(chunk: string | Buffer): void {
    this.text += chunk.toString();
  }
  async flush(): Promise<void> {}
}

describe('usage reported through the process executor', () => {
  let baseline: Measured;
  let workload: Measured;
  beforeAll(async () => {
    const executor = new ProcessExecutor({ dataDir: join(dir.path, 'process'), python });
    const spec: Specification = { base: 'process/host:latest', script: RUSAGE_SCRIPT, batch_size: 2 };
    const generated = generateBuild(spec, harnessFiles);
    const log = new MemoryLog();
    const inspectionId = 'inspection-rusage-00000001';
    const outcome = await executor.build({ inspectionId, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log });
    expect({ state: outcome.state, log: outcome.state === 'succeeded' ? '' : log.text }).toEqual({ state: 'succeeded', log: '' });
    const build = { ...outcome, inspection_id: inspectionId, executor: 'process' } as BuildStatus;
    const runItem = async (item: number): Promise<Measured> => {
      const output = await executor.runItem({ inspectionId, item, spec, build, context: async () => generated.context, deadlineSeconds: 100 });
      const report = JSON.parse(output.result.toString('utf8')) as RunReport;
      expect(report.executor).toBe('process');
      return measured(report);
    };
    baseline = await runItem(0);
    workload = await runItem(1);
  }, LONG);

  describeUsageChecks(() => ({ baseline, workload }));
});

describe('usage is the script\'s alone', () => {
  it('leaves out what the harness\'s launcher ran before it exec\'d the harness', async () => {
    // A launcher (a shell wrapper, a pyenv shim) that runs a child of its own, here one that burns
    // 1 s of CPU and touches 200 MiB, and then execs the harness: the process keeps the usage of
    // the children it reaped before the exec in RUSAGE_CHILDREN. The empty script must still
    // report what an empty script uses.
    const before = 'import os\nblock = b"\\x01" * (200 << 20)\nwhile os.times().user < 1.0:\n    pass\n';
    const launched = await runHarness(0, (argv) => ['/bin/sh', '-c', '"$0" -c "$1" && shift && exec "$@"', python, before, ...argv]);
    expectEmptyScriptFigures(launched);
  }, LONG);
});
