import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScriptFetchError } from '../../functions/core/errors.js';
import { fetchScript, isPrivateAddress, isScriptUrl } from '../../functions/adapters/script-fetcher.js';

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
    await expect(fetchScript(`${base}/script.py`, { ...open, allowPrivateAddresses: false })).rejects.toThrow(/private or loopback/);
    await expect(fetchScript(`http://localhost:${new URL(base).port}/script.py`, { ...open, allowPrivateAddresses: false })).rejects.toThrow(/private or loopback/);
  });

  it('enforces the size cap and the timeout, and reports HTTP errors, all as /script problems', async () => {
    await expect(fetchScript(`${base}/big`, open)).rejects.toThrow(/larger than 1024 bytes/);
    await expect(fetchScript(`${base}/slow`, { ...open, timeoutMs: 300 })).rejects.toThrow(/timed out/);
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
