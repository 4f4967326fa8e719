import { spawnSync } from 'node:child_process';
import { createServer as createTcpServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ScriptFetchError } from '../../functions/core/errors.js';
import { UNREACHABLE, fetchScript, isPrivateAddress, isScriptUrl } from '../../functions/adapters/script-fetcher.js';

const open = { allowHttp: true, allowPrivateAddresses: true, maxBytes: 1024, timeoutMs: 2000 };

describe('fetchScript', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/script.py') return void res.end('print("hi")\n');
      if (req.url === '/big') return void res.end('x'.repeat(4096));
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/script.py' }).end();
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 5000).unref();
      if (req.url === '/latin1') return void res.end(Buffer.concat([Buffer.from('print("caf'), Buffer.from([0xe9]), Buffer.from('")\n')]));
      if (req.url === '/reset') return void req.socket.destroy();
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('fetches a script, following redirects', async () => {
    await expect(fetchScript(`${base}/script.py`, open)).resolves.toBe('print("hi")\n');
    await expect(fetchScript(`${base}/redirect`, open)).resolves.toBe('print("hi")\n');
  });

  it('refuses plain http and loopback addresses by default', async () => {
    await expect(fetchScript(`${base}/script.py`, { ...open, allowHttp: false })).rejects.toThrow(/scheme http: is not allowed/);
    await expect(fetchScript(`${base}/script.py`, { ...open, allowPrivateAddresses: false })).rejects.toThrow(UNREACHABLE);
    await expect(fetchScript(`http://localhost:${new URL(base).port}/script.py`, { ...open, allowPrivateAddresses: false })).rejects.toThrow(UNREACHABLE);
  });

  it('gives one error text for every failure to reach a host: a refused address, a closed port, a reset, a timeout, an unknown name', async () => {
    const closed = createTcpServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const problems = async (url: string, policy = open) => ((await fetchScript(url, policy).catch((e: unknown) => e)) as ScriptFetchError).problems;
    const outcomes = {
      blocked: await problems(`${base}/script.py`, { ...open, allowPrivateAddresses: false }),
      closedPort: await problems(`http://127.0.0.1:${closedPort}/script.py`),
      reset: await problems(`${base}/reset`),
      timeout: await problems(`${base}/slow`, { ...open, timeoutMs: 300 }),
      unknownName: await problems('http://no-such-host.invalid/script.py'),
    };
    for (const [what, got] of Object.entries(outcomes)) expect({ what, got }).toEqual({ what, got: [{ path: '/script', message: UNREACHABLE }] });
  });

  it("refuses every address of this host's own interfaces, private or not", async () => {
    const own = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
    expect(own.length).toBeGreaterThan(0);
    for (const address of own) expect([address, isPrivateAddress(address)]).toEqual([address, true]);
  });

  it('refuses a documentation-range address (192.0.2.x) while this host has it on an interface', async () => {
    const address = '192.0.2.77';
    expect(isPrivateAddress(address)).toBe(false);
    const added = process.getuid?.() === 0 && spawnSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo'], { stdio: 'ignore' }).status === 0;
    if (!added) {
      process.stderr.write('script fetcher: not root or no `ip`: the interface-address case ran on the existing interfaces only\n');
      return;
    }
    const local = createServer((_req, res) => res.end('print("from this host")\n'));
    try {
      await new Promise<void>((r) => local.listen(0, address, r));
      const url = `http://${address}:${(local.address() as AddressInfo).port}/script.py`;
      await expect(fetchScript(url, { ...open, allowPrivateAddresses: true })).resolves.toBe('print("from this host")\n');
      expect(isPrivateAddress(address)).toBe(true);
      const error = (await fetchScript(url, { ...open, allowPrivateAddresses: false }).catch((e: unknown) => e)) as ScriptFetchError;
      expect(error.problems).toEqual([{ path: '/script', message: UNREACHABLE }]);
    } finally {
      await new Promise((r) => local.close(r));
      spawnSync('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo'], { stdio: 'ignore' });
    }
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('refuses a script that is not UTF-8, naming the byte offset', async () => {
    const error = (await fetchScript(`${base}/latin1`, open).catch((e: unknown) => e)) as ScriptFetchError;
    expect(error).toBeInstanceOf(ScriptFetchError);
    expect(error.problems).toEqual([{ path: '/script', message: 'the document is not valid UTF-8 at byte offset 10' }]);
  });

  it('enforces the size cap, and reports HTTP errors, all as /script problems', async () => {
    await expect(fetchScript(`${base}/big`, open)).rejects.toThrow(/larger than 1024 bytes/);
    const error = await fetchScript(`${base}/missing`, open).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScriptFetchError);
    expect((error as ScriptFetchError).problems).toEqual([{ path: '/script', message: 'server answered HTTP 404' }]);
  });

  it('classifies addresses and URLs', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '0.0.0.0']) expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
    expect(isScriptUrl('https://example.org/a.py')).toBe(true);
    expect(isScriptUrl('print("https://example.org")')).toBe(false);
  });
});
