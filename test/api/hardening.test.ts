/**
 * The embedded stack as a laptop runs it (`amun serve`, `npm start`), attacked from a web page and
 * configured from the environment:
 * - a page of another site cannot drive it: no simple (text/plain, form) POST, no foreign Origin,
 *   no Host it does not serve (DNS rebinding), and nothing runs when they try;
 * - it listens on loopback, and refuses any other address without a token;
 * - a signal to the process a supervisor holds (`npm start`) stops the server;
 * - every documented variable has its effect through the one configuration reader.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { makeS3Client } from '../../functions/adapters/clients.js';
import { api, raw, tempDir, waitFor } from '../support/stack.js';
import { NODE, ROOT, running, serve, serveEnvironment, type Served } from '../support/serve.js';

const V1 = '/api/v1';

/** `raw` with the headers before the body, as these tests read best. */
const send = (base: string, method: string, path: string, headers: Record<string, string>, body?: string) => raw(base, method, path, body, headers);

async function stop(served: Served | undefined): Promise<void> {
  if (served && served.child.exitCode === null) {
    served.child.kill('SIGTERM');
    await served.exited;
  }
}

describe('a web page cannot drive the local stack', () => {
  const dir = tempDir('amun-page-');
  const pwned = join(dir.path, 'pwned');
  let served: Served;
  const spec = JSON.stringify({ base: 'docker.io/library/python:3.12-slim', script: `#!/bin/sh\nid > ${pwned}\n` });

  beforeAll(async () => {
    served = await serve(join(dir.path, 'data'));
  }, 90_000);
  afterAll(async () => {
    await stop(served);
    dir.remove();
  });

  const port = (): string => new URL(served.apiUrl).port;

  it.each([
    ['the attack as reported: text/plain, a foreign Origin and Host', () => ({ 'content-type': 'text/plain', origin: 'https://evil.example', host: 'evil.example' }), 403],
    ['a rebound name with a JSON body', () => ({ 'content-type': 'application/json', host: `evil.example:${port()}` }), 403],
    ['a simple text/plain POST from a page on loopback', () => ({ 'content-type': 'text/plain', host: `127.0.0.1:${port()}` }), 415],
    ['a form POST', () => ({ 'content-type': 'application/x-www-form-urlencoded', host: `localhost:${port()}` }), 415],
    ['a JSON POST from a foreign origin (what a preflight would have allowed)', () => ({ 'content-type': 'application/json', origin: 'https://evil.example', host: `127.0.0.1:${port()}` }), 403],
    ['a page served from another local port', () => ({ 'content-type': 'application/json', origin: 'http://127.0.0.1:1', host: `127.0.0.1:${port()}` }), 403],
  ])('%s → refused, nothing stored, nothing runs', async (_name, headers, status) => {
    const answer = await send(served.apiUrl, 'POST', `${V1}/inspect`, headers(), spec);
    expect(answer.status).toBe(status);
    expect(answer.body.error).toEqual(expect.any(String));
    const listing = await api(served.apiUrl, 'GET', `${V1}/inspect`);
    expect(listing.body.inspections).toEqual([]);
    expect(existsSync(pwned)).toBe(false);
  });

  it('serves its own origin, and nothing else by default', async () => {
    const own = await send(served.apiUrl, 'GET', `${V1}/version`, { origin: `http://127.0.0.1:${port()}`, host: `127.0.0.1:${port()}` });
    expect(own.status).toBe(200);
    const byName = await send(served.apiUrl, 'GET', `${V1}/version`, { host: `localhost:${port()}` });
    expect(byName.status).toBe(200);
    const otherName = await send(served.apiUrl, 'GET', `${V1}/version`, { host: `amun.test:${port()}` });
    expect(otherName.status).toBe(403);
  });
});

describe('listening', () => {
  const dir = tempDir('amun-listen-');
  afterAll(() => dir.remove());

  it('refuses a non-loopback address without a token, and says how to allow it', () => {
    const out = spawnSync(NODE, ['bin/amun.js', 'serve', '--host', '0.0.0.0'], { cwd: ROOT, env: serveEnvironment(dir.path), encoding: 'utf8', timeout: 60_000 });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('refusing to listen on 0.0.0.0 without AMUN_API_TOKEN');
    expect(out.stderr).toContain('--insecure');
  });

  it('listens on another address with a token, or with --insecure', async () => {
    for (const [env, args] of [[{ AMUN_API_TOKEN: 't0ken' }, ['--host', '0.0.0.0']], [{}, ['--host', '0.0.0.0', '--insecure']]] as const) {
      const served = await serve(join(dir.path, String(args.length)), { env, args: [...args] });
      try {
        expect((await api(served.apiUrl, 'GET', `${V1}/version`)).status).toBe(200);
      } finally {
        await stop(served);
      }
    }
  }, 120_000);

  it('listens on loopback by default', async () => {
    const served = await serve(join(dir.path, 'default'));
    try {
      expect(new URL(served.apiUrl).hostname).toBe('127.0.0.1');
    } finally {
      await stop(served);
    }
  }, 60_000);
});

