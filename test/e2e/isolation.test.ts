/**
 * What a script cannot do under the process executor, on the real embedded stack with the real
 * harness: outlive its run, see the server's environment, share state with other runs, or lose
 * an output by making it large.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { running } from '../support/serve.js';
import { api, tempDir, waitFor } from '../support/stack.js';

const SECRETS = { AMUN_TEST_SECRET_TOKEN: 'tok-3b1f0c9e-secret', AWS_SECRET_ACCESS_KEY: 'aws-secret-5f2a77d1', GITHUB_TOKEN: 'ghp_notarealtoken0123456789' };

describe('process executor isolation', () => {
  const dir = tempDir('amun-isolation-');
  const probe = join(dir.path, 'probe');
  let stack: LocalStack;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    mkdirSync(probe);
    // The server's own environment holds secrets (a token, cloud credentials).
    for (const [name, value] of Object.entries(SECRETS)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    stack = await startLocalStack({ dataDir: join(dir.path, 'data'), port: 0, executor: 'process', waitTimeSeconds: 1, apiToken: SECRETS.AMUN_TEST_SECRET_TOKEN, overrides: { logIntervalMs: 100 } });
  });
  afterAll(async () => {
    await stack?.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    dir.remove();
  });

  const auth = { authorization: `Bearer ${SECRETS.AMUN_TEST_SECRET_TOKEN}` };
  const submit = async (spec: object): Promise<string> => {
    const r = await api(stack.apiUrl, 'POST', '/api/v1/inspect', spec, auth);
    expect(r.status).toBe(202);
    return r.body.inspection_id as string;
  };
  const finished = (id: string, timeoutMs = 120_000) =>
    waitFor(`${id} to finish`, async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`, undefined, auth);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, timeoutMs, 200);
  const result = async (id: string, item: number) => (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/${item}/result`, undefined, auth)).body.result;

  it('ends what a script left running past its deadline, setsid daemons included, and lists it', async () => {
    const marker = join(probe, 'survived');
    const pids = join(probe, 'daemon.pid');
    const script = [
      'import subprocess, time',
      `d = subprocess.Popen(["setsid", "sh", "-c", "sleep 240; echo survived > ${marker}"], start_new_session=True)`,
      `open(${JSON.stringify(pids)}, "w").write(str(d.pid))`,
      'time.sleep(60)',
    ].join('\n');
    const id = await submit({ base: 'fedora:40', identifier: 'deadline daemon', script, run: { deadline_seconds: 8 } });
    await finished(id);
    const report = await result(id, 0);
    expect(report).toMatchObject({ reason: 'deadline', containment: expect.stringMatching(/^(pid_namespace|subreaper)$/) });
    expect(report.killed_processes.map((p: { command: string }) => p.command)).toEqual(expect.arrayContaining([expect.stringContaining('sleep 240; echo survived')]));
    // The daemon's pid as the script saw it: in a PID namespace it names nothing outside, so check by command line too.
    await waitFor('no sleep 240 left', async () => (processesMatching('sleep 240; echo survived').length === 0 ? true : undefined), 10_000);
    expect(existsSync(pids)).toBe(true);
    expect(existsSync(marker)).toBe(false);
  }, 150_000);

  it('ends what a script left running when it exited on its own', async () => {
    // The script leaves once both sleeps run (setsid has forked its daemon and exited), so that
    // what the harness finds and lists is the same whatever the machine's speed.
    const script = [
      'import os, subprocess, time',
      'subprocess.Popen(["setsid", "sleep", "317"], start_new_session=True).wait()',
      'subprocess.Popen(["sleep", "318"])',
      'def running():',
      '    found = set()',
      '    for name in filter(str.isdigit, os.listdir("/proc")):',
      '        try:',
      '            found.add(open("/proc/%s/cmdline" % name, "rb").read())',
      '        except OSError:',
      '            pass',
      '    return {b"sleep\\x00317\\x00", b"sleep\\x00318\\x00"} <= found',
      'until = time.time() + 30',
      'while not running() and time.time() < until:',
      '    time.sleep(0.01)',
      'print("bye")',
      '',
    ].join('\n');
    const id = await submit({ base: 'fedora:40', identifier: 'leftovers', script });
    await finished(id);
    const report = await result(id, 0);
    expect(report).toMatchObject({ exit_code: 0, reason: null, stdout: 'bye\n' });
    expect(report.killed_processes.map((p: { command: string }) => p.command).sort()).toEqual(['sleep 317', 'sleep 318']);
    expect(report.message).toContain('2 processes the script left running were killed');
    expect(processesMatching('sleep 31[78]').length).toBe(0);
  }, 150_000);

  it("never shows a script the server's environment: no secret in any result or log", async () => {
    const script = [
      'import json, os',
      'found = []',
      'for pid in os.listdir("/proc"):',
      '    try:',
      '        found.append(open("/proc/%s/environ" % pid, "rb").read().decode("utf-8", "replace"))',
      '    except Exception:',
      '        pass',
      'print(json.dumps({"environ": dict(os.environ), "proc": found}))',
    ].join('\n');
    const id = await submit({ base: 'fedora:40', identifier: 'environment', batch_size: 2, script, environment: [{ name: 'MINE', value: 'visible' }] });
    await finished(id);
    for (const item of [0, 1]) {
      const report = await result(id, item);
      const log = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/${item}/log`, undefined, auth)).text;
      for (const value of Object.values(SECRETS)) {
        expect(JSON.stringify(report)).not.toContain(value);
        expect(log).not.toContain(value);
      }
      const environ = report.stdout.environ as Record<string, string>;
      expect(environ.MINE).toBe('visible');
      expect(Object.keys(environ).filter((name) => !name.startsWith('AMUN_')).sort()).toEqual(expect.arrayContaining(['HOME', 'LANG', 'PATH', 'TMPDIR']));
      // Ours, the spec's, and what the host's python3 launcher adds itself (a pyenv shim is a shell script).
      const expected = ['HOME', 'LANG', 'PATH', 'TMPDIR', 'TZ', 'MINE', 'VIRTUAL_ENV', 'PWD', 'LC_CTYPE', 'SHLVL', '_'];
      expect(Object.keys(environ).filter((name) => !expected.includes(name) && !/^(AMUN_|_?PYENV_)/.test(name))).toEqual([]);
      expect(environ.HOME).not.toBe(process.env.HOME);
    }
    // Every stored object of the inspection, not only what the API shows.
    const keys = (await stack.app.store.list(stack.app.layout.root(id))).keys;
    for (const key of keys) {
      const body = (await stack.app.store.get(key))?.toString('utf8') ?? '';
      for (const value of Object.values(SECRETS)) expect({ key, leaked: body.includes(value) }).toEqual({ key, leaked: false });
    }
  }, 150_000);

  it('gives every item, and every inspection of the same stack, its own fresh copy of the files', async () => {
    const spec = {
      base: 'fedora:40',
      identifier: 'counter',
      batch_size: 3,
      files: [{ path: '/opt/counter/n', content: '0' }],
      script: [
        'import os',
        'path = os.environ["AMUN_FILES_ROOT"] + "/opt/counter/n"',
        'n = int(open(path).read()) + 1',
        'open(path, "w").write(str(n))',
        'open("in-home", "a").write("x")',
        'print(n, len(open("in-home").read()))',
      ].join('\n'),
    };
    const first = await submit(spec);
    await finished(first);
    const again = await submit(spec);
    await finished(again);
    for (const id of [first, again]) for (const item of [0, 1, 2]) expect({ id, item, stdout: (await result(id, item)).stdout }).toEqual({ id, item, stdout: '1 1\n' });
  }, 150_000);

  it('builds one stack submitted three times at once without replacing a directory in use', async () => {
    const spec = { base: 'fedora:40', identifier: 'same stack', batch_size: 2, files: [{ path: '/data/x', content: 'same' }], script: 'import os, time\ntime.sleep(0.3)\nprint(open(os.environ["AMUN_FILES_ROOT"] + "/data/x").read())\n' };
    const ids = await Promise.all([submit(spec), submit(spec), submit(spec)]);
    const statuses = await Promise.all(ids.map((id) => finished(id)));
    for (const status of statuses) expect(status.workflow).toMatchObject({ state: 'succeeded', items_done: 2, items_failed: 0 });
    for (const id of ids) for (const item of [0, 1]) expect((await result(id, item)).stdout).toBe('same\n');
    const work = join(dir.path, 'data', 'process', 'work');
    expect(readdirSync(work).filter((name) => !name.endsWith('.lock'))).toEqual(readdirSync(work));
  }, 150_000);

  it('records 200 MB of output: the result is stored, says truncated and the byte count, and the server stays small', async () => {
    const writer = (chunks: number) => `import sys\nchunk = b"0123456789abcdef" * 65536\nfor _ in range(${chunks}):\n    sys.stdout.buffer.write(chunk)\nsys.stdout.buffer.write(b"LAST LINE\\n")\nsys.stderr.write("done\\n")\n`;
    // A first large output takes every code path once (multipart upload, truncation), so that what
    // is measured next is what 200 MB costs beyond it: memory must not grow with the output.
    await finished(await submit({ base: 'fedora:40', identifier: 'warm up', script: writer(20) }));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const multipartBefore = stack.app.store.stats.multipart;
    try {
      const id = await submit({ base: 'fedora:40', identifier: 'big output', script: writer(200) });
      const status = await finished(id, 240_000);
      expect(status.workflow).toMatchObject({ items_done: 1 });
      const report = await result(id, 0);
      expect(report).toMatchObject({ exit_code: 0, reason: null, truncated: true, output_bytes: { stdout: 200 * 1024 * 1024 + 10, stderr: 5 }, stderr: 'done\n' });
      expect(report.stdout.startsWith('0123456789abcdef')).toBe(true);
      expect(report.stdout.endsWith('LAST LINE\n')).toBe(true);
      expect(report.stdout).toMatch(/\[amun: \d+ bytes of stdout left out here; the stream had 209715210 bytes\]/);
      const log = await stack.app.store.get(stack.app.layout.resultLog(id, 0));
      expect(log!.length).toBeGreaterThan(8 * 1024 * 1024);
      expect(log!.length).toBeLessThan(8 * 1024 * 1024 + 4096);
      expect(log!.subarray(-15).toString()).toBe('LAST LINE\ndone\n');
      expect(stack.app.store.stats.multipart).toBeGreaterThan(multipartBefore);
    } finally {
      clearInterval(sampler);
    }
    const growth = (peak - before) / 2 ** 20;
    process.stderr.write(`200 MB of output: server RSS grew by ${growth.toFixed(1)} MiB at its peak\n`);
    expect(growth).toBeLessThan(50);
  }, 300_000);
});

/** Pids of host processes whose command line contains `pattern` (a regular expression). */
function processesMatching(pattern: string): number[] {
  const re = new RegExp(pattern);
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || !running(Number(name))) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (re.test(cmd) && Number(name) !== process.pid) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}
