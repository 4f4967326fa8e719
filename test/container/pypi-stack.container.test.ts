/**
 * Python stacks from the real PyPI on a real container engine (no mocks, no loopback index):
 * examples/pipfile.yaml itself, a hash-pinned Pipfile.lock installed by the real
 * `micropipenv install --deploy`, a lock entry whose hash is not the file's, which fails the build
 * with pip's own reason, and a lock made from another Pipfile, which micropipenv refuses. (A tampered file under the locked name and version, which PyPI
 * cannot serve, is test/container/pipeline.container.test.ts's loopback index case.)
 *
 * On localhost/amun-test/debian:bookworm (there is no image registry here, so the example's
 * python:3.12-slim is replaced by it, with Debian's venv and pip): every build installs from
 * https://pypi.org/simple. A machine behind a TLS-intercepting proxy has its CA bundle and a pip
 * configuration added as `files` (test/support/pypi.ts). Needs the engine, the base image and
 * PyPI; skipped loudly without them, and failing instead under CI=true.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadSpec } from '../../cli/spec.js';
import type { BuildStatus, InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { PYPI_SIMPLE, SIX, pipTrustFiles, pipfileHash, pypiUnreachable } from '../support/pypi.js';
import { api, tempDir, waitFor } from '../support/stack.js';

const LONG = 6 * 60_000;

/** Changes every test run: a file before the Python install, so that pip really runs (the apt layer stays cached). */
const NONCE = randomBytes(6).toString('hex');

/** Debian's venv (the stack's) and pip (python_packages' micropipenv): the same layer as the other Python container tests. */
const DEBIAN_PYTHON = ['python3-venv', 'python3-pip'];

const SCRIPT = [
  'import json, sys, importlib.metadata',
  'import six',
  'print(json.dumps({"six": six.__version__, "dist": importlib.metadata.version("six"), "location": six.__file__, "prefix": sys.prefix}))',
  '',
].join('\n');

