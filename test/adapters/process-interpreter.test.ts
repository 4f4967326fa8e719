/**
 * The process executor asks the interpreter it is given (`python3` by default) once what it is
 * (sys.executable) and starts every harness with that: a version manager's shim in front of it
 * (pyenv's runs `pyenv exec` in a shell, ~120 ms a start) runs once per executor, not once per
 * run. A venv's python stays the venv's, and a name that names nothing still ends a run with
 * `no_python`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcessExecutor } from '../../functions/adapters/executors/process.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import type { LogSink } from '../../functions/core/ports.js';
import type { Specification } from '../../functions/core/specification.js';
import { tempDir } from '../support/stack.js';

const LONG = 120_000;
const real = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
const dir = tempDir('amun-interpreter-');
afterAll(() => dir.remove());

const log: LogSink = { write: () => undefined, flush: async () => undefined };

async function runs(python: string, name: string, items: number, spec: Specification = { base: 'process/host:latest', script: 'import sys\nprint(sys.executable)\n', batch_size: items }): Promise<RunReport[]> {
  const executor = new ProcessExecutor({ dataDir: join(dir.path, name), python });
  const generated = generateBuild(spec, harnessFiles);
  const inspectionId = `inspection-${name}-00000001`;
  const outcome = await executor.build({ inspectionId, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log });
  const build = { ...outcome, inspection_id: inspectionId, executor: 'process' } as BuildStatus;
  const reports: RunReport[] = [];
  for (let item = 0; item < items; item++) {
    const output = await executor.runItem({ inspectionId, item, spec, build, context: async () => generated.context, deadlineSeconds: 100 });
    reports.push(JSON.parse(output.result.toString('utf8')) as RunReport);
    await output.release?.();
  }
  return reports;
}

describe('the process executor\'s interpreter', () => {
  it('runs a shim in front of python3 once, then the interpreter it named, for every run', async () => {
    const calls = join(dir.path, 'shim-calls');
    const shim = join(dir.path, 'python3-shim');
    writeFileSync(shim, `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${real}' "$@"\n`);
    chmodSync(shim, 0o755);
    const reports = await runs(shim, 'shim', 3);
    expect(reports.map((r) => [r.exit_code, r.reason])).toEqual([[0, null], [0, null], [0, null]]);
    // The script ran with the interpreter itself, and the shim ran once: the question.
    for (const report of reports) expect(String(report.stdout).trim()).toBe(real);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([`-I -S -c import sys; sys.stdout.write(sys.executable or "")`]);
  }, LONG);

  it('keeps a venv\'s python its own (not the file it links to)', async () => {
    const venv = join(dir.path, 'venv');
    expect(spawnSync(real, ['-m', 'venv', '--without-pip', venv]).status).toBe(0);
    const [report] = await runs(join(venv, 'bin', 'python3'), 'venv', 1);
    expect(report).toMatchObject({ exit_code: 0, reason: null });
    // The harness ran as the venv's python, so the script did too.
    expect(String(report!.stdout).trim()).toBe(join(venv, 'bin', 'python3'));
  }, LONG);

  it('ends a run with no_python when the name names nothing', async () => {
    const [report] = await runs(join(dir.path, 'no-such-python3'), 'missing', 1);
    expect(report).toMatchObject({ exit_code: null, reason: 'no_python' });
  }, LONG);
});
