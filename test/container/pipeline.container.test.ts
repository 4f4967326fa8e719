/**
 * Real inspections end to end on a real container engine (podman or docker; no mocks): the
 * embedded stack with `executor: 'container'`, the local Debian base image, real builds (apt,
 * pip from a loopback index) and real runs of the harness in containers.
 *
 * Needs the engine and localhost/amun-test/debian:bookworm (.ci/run makes both); skipped loudly
 * without them, and failing instead under CI=true.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BuildStatus, InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { buildWheel, startLoopbackIndex, type LoopbackIndex } from '../support/pyindex.js';
import { api, tempDir, waitFor } from '../support/stack.js';

/** Per test: a cold build of a Python stack on a slow machine takes minutes. */
const LONG = 10 * 60_000;

/** Changes every test run, so builds that must really happen (apt's output in the log) do. */
const NONCE = randomBytes(6).toString('hex');

/** The CPU of this machine, as the harness will report it: the hardware request that matches. */
function hostCpu(): { family: number; model: number } {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}\\s*:\\s*(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { family: field('cpu family'), model: field('model') };
}

describeWithEngine('container executor end to end', (engine) => {
  const dir = tempDir('amun-container-');
  let stack: LocalStack;
  let index: LoopbackIndex;
  const saved = { network: process.env.AMUN_BUILD_NETWORK };

  beforeAll(async () => {
    index = await startLoopbackIndex({
      good: [buildWheel('amun-hello', '1.0.0', { 'amun_hello/__init__.py': 'def hello():\n    return "hello from the loopback index"\n' })],
      // Same file name and version, other bytes: what a compromised index would serve.
      bad: [buildWheel('amun-hello', '1.0.0', { 'amun_hello/__init__.py': 'def hello():\n    return "tampered"\n' })],
    });
    // Builds use the host's network: the loopback index is on 127.0.0.1 of this machine.
    process.env.AMUN_BUILD_NETWORK = 'host';
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'container', waitTimeSeconds: 1, overrides: { logIntervalMs: 100 } });
    expect(stack.app.executor.kind).toBe('container');
  }, LONG);
  afterAll(async () => {
    // The stack images this suite made go; their layers stay in the engine's build cache.
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    if (saved.network === undefined) delete process.env.AMUN_BUILD_NETWORK;
    else process.env.AMUN_BUILD_NETWORK = saved.network;
    await stack?.stop();
    await index?.close();
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
  const finished = (id: string): Promise<InspectionSummary> =>
    waitFor(`${id} to finish`, async () => {
      const summary = await stored<InspectionSummary>(stack.app.layout.summary(id));
      return summary?.finished ? summary : undefined;
    }, 8 * 60_000, 250);
  const images = new Set<string>();
  const buildStatus = async (id: string): Promise<BuildStatus> => {
    const status = (await stored<BuildStatus>(stack.app.layout.buildStatus(id)))!;
    if (status.image) images.add(status.image);
    return status;
  };
  const buildLog = async (id: string): Promise<string> => (await stack.app.store.get(stack.app.layout.buildLog(id)))?.toString('utf8') ?? '';
  const results = async (id: string, n: number): Promise<RunReport[]> =>
    Promise.all(Array.from({ length: n }, async (_, item) => (await stored<RunReport>(stack.app.layout.result(id, item)))!));

  it('builds native packages, files and environment, and runs a batch of three (in parallel) with parsed stdout, hwinfo and usage', async () => {
    const cpu = hostCpu();
    const script = [
      'import json, os, socket, subprocess, time',
      'try:',
      '    socket.create_connection(("deb.debian.org", 80), timeout=3).close()',
      '    network = True',
      'except OSError:',
      '    network = False',
      't = time.time()',
      'n = 0',
      'while time.time() - t < 0.2: n += 1',
      'jq = subprocess.run(["jq", "-c", ".answer"], input=open("/etc/amun-test/data.json").read(), capture_output=True, text=True, check=True)',
      // long enough that the three overlap although their containers start one after another on a busy machine
      'time.sleep(10)',
      'print(json.dumps({"item": os.environ["AMUN_ITEM"], "greeting": os.environ["GREETING"], "jq": jq.stdout.strip(), "loops": n, "uid": os.getuid(), "network": network}))',
    ].join('\n');
    const id = await submit({
      base: BASE_IMAGE,
      identifier: 'container jq',
      packages: ['jq'],
      files: [{ path: '/etc/amun-test/data.json', content: '{"answer": 42}\n' }],
      environment: [{ name: 'GREETING', value: 'hello "world" $HOME' }, { name: 'AMUN_TEST_NONCE', value: NONCE }],
      script,
      batch_size: 3,
      run: { parallelism: 3, requests: { cpu: '1', memory: '256Mi', hardware: { cpu_family: cpu.family, cpu_model: cpu.model } } },
    });

    // The build log is in the store while the build runs, not only at its end: apt's progress
    // is readable before the build status exists.
    const streamed = await waitFor('apt output in build/log while building', async () => {
      const [log, status] = await Promise.all([stack.app.store.get(stack.app.layout.buildLog(id)), stack.app.store.exists(stack.app.layout.buildStatus(id))]);
      if (status) return 'status came first';
      return log && /Get:\d+ |Unpacking jq|Setting up jq/.test(log.toString('utf8')) ? 'streamed' : undefined;
    }, 5 * 60_000, 50);
    expect(streamed).toBe('streamed');

    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'succeeded', items_done: 3, items_failed: 0, hardware_mismatches: 0 });
    const build = await buildStatus(id);
    expect(build).toMatchObject({ state: 'succeeded', executor: 'container', cached: false, exit_code: 0, reason: null });
    expect(build.image).toBe(`localhost/amun/stack:${build.stack_digest}`);
    expect(build.image_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const log = await buildLog(id);
    expect(log).toMatch(/Setting up jq|Unpacking jq/);

    const reports = await results(id, 3);
    for (const [item, r] of reports.entries()) {
      expect(r).toMatchObject({ exit_code: 0, reason: null, executor: 'container', item, hardware_match: true, hardware_mismatches: [] });
      // No network unless the spec asks for it (run.network).
      expect(r.stdout).toEqual({ item: String(item), greeting: 'hello "world" $HOME', jq: '42', loops: expect.any(Number), uid: 1042, network: false });
      expect(r.usage.ru_utime).toBeGreaterThan(0);
      expect(r.hwinfo?.cpu_info).toMatchObject({ family: cpu.family, model: cpu.model });
      expect(r.hwinfo?.memory?.cgroup_limit_bytes).toBe(256 * 2 ** 20);
      expect(r.os_release).toMatchObject({ id: 'debian', version_id: '12' });
      const hwinfo = await stored<object>(stack.app.layout.resultHwinfo(id, item));
      expect(hwinfo).toEqual(r.hwinfo);
      const itemLog = (await stack.app.store.get(stack.app.layout.resultLog(id, item)))?.toString('utf8');
      expect(itemLog).toContain('"greeting"');
    }
    // parallelism 3: the three runs overlapped in time.
    const starts = reports.map((r) => Date.parse(r.started_at));
    const ends = reports.map((r) => Date.parse(r.finished_at));
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
    // No container is left behind.
    expect(await listContainers(engine.engine, engine.flags, id)).toEqual([]);
  }, LONG);

  it('fails a build whose package does not exist: apt\'s error in build/log, no runs, the summary final', async () => {
    const id = await submit({ base: BASE_IMAGE, identifier: 'container no such package', packages: ['amun-no-such-package'], script: 'print(1)', batch_size: 2 });
    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'failed', finished: true, build: 'failed', build_reason: 'build_failed', items_done: 0 });
    const build = await buildStatus(id);
    expect(build).toMatchObject({ state: 'failed', reason: 'build_failed', image: null, cached: false });
    expect(build.exit_code).not.toBe(0);
    expect(build.message).toContain('Unable to locate package amun-no-such-package');
    expect(await buildLog(id)).toContain('E: Unable to locate package amun-no-such-package');
    const listing = await stack.app.store.list(stack.app.layout.resultsPrefix(id));
    expect(listing.keys).toEqual([]);
  }, LONG);

  let exit3: { id: string; digest: string } | undefined;
  const exit3Spec = {
    base: BASE_IMAGE,
    identifier: 'container exit three',
    environment: [{ name: 'AMUN_TEST_NONCE', value: NONCE }],
    script: 'import sys\nprint("failing on purpose")\nsys.exit(3)\n',
    batch_size: 3,
    // A CPU family no machine has: every result records the mismatch.
    run: { requests: { hardware: { cpu_family: 4242 } } },
  };

  it('records exit code 3 for every item of a script exiting 3 and marks the finished inspection failed', async () => {
    const id = await submit(exit3Spec);
    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'failed', finished: true, items_done: 3, items_failed: 3, hardware_mismatches: 3 });
    const build = await buildStatus(id);
    expect(build).toMatchObject({ state: 'succeeded', cached: false });
    for (const r of await results(id, 3)) {
      expect(r).toMatchObject({ exit_code: 3, reason: null, stdout: 'failing on purpose\n', hardware_match: false });
      expect(r.hardware_mismatches).toEqual([{ field: 'cpu_family', requested: 4242, actual: expect.any(Number) }]);
    }
    const status = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
    expect(status.body.status.workflow).toMatchObject({ state: 'failed', finished: true });
    exit3 = { id, digest: build.stack_digest! };
  }, LONG);

  it('reuses the image of a stack built before: the second inspection skips the build', async () => {
    expect(exit3).toBeDefined();
    const id = await submit(exit3Spec);
    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'failed', items_done: 3 });
    const build = await buildStatus(id);
    expect(build).toMatchObject({ state: 'succeeded', cached: true, stack_digest: exit3!.digest, image: `localhost/amun/stack:${exit3!.digest}` });
    expect(await buildLog(id)).toContain('reusing it without a build');
    expect(await buildLog(id)).not.toContain('STEP');
  }, LONG);

  it('kills a script that sleeps past its deadline: the result says deadline', async () => {
    const id = await submit({ base: BASE_IMAGE, identifier: 'container deadline', script: 'import time\nprint("sleeping", flush=True)\ntime.sleep(120)\n', run: { deadline_seconds: 2 } });
    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'failed', items_done: 1, items_failed: 1 });
    await buildStatus(id);
    const [r] = await results(id, 1);
    expect(r).toMatchObject({ reason: 'deadline', executor: 'container' });
    expect(r!.exit_code).toBeLessThan(0);
    expect(r!.wall_time).toBeGreaterThanOrEqual(2);
    expect(r!.wall_time).toBeLessThan(30);
  }, LONG);

  const pipfileSpec = (source: 'good' | 'bad', wheelSha256: string): object => ({
    base: BASE_IMAGE,
    identifier: `container pipfile ${source}`,
    // Debian's venv and pip: micropipenv is not in Debian, so the lock is installed hash-pinned with pip.
    packages: ['python3-venv', 'python3-pip'],
    python: {
      requirements: { source: [{ name: 'loopback', url: index.url(source), verify_ssl: false }], packages: { 'amun-hello': '==1.0.0' }, requires: { python_version: '3.11' } },
      requirements_locked: {
        _meta: { sources: [{ name: 'loopback', url: index.url(source), verify_ssl: false }], requires: { python_version: '3.11' }, 'pipfile-spec': 6, hash: { sha256: '0'.repeat(64) } },
        default: { 'amun-hello': { version: '==1.0.0', hashes: [`sha256:${wheelSha256}`], index: 'loopback' } },
        develop: {},
      },
    },
    script: 'import json, sys, amun_hello\nprint(json.dumps({"hello": amun_hello.hello(), "prefix": sys.prefix}))\n',
  });
  const goodWheel = buildWheel('amun-hello', '1.0.0', { 'amun_hello/__init__.py': 'def hello():\n    return "hello from the loopback index"\n' });

  it('installs a Pipfile.lock from a package index on the loopback interface, hash-pinned', async () => {
    const id = await submit(pipfileSpec('good', goodWheel.sha256));
    const summary = await finished(id);
    await buildStatus(id);
    const log = await buildLog(id);
    expect({ summary: summary.state, build: summary.build, log: summary.build === 'failed' ? log : '' }).toEqual({ summary: 'succeeded', build: 'succeeded', log: '' });
    expect(log).toContain('installing the hash-pinned requirements generated from Pipfile.lock');
    expect(log).toMatch(/Successfully installed amun-hello-1\.0\.0/);
    expect(index.requests).toContain(`GET /good/files/${goodWheel.filename}`);
    const [r] = await results(id, 1);
    expect(r).toMatchObject({ exit_code: 0, reason: null, stdout: { hello: 'hello from the loopback index', prefix: '/home/amun/venv' } });
  }, LONG);

  it('fails the build when the index serves a wheel whose hash is not the locked one', async () => {
    // The lock pins the good wheel's hash; the "bad" index serves other bytes under the same name.
    const id = await submit(pipfileSpec('bad', goodWheel.sha256));
    const summary = await finished(id);
    expect(summary).toMatchObject({ state: 'failed', build: 'failed', build_reason: 'build_failed', items_done: 0 });
    const log = await buildLog(id);
    expect(log).toContain('THESE PACKAGES DO NOT MATCH THE HASHES');
    expect(index.requests).toContain(`GET /bad/files/${goodWheel.filename}`);
  }, LONG);
});

async function listContainers(engine: string, flags: string[], inspectionId: string): Promise<string[]> {
  const out = await run(engine, [...flags, 'ps', '--all', '--filter', `label=amun.inspection=${inspectionId}`, '--format', '{{.Names}}']);
  return out.stdout.split('\n').filter(Boolean);
}
