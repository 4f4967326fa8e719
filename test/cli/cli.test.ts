/**
 * The real `amun` CLI as a child process (tsx cli/amun.ts), with a temporary data directory and
 * the process executor: `run` on the embedded stack, exit codes, problems of a bad specification,
 * `dockerfile`, and submit/status/results/logs/list against `amun serve` in another process.
 * Children have pipes, not a terminal: everything they print must be plain (no ANSI codes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { amun, childEnv, repo, tsx, type Outcome } from '../support/cli.js';
import { tempDir } from '../support/stack.js';

const ANSI = /\x1b\[/;

function expectPlain(outcome: Outcome): void {
  expect(outcome.stdout).not.toMatch(ANSI);
  expect(outcome.stderr).not.toMatch(ANSI);
}

/** Table rows: lines of the plain table that start with an item number. */
function rows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => /^\d+\s{2}/.test(l))
    .map((l) => l.split(/\s{2,}/));
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('amun CLI', () => {
  const dir = tempDir('amun-cli-');
  afterAll(() => dir.remove());

  it('run hello-world: three items, succeeded, exit 0, plain output, logs in the data dir', async () => {
    const dataDir = join(dir.path, 'hello');
    const out = await amun(['run', 'examples/hello-world.yaml', '--data-dir', dataDir]);
    expect(out.stderr).not.toMatch(/amun: /);
    expect(out.code).toBe(0);
    expectPlain(out);
    expect(out.stdout).toMatch(/^item\s+exit code\s+reason\s+wall \(s\)\s+user CPU \(s\)\s+max RSS \(MiB\)\s+host\s+stdout$/m);
    const table = rows(out.stdout);
    expect(table.map((r) => [r[0], r[1]])).toEqual([
      ['0', '0'],
      ['1', '0'],
      ['2', '0'],
    ]);
    expect(out.stdout).toContain('"greeting":"hello from amun"');
    expect(out.stdout).toMatch(/^succeeded, 3 of 3 runs done, 0 failed — inspection inspection-hello-world-[0-9a-f]{8}$/m);
    expect(out.stdout).toContain(`in the embedded store of ${dataDir}`);
    // Progress: timestamped lines on stderr, one per phase change and per item; no stack logs.
    expect(out.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z submitted inspection-hello-world-/m);
    expect(out.stderr.match(/item \d finished: exit code 0/g)).toHaveLength(3);
    expect(out.stderr).toMatch(/Z finished: succeeded/);
    expect(out.stdout + out.stderr).not.toContain('"level"');
  });

  it('run: a script exiting 3 gives exit code 1 and the table shows 3', async () => {
    const spec = join(dir.path, 'fail.yaml');
    writeFileSync(spec, 'base: localhost/debian:bookworm\nidentifier: fails\nscript: |\n  import sys\n  print("about to fail")\n  sys.exit(3)\n');
    const out = await amun(['run', spec, '--data-dir', join(dir.path, 'fail')]);
    expect(out.code).toBe(1);
    expectPlain(out);
    expect(rows(out.stdout).map((r) => r.slice(0, 2))).toEqual([['0', '3']]);
    expect(out.stdout).toMatch(/^failed, 1 of 1 runs done, 1 failed/m);
  });

  it('run: an invalid specification exits 2 with one `/path: message` line per problem', async () => {
    const spec = join(dir.path, 'bad.json');
    writeFileSync(spec, JSON.stringify({ base: 'NOT AN IMAGE', batch_size: 0, colour: 'blue' }));
    const out = await amun(['run', spec, '--data-dir', join(dir.path, 'bad')]);
    expect(out.code).toBe(2);
    expectPlain(out);
    expect(out.stderr).toMatch(/^amun: invalid specification$/m);
    expect(out.stderr).toMatch(/^\s+\/base: .+$/m);
    expect(out.stderr).toMatch(/^\s+\/batch_size: must be >= 1$/m);
    expect(out.stderr).toMatch(/^\s+\/colour: .+$/m);
    expect(out.stdout).toBe('');
  });

  it('exits 2 without starting anything for unreadable input', async () => {
    const scriptFile = join(dir.path, 'script-file.yaml');
    writeFileSync(scriptFile, 'base: localhost/debian:bookworm\nscript_file: missing.py\n');
    const [yaml, missing, noScript, usage] = await Promise.all([
      amun(['submit', '-'], { input: '{"base": "x",' }),
      amun(['dockerfile', join(dir.path, 'nope.yaml')]),
      amun(['dockerfile', scriptFile]),
      amun(['status']),
    ]);
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/standard input is not valid YAML or JSON/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.yaml: ENOENT/);
    expect(noScript.code).toBe(2);
    expect(noScript.stderr).toMatch(/^\s+\/script_file: cannot read .*missing\.py/m);
    expect(usage.code).toBe(2);
    expectPlain(usage);
  });

  it('dockerfile prints the generated Dockerfile (FROM the base), from a file or stdin', async () => {
    const [out, stdin] = await Promise.all([
      amun(['dockerfile', 'examples/native-packages.yaml']),
      amun(['dockerfile', '-'], { input: '{"base": "localhost/debian:bookworm"}' }),
    ]);
    expect(out.code).toBe(0);
    expectPlain(out);
    const instructions = out.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(instructions[0]).toBe('FROM docker.io/library/python:3.12-slim');
    expect(out.stdout).toMatch(/^ENV JQ_FILTER=/m);
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toMatch(/^FROM localhost\/debian:bookworm$/m);
  });

  describe('against `amun serve`', () => {
    let server: ChildProcess;
    let url = '';
    let serverOut = '';
    let serverErr = '';
    const token = 'cli-test-token';

    beforeAll(async () => {
      server = spawn(tsx, ['cli/amun.ts', 'serve', '--port', '0', '--data-dir', join(dir.path, 'served')], { cwd: repo, env: childEnv({ AMUN_API_TOKEN: token }), stdio: ['ignore', 'pipe', 'pipe'] });
      url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${serverOut}\n${serverErr}`)), 30_000);
        // The human line goes to stderr; stdout carries the JSON log.
        server.stdout!.on('data', (d: Buffer) => (serverOut += d.toString()));
        server.stderr!.on('data', (d: Buffer) => {
          serverErr += d.toString();
          const m = /amun is listening on (http:\/\/\S+\/api\/v1)/.exec(serverErr);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${serverErr}`)));
      });
    });

    afterAll(async () => {
      if (server.exitCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.kill('SIGKILL');
        await exited;
      }
    });

    it("prints the explorer page's URL, and the page answers there", async () => {
      const origin = url.replace(/\/api\/v1$/, '');
      await new Promise((r) => setTimeout(r, 200));
      expect(serverErr).toContain(`results explorer: ${origin}/`);
      const page = await fetch(`${origin}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    });

    let id = '';
    const authed = (args: string[], options: { env?: Record<string, string> } = {}) => amun(args, { ...options, env: { AMUN_API_TOKEN: token, ...options.env } });

    it('submit needs the token, then prints the inspection id', async () => {
      const spec = join(dir.path, 'scriptless.yaml');
      writeFileSync(spec, 'base: localhost/debian:bookworm\nidentifier: no script\n');
      const denied = await amun(['submit', spec, '--url', url]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/answered 401: authorization required/);
      const out = await amun(['submit', spec], { env: { AMUN_URL: url, AMUN_API_TOKEN: token } });
      expect(out.code).toBe(0);
      expectPlain(out);
      id = out.stdout.trim();
      expect(id).toMatch(/^inspection-no-script-[0-9a-f]{8}$/);
    });

    it('status --json answers the API status until finished; results --json has no runs', async () => {
      // Reads need the token too: the CLI sends it on every request.
      const denied = await amun(['status', id, '--url', url]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/answered 401: authorization required/);
      let status: any;
      for (let i = 0; i < 60; i++) {
        const out = await authed(['status', id, '--json', '--url', url]);
        expect(out.code).toBe(0);
        status = JSON.parse(out.stdout).status;
        if (status.workflow?.finished) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(status.workflow).toMatchObject({ inspection_id: id, state: 'succeeded', build: 'succeeded', finished: true, has_script: false });
      const text = await authed(['status', id, '--url', url]);
      expect(text.stdout).toMatch(/^state\s+succeeded \(finished\)$/m);
      expectPlain(text);

      const results = await authed(['results', id, '--json', '--url', url]);
      expect(results.code).toBe(0);
      expect(JSON.parse(results.stdout)).toMatchObject({ inspection_id: id, results: [], status: { workflow: { state: 'succeeded' } } });
      const table = await authed(['results', id, '--url', url]);
      expect(table.stdout).toMatch(/^succeeded, no script — inspection inspection-no-script-/m);
      expect(table.stdout).toContain(`stored at ${url}/inspect/${id}`);

      const log = await authed(['logs', id, '--build', '--url', url]);
      expect(log.code).toBe(0);
      expect(log.stdout).toContain('process executor');
    });

    it('list shows the inspection; unknown ids exit 1', async () => {
      const out = await authed(['list', '--page', '1', '--limit', '10', '--url', url]);
      expect(out.code).toBe(0);
      expect(out.stdout.split('\n').map((l) => l.split(/\s{2,}/)[0])).toContain(id);
      const unknown = await authed(['status', 'inspection-unknown-00000000', '--url', url]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^amun: no inspection inspection-unknown-00000000/m);
    });

    it('SIGTERM stops serve gracefully', async () => {
      const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(serverErr).toMatch(/SIGTERM: stopping/);
      expect(serverErr).toMatch(/stopped/);
    });
  });

  it('a network error names the URL that failed', async () => {
    const port = await closedPort();
    const out = await amun(['status', 'inspection-x-00000000', '--url', `http://127.0.0.1:${port}`]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`cannot reach GET http://127.0.0.1:${port}/api/v1/inspect/inspection-x-00000000/status: ECONNREFUSED`);
  });
});
