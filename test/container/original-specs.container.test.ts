/**
 * The original's specification fields in a real image build and run (podman or docker): the
 * user's pip configuration among files[] (/etc/pip.conf and root's ~/.config/pip/pip.conf) is in
 * place before the Python install and decides where pip installs from, python_packages with markers
 * and a `name @ URL` requirement, a Pipfile.lock entry without hashes, constraints that pip honours
 * (and that fail the build when they exclude the lock), a file given relative to /home/amun, and a
 * `#!/usr/bin/python3` script run with the stack's venv.
 *
 * Needs the engine and localhost/amun-test/debian:bookworm (.ci/run makes both); skipped loudly
 * without them, and failing instead under CI=true. The same spec through the process executor:
 * test/harness/original-specs.process.test.ts.
 */
import type { BuildStatus, InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import type { LoopbackIndex } from '../support/pyindex.js';
import { api, tempDir, waitFor } from '../support/stack.js';
import { originalFieldsSpec, startOriginalIndex } from '../support/original-fields.js';

const LONG = 10 * 60_000;

describeWithEngine('original specification fields in a container build', (engine) => {
  const dir = tempDir('amun-original-container-');
  let stack: LocalStack;
  let index: LoopbackIndex;
  const saved = { network: process.env.AMUN_BUILD_NETWORK };
  const images = new Set<string>();

  beforeAll(async () => {
    index = await startOriginalIndex();
    // Builds use the host's network: the loopback index is on 127.0.0.1 of this machine.
    process.env.AMUN_BUILD_NETWORK = 'host';
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'container', waitTimeSeconds: 1, overrides: { logIntervalMs: 100 } });
  }, LONG);
  afterAll(async () => {
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    if (saved.network === undefined) delete process.env.AMUN_BUILD_NETWORK;
    else process.env.AMUN_BUILD_NETWORK = saved.network;
    await stack?.stop();
    await index?.close();
    dir.remove();
  }, LONG);

  const stored = async <T>(key: string): Promise<T | undefined> => {
    const raw = await stack.app.store.get(key);
    return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
  };
  const inspect = async (constraint: string): Promise<{ id: string; summary: InspectionSummary; log: string }> => {
    // Debian's venv and pip: the stack goes into a venv, python_packages into the image's python3.
    const spec = { ...originalFieldsSpec(index, BASE_IMAGE, constraint), packages: ['python3-venv', 'python3-pip'] };
    const answer = await api(stack.apiUrl, 'POST', '/api/v1/inspect', spec);
    expect({ status: answer.status, error: answer.status === 202 ? undefined : answer.body }).toEqual({ status: 202, error: undefined });
    const id = answer.body.inspection_id as string;
    const summary = await waitFor(`${id} to finish`, async () => {
      const s = await stored<InspectionSummary>(stack.app.layout.summary(id));
      return s?.finished ? s : undefined;
    }, 8 * 60_000, 250);
    const status = await stored<BuildStatus>(stack.app.layout.buildStatus(id));
    if (status?.image) images.add(status.image);
    const log = (await stack.app.store.get(stack.app.layout.buildLog(id)))?.toString('utf8') ?? '';
    return { id, summary, log };
  };

  it('builds with the user pip configuration, the unhashed lock and the constraints, and runs #!/usr/bin/python3 with the venv', async () => {
    const { id, summary, log } = await inspect('amun-hello<2');
    expect({ state: summary.state, log: summary.build === 'failed' ? log : '' }).toEqual({ state: 'succeeded', log: '' });
    expect(log).toContain('installing Pipfile.lock entries that carry no hashes (not hash-checked)');
    expect(index.requests).toEqual(expect.arrayContaining(['GET /good/simple/amun-hello/', 'GET /extra/simple/amun-tool/', 'GET /extra/files/amun_url-1.0.0-py3-none-any.whl']));
    const report = (await stored<RunReport>(stack.app.layout.result(id, 0)))!;
    expect({ exit_code: report.exit_code, reason: report.reason, stderr: report.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
    expect(report.stdout).toEqual({ hello: 'hello from the loopback index', prefix: '/home/amun/venv', data: { n: 3 } });
  }, LONG);

  it('fails the build when the constraints exclude the locked version', async () => {
    const { summary, log } = await inspect('amun-hello>=2');
    expect(summary).toMatchObject({ state: 'failed', build: 'failed', items_done: 0 });
    expect(log).toMatch(/ResolutionImpossible|conflicting dependencies|Cannot install amun-hello/);
  }, LONG);
});