describeWithEngine('Python stacks from PyPI in a container build', (engine) => {
  const dir = tempDir('amun-pypi-');
  let stack: LocalStack;
  const images = new Set<string>();
  /** Each build its own nonce: the three locked builds run at once and would otherwise share (race for) the micropipenv layer. */
  const filesFor = (build: string): Array<{ path: string; content: string }> => [...pipTrustFiles(), { path: '/etc/amun-test/nonce', content: `${NONCE} ${build}\n` }];
  const source = [{ name: 'pypi', url: PYPI_SIMPLE, verify_ssl: true }];
  const requirements = { source, packages: { six: '==1.16.0' }, requires: { python_version: '3.11' } };
  /** six 1.16.0 locked as `pipenv lock` writes it, installed by micropipenv (in the image's python3). */
  const lockedSpec = (identifier: string, hashes: string[], pipfileSha256 = pipfileHash(requirements)): object => ({
    base: BASE_IMAGE,
    identifier,
    packages: DEBIAN_PYTHON,
    files: filesFor(identifier),
    python_packages: ['micropipenv==1.10.0'],
    package_manager: 'micropipenv',
    python: {
      requirements,
      requirements_locked: {
        _meta: { hash: { sha256: pipfileSha256 }, 'pipfile-spec': 6, requires: { python_version: '3.11' }, sources: source },
        default: { six: { version: '==1.16.0', hashes: hashes.map((h) => `sha256:${h}`), index: 'pypi' } },
        develop: {},
      },
    },
    script: SCRIPT,
  });
  /** Submitted together in beforeAll (their builds overlap), awaited by the tests. */
  const submitted: Record<'example' | 'locked' | 'wrongHash' | 'stale', Promise<string>> = {} as never;
  /** The Pipfile a stale lock was made from: six pinned to another version. */
  const stalePipfileHash = pipfileHash({ ...requirements, packages: { six: '==1.15.0' } });

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'container', waitTimeSeconds: 1, overrides: { logIntervalMs: 100 } });
    expect(stack.app.executor.kind).toBe('container');
    const { spec: example } = await loadSpec(join(process.cwd(), 'examples', 'pipfile.yaml'));
    submitted.example = submit({ ...example, base: BASE_IMAGE, packages: DEBIAN_PYTHON, files: filesFor('example') });
    submitted.locked = submit(lockedSpec('pypi six locked', [SIX['1.16.0'].wheel, SIX['1.16.0'].sdist]));
    // A real PyPI hash, of another file (six 1.15.0's wheel): what a stale or hand-edited lock holds.
    submitted.wrongHash = submit(lockedSpec('pypi six wrong hash', [SIX['1.15.0'].wheel]));
    submitted.stale = submit(lockedSpec('pypi six stale lock', [SIX['1.16.0'].wheel, SIX['1.16.0'].sdist], stalePipfileHash));
    await Promise.all(Object.values(submitted));
  }, LONG);
  afterAll(async () => {
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    await stack?.stop();
    dir.remove();
  }, LONG);

  const submit = async (spec: object): Promise<string> => {
    const answer = await api(stack.apiUrl, 'POST', '/api/v1/inspect', spec);
    expect({ status: answer.status, error: answer.status === 202 ? undefined : answer.body }).toEqual({ status: 202, error: undefined });
    return answer.body.inspection_id as string;
  };
  const stored = async <T>(key: string): Promise<T | undefined> => {
    const raw = await stack.app.store.get(key);
    return raw ? (JSON.parse(raw.toString('utf8')) as T) : undefined;
  };
  const finished = async (which: keyof typeof submitted): Promise<{ id: string; summary: InspectionSummary; build: BuildStatus; log: string }> => {
    const id = await submitted[which];
    const summary = await waitFor(`${id} to finish`, async () => {
      const s = await stored<InspectionSummary>(stack.app.layout.summary(id));
      return s?.finished ? s : undefined;
    }, LONG - 30_000, 250);
    const build = (await stored<BuildStatus>(stack.app.layout.buildStatus(id)))!;
    if (build.image) images.add(build.image);
    const log = (await stack.app.store.get(stack.app.layout.buildLog(id)))?.toString('utf8') ?? '';
    return { id, summary, build, log };
  };
  const result = async (id: string): Promise<RunReport> => (await stored<RunReport>(stack.app.layout.result(id, 0)))!;

  it('builds and runs examples/pipfile.yaml: six 1.15.0 from PyPI, hash-checked by pip, in the venv', async () => {
    const { id, summary, build, log } = await finished('example');
    expect({ state: summary.state, build: summary.build, log: summary.build === 'failed' ? log : '' }).toEqual({ state: 'succeeded', build: 'succeeded', log: '' });
    expect(build).toMatchObject({ state: 'succeeded', executor: 'container', cached: false, exit_code: 0, reason: null });
    // Debian has no micropipenv: the lock goes to pip as hash-pinned requirements, from PyPI.
    expect(log).toContain('installing the hash-pinned requirements generated from Pipfile.lock');
    expect(log).toMatch(/Downloading six-1\.15\.0-py2\.py3-none-any\.whl/);
    expect(log).toContain('Successfully installed six-1.15.0');
    const r = await result(id);
    expect({ exit_code: r.exit_code, reason: r.reason, stderr: r.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
    expect(r.stdout).toEqual({ six: '1.15.0', location: expect.stringMatching(/^\/home\/amun\/venv\/lib\/python3\.\d+\/site-packages\/six\.py$/), python: expect.any(String), prefix: '/home/amun/venv' });
  }, LONG);

  it('installs a real hash-pinned Pipfile.lock with micropipenv install --deploy and runs the locked version', async () => {
    const { id, summary, build, log } = await finished('locked');
    expect({ state: summary.state, build: summary.build, log: summary.build === 'failed' ? log : '' }).toEqual({ state: 'succeeded', build: 'succeeded', log: '' });
    expect(build).toMatchObject({ state: 'succeeded', cached: false, reason: null });
    expect(log).toMatch(/Successfully installed micropipenv-1\.10\.0/);
    expect(log).toContain('amun: installing Pipfile.lock with micropipenv install --deploy');
    expect(log).toMatch(/Downloading six-1\.16\.0-py2\.py3-none-any\.whl/);
    expect(log).toContain('Successfully installed six-1.16.0');
    const r = await result(id);
    expect({ exit_code: r.exit_code, reason: r.reason, stderr: r.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
    expect(r.stdout).toEqual({ six: '1.16.0', dist: '1.16.0', location: expect.stringMatching(/^\/home\/amun\/venv\/.*\/six\.py$/), prefix: '/home/amun/venv' });
  }, LONG);

  it('fails the build when the file PyPI serves does not have a locked hash, and records why', async () => {
    const { id, summary, build, log } = await finished('wrongHash');
    expect(summary).toMatchObject({ state: 'failed', finished: true, build: 'failed', build_reason: 'build_failed', items_done: 0 });
    expect(build).toMatchObject({ state: 'failed', reason: 'build_failed', image: null, cached: false });
    expect(build.exit_code).not.toBe(0);
    expect(build.message).toContain('THESE PACKAGES DO NOT MATCH THE HASHES');
    expect(log).toContain('THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE');
    expect(log).toContain(`Expected sha256 ${SIX['1.15.0'].wheel}`);
    expect(log).toContain(`Got        ${SIX['1.16.0'].wheel}`);
    expect(await stack.app.store.list(stack.app.layout.resultsPrefix(id))).toMatchObject({ keys: [] });
  }, LONG);

  it('fails the build when the lock was made from another Pipfile: micropipenv --deploy refuses it, and the reason is recorded', async () => {
    const { summary, build, log } = await finished('stale');
    expect(summary).toMatchObject({ state: 'failed', build: 'failed', build_reason: 'build_failed', items_done: 0 });
    const refusal = `Pipfile.lock hash '${stalePipfileHash}' does not correspond to hash computed based on Pipfile '${pipfileHash(requirements)}', aborting deployment`;
    expect(log).toContain(refusal);
    expect(log).not.toContain('Successfully installed six');
    expect(build.message).toContain(refusal);
  }, LONG);
}, pypiUnreachable);
