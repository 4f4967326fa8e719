/**
 * The original's specification fields through the process executor (no engine): the user's pip
 * configuration among files[] applies to the Python steps (/etc/pip.conf and ~/.config/pip/pip.conf
 * of the root user an image build runs as), constraints reach pip, a Pipfile.lock entry without
 * hashes installs, a file given relative to /home/amun is in the run's working directory, and
 * `#!/usr/bin/python3` runs with the stack's venv. pip installs from a package index on the
 * loopback interface. The same with a real engine: test/container/original-specs.container.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ProcessExecutor } from '../../functions/adapters/executors/process.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import type { LogSink } from '../../functions/core/ports.js';
import { normalizeSpecification, type Specification } from '../../functions/core/specification.js';
import { originalFieldsSpec, startOriginalIndex } from '../support/original-fields.js';
import type { LoopbackIndex } from '../support/pyindex.js';
import { tempDir } from '../support/stack.js';

const LONG = 180_000;
const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();

class MemoryLog implements LogSink {
  text = '';
  write(chunk: string | Buffer): void {
    this.text += chunk.toString();
  }
  async flush(): Promise<void> {}
}

describe('the original fields through the process executor', () => {
  const dir = tempDir('amun-original-process-');
  let index: LoopbackIndex;
  beforeAll(async () => {
    index = await startOriginalIndex();
  });
  afterAll(async () => {
    await index?.close();
    dir.remove();
  });

  const build = async (constraint: string, n: number): Promise<{ spec: Specification; outcome: Awaited<ReturnType<ProcessExecutor['build']>>; log: string; executor: ProcessExecutor; generated: ReturnType<typeof generateBuild> }> => {
    const executor = new ProcessExecutor({ dataDir: join(dir.path, `process-${n}`), python });
    const spec = normalizeSpecification(originalFieldsSpec(index, 'process/host:latest', constraint), { now: new Date(), version: 'test' });
    const generated = generateBuild(spec, harnessFiles);
    const log = new MemoryLog();
    const outcome = await executor.build({ inspectionId: `inspection-original-0000000${n}`, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log });
    return { spec, outcome, log: log.text, executor, generated };
  };

  it('applies the pip configuration of files[] and the constraints, installs the unhashed lock, and runs #!/usr/bin/python3 with the venv', async () => {
    const { spec, outcome, log, executor, generated } = await build('amun-hello<2', 1);
    expect({ state: outcome.state, log: outcome.state === 'succeeded' ? '' : log }).toEqual({ state: 'succeeded', log: '' });
    expect(log).toMatch(/-m pip install --disable-pip-version-check --no-deps -r \S+\/requirements-nohash-000\.txt\n/);
    expect(index.requests).toEqual(expect.arrayContaining(['GET /good/simple/amun-hello/', 'GET /extra/simple/amun-tool/', 'GET /extra/files/amun_url-1.0.0-py3-none-any.whl']));
    const inspectionId = 'inspection-original-00000001';
    const status = { ...outcome, inspection_id: inspectionId, executor: 'process' } as BuildStatus;
    const output = await executor.runItem({ inspectionId, item: 0, spec, build: status, context: async () => generated.context, deadlineSeconds: 60 });
    const report = JSON.parse(output.result.toString('utf8')) as RunReport;
    expect({ exit_code: report.exit_code, stderr: report.stderr }).toEqual({ exit_code: 0, stderr: '' });
    const stdout = report.stdout as { hello: string; prefix: string; data: unknown };
    expect(stdout.hello).toBe('hello from the loopback index');
    expect(stdout.data).toEqual({ n: 3 });
    expect(stdout.prefix).toBe(join(executor.workDir(generated.stackDigest), 'venv'));
    await output.release?.();
  }, LONG);

  it('fails the build when the constraints exclude the locked version', async () => {
    const { outcome, log } = await build('amun-hello>=2', 2);
    expect(outcome.state).toBe('failed');
    expect(log).toMatch(/ResolutionImpossible|conflicting dependencies|Cannot install amun-hello/);
  }, LONG);
});