describe('stopping', () => {
  const dir = tempDir('amun-stop-');
  afterAll(() => dir.remove());

  it('SIGTERM to `npm start` (the process a supervisor holds) stops the server', async () => {
    const served = await serve(dir.path, { command: ['npm', 'start', '--silent'] });
    expect(served.child.pid).not.toBe(served.pid);
    served.child.kill('SIGTERM');
    await served.exited;
    await waitFor('the server process to end', async () => (running(served.pid) ? undefined : true), 30_000, 100);
    await expect(fetch(`${served.apiUrl}${V1}/version`)).rejects.toThrow();
  }, 90_000);
});

describe('every documented variable takes effect', () => {
  const dir = tempDir('amun-config-');
  let served: Served;
  let scripts: Server;
  let scriptBase = '';
  const token = 'config-token';
  const auth = { authorization: `Bearer ${token}` };
  let storagePort = 0;

  beforeAll(async () => {
    scripts = createServer((req, res) => {
      if (req.url === '/big.py') return void res.writeHead(200).end(`print(${JSON.stringify('x'.repeat(300))})\n`);
      // Far past AMUN_SCRIPT_TIMEOUT_MS, which is itself far above what a loaded machine needs for the others.
      if (req.url === '/slow.py') return void setTimeout(() => res.writeHead(200).end('print(1)\n'), 20_000).unref();
      res.writeHead(200).end('import json\nprint(json.dumps({"from": "url"}))\n');
    });
    await new Promise<void>((r) => scripts.listen(0, '127.0.0.1', () => r()));
    scriptBase = `http://127.0.0.1:${(scripts.address() as AddressInfo).port}`;
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    storagePort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    served = await serve(join(dir.path, 'data'), {
      env: {
        AMUN_API_TOKEN: token,
        AMUN_STORE_PREFIX: 'lab/dev/inspections',
        AMUN_SPECS_PREFIX: 'drops',
        AMUN_SCRIPT_ALLOW_HTTP: 'true',
        AMUN_SCRIPT_ALLOW_PRIVATE: '1',
        AMUN_SCRIPT_MAX_BYTES: '200',
        AMUN_SCRIPT_TIMEOUT_MS: '3000',
        AMUN_ALLOWED_HOSTS: 'amun.test',
        AMUN_ALLOWED_ORIGINS: 'https://ui.example',
        AMUN_OUTPUT_LIMIT_BYTES: '2048',
        AMUN_RESULT_OUTPUT_LIMIT_BYTES: '1024',
        AMUN_STORAGE_PORT: String(storagePort),
        AMUN_LOG_LEVEL: 'DEBUG',
      },
    });
  }, 90_000);
  afterAll(async () => {
    await stop(served);
    scripts.closeAllConnections();
    await new Promise((r) => scripts.close(r));
    dir.remove();
  });

  const s3 = () => makeS3Client({ region: 'us-east-1', endpoint: served.storage });
  const submit = (spec: object, headers: Record<string, string> = auth) => send(served.apiUrl, 'POST', `${V1}/inspect`, { 'content-type': 'application/json', ...headers }, JSON.stringify(spec));
  const finished = (id: string) =>
    waitFor('the inspection to finish', async () => {
      const s = await api(served.apiUrl, 'GET', `${V1}/inspect/${id}/status`, undefined, auth);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 60_000, 200);

  it('AMUN_DATA_DIR and AMUN_STORAGE_PORT', () => {
    expect(existsSync(join(dir.path, 'data', 'storage'))).toBe(true);
    expect(new URL(served.storage).port).toBe(String(storagePort));
  });

  it('AMUN_API_TOKEN: reads and writes need it, /version does not', async () => {
    expect((await submit({ base: 'fedora:40' }, {})).status).toBe(401);
    expect((await api(served.apiUrl, 'GET', `${V1}/inspect`)).status).toBe(401);
    expect((await api(served.apiUrl, 'GET', `${V1}/version`)).status).toBe(200);
  });

  it('AMUN_STORE_PREFIX: inspections are stored under it', async () => {
    const r = await submit({ base: 'fedora:40', identifier: 'prefixed' });
    expect(r.status).toBe(202);
    const listed = await s3().send(new ListObjectsV2Command({ Bucket: 'amun', Prefix: `lab/dev/inspections/${r.body.inspection_id}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toContain(`lab/dev/inspections/${r.body.inspection_id}/build/specification`);
  });

  it('AMUN_SPECS_PREFIX: a spec dropped under it is submitted', async () => {
    await s3().send(new PutObjectCommand({ Bucket: 'amun', Key: 'drops/one.json', Body: JSON.stringify({ base: 'fedora:40', identifier: 'dropped' }) }));
    const marker = await waitFor('the consumed marker', async () => {
      try {
        const out = await s3().send(new GetObjectCommand({ Bucket: 'amun', Key: 'drops/one.consumed.json' }));
        return JSON.parse(await out.Body!.transformToString()) as { inspection_id: string };
      } catch {
        return undefined;
      }
    });
    expect(marker.inspection_id).toMatch(/^inspection-dropped-/);
  });

  it('AMUN_SCRIPT_ALLOW_HTTP and AMUN_SCRIPT_ALLOW_PRIVATE: a script from a loopback http URL is fetched', async () => {
    const r = await submit({ base: 'fedora:40', script: `${scriptBase}/ok.py` });
    expect(r.status).toBe(202);
    // The specification keeps the URL; what was fetched is recorded beside it.
    expect(r.body.parameters.script).toBe(`${scriptBase}/ok.py`);
    const served = 'import json\nprint(json.dumps({"from": "url"}))\n';
    expect(r.body.parameters['@script_fetched']).toEqual({ url: `${scriptBase}/ok.py`, sha256: createHash('sha256').update(served).digest('hex'), bytes: Buffer.byteLength(served) });
  });

  it('AMUN_SCRIPT_MAX_BYTES and AMUN_SCRIPT_TIMEOUT_MS: a larger or slower script is refused', async () => {
    const big = await submit({ base: 'fedora:40', script: `${scriptBase}/big.py` });
    expect(big.status).toBe(400);
    expect(big.body.problems).toEqual([{ path: '/script', message: 'larger than 200 bytes' }]);
    const slow = await submit({ base: 'fedora:40', script: `${scriptBase}/slow.py` });
    expect(slow.status).toBe(400);
    expect(slow.body.problems[0].path).toBe('/script');
  });

  it('AMUN_ALLOWED_HOSTS and AMUN_ALLOWED_ORIGINS: the names and origins listed are served', async () => {
    const port = new URL(served.apiUrl).port;
    expect((await send(served.apiUrl, 'GET', `${V1}/version`, { host: `amun.test:${port}` })).status).toBe(200);
    expect((await send(served.apiUrl, 'GET', `${V1}/version`, { host: `other.test:${port}` })).status).toBe(403);
    expect((await send(served.apiUrl, 'GET', `${V1}/inspect`, { ...auth, origin: 'https://ui.example' })).status).toBe(200);
    expect((await send(served.apiUrl, 'GET', `${V1}/inspect`, { ...auth, origin: 'https://ui.example.evil' })).status).toBe(403);
  });

  it('AMUN_OUTPUT_LIMIT_BYTES and AMUN_RESULT_OUTPUT_LIMIT_BYTES: outputs beyond them keep their head and tail', async () => {
    const r = await submit({ base: 'fedora:40', script: 'import sys\nsys.stdout.write("a" * 5000 + "THE END")\n' });
    expect(r.status).toBe(202);
    const id = r.body.inspection_id as string;
    await finished(id);
    const result = (await api(served.apiUrl, 'GET', `${V1}/inspect/${id}/job/0/result`, undefined, auth)).body.result;
    expect(result.truncated).toBe(true);
    expect(result.output_bytes).toEqual({ stdout: 5007, stderr: 0 });
    expect(Buffer.byteLength(JSON.stringify(result.stdout))).toBeLessThanOrEqual(1024);
    expect(result.stdout).toMatch(/^a+\n\[amun: \d+ bytes of stdout left out here; the stream had 5007 bytes\]\na*THE END$/);
    const log = (await api(served.apiUrl, 'GET', `${V1}/inspect/${id}/job/0/log`, undefined, auth)).body.log as string;
    expect(log.startsWith('a'.repeat(1024))).toBe(true);
    expect(log.endsWith('THE END')).toBe(true);
    expect(Buffer.byteLength(log)).toBeLessThan(2048 + 200);
  });

  it('AMUN_LOG_LEVEL: debug lines are written (the ingest ignoring its own markers); the token never is', async () => {
    await waitFor('a debug line', async () => (served.output().includes('"level":"DEBUG"') ? true : undefined), 30_000);
    expect(served.output()).not.toContain(token);
  });
});
