/**
 * The S3 object store against the embedded S3 (fauxqs over real HTTP, the project's emulator)
 * with the real SDK client: tags, listings longer than one page, file bodies streamed and sent in
 * parts when large, and conditional writes of which exactly one racer wins.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../functions/adapters/clients.js';
import { MULTIPART_THRESHOLD, S3ObjectStore } from '../../functions/adapters/s3-store.js';
import { BUILD_CONTEXT_TAGS } from '../../functions/core/layout.js';
import { startEmulator, type Emulator } from '../../local/emulator.js';
import { tempDir } from '../support/stack.js';

const BUCKET = 'amun-store';

describe('S3ObjectStore on the embedded S3', () => {
  const dir = tempDir('amun-store-');
  let emulator: Emulator;
  let store: S3ObjectStore;
  const client = () => makeS3Client({ region: 'us-east-1', endpoint: emulator.endpoint });

  beforeAll(async () => {
    emulator = await startEmulator({ dataDir: join(dir.path, 'storage'), bucket: BUCKET, storePrefix: 'inspections', specsPrefix: 'specs/', routes: [] });
    store = new S3ObjectStore(client(), BUCKET);
  });
  afterAll(async () => {
    await emulator.stop();
    dir.remove();
  });

  it('sends the tags a lifecycle rule matches, and none when none are given; an empty body is an empty object', async () => {
    // The embedded S3 keeps no tags (fauxqs has no GetObjectTagging): a recording proxy in front of
    // it sees what the store sends, and the objects still land in the real store behind it.
    const seen: Array<{ method: string; path: string; tagging: string | undefined; length: string | undefined }> = [];
    const target = new URL(emulator.endpoint);
    const proxy = createServer((req, res) => {
      seen.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', tagging: req.headers['x-amz-tagging'] as string | undefined, length: req.headers['content-length'] });
      const upstream = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxied = new S3ObjectStore(makeS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }), BUCKET);
    try {
      await proxied.put('inspections/inspection-a-00000000/build/context.json', '{"files":[]}', 'application/json', BUILD_CONTEXT_TAGS);
      await proxied.put('inspections/inspection-a-00000000/build/log', '');
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
    expect(seen.map((r) => [r.method, r.path, r.tagging])).toEqual([
      ['PUT', `/${BUCKET}/inspections/inspection-a-00000000/build/context.json`, 'amun-artifact=build-context'],
      ['PUT', `/${BUCKET}/inspections/inspection-a-00000000/build/log`, undefined],
    ]);
    expect(seen[1]?.length).toBe('0');
    expect((await store.get('inspections/inspection-a-00000000/build/context.json'))!.toString()).toBe('{"files":[]}');
    expect(await store.get('inspections/inspection-a-00000000/build/log')).toEqual(Buffer.alloc(0));
    expect(await store.get('inspections/inspection-a-00000000/build/nothing')).toBeUndefined();
    expect(await store.exists('inspections/inspection-a-00000000/build/log')).toBe(true);
    expect(await store.exists('inspections/inspection-a-00000000/build/nothing')).toBe(false);
  });

  it('lists past the first page: every key once, with and without a delimiter', async () => {
    const prefix = 'inspections/inspection-many-00000000/results/';
    const count = 1234;
    for (let start = 0; start < count; start += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - start) }, (_, i) => store.put(`${prefix}${start + i}/result`, '{}')));
    }
    const keys: string[] = [];
    let pages = 0;
    let token: string | undefined;
    do {
      const page = await store.list(prefix, token ? { token } : {});
      pages++;
      keys.push(...page.keys);
      token = page.nextToken;
    } while (token);
    expect(pages).toBe(2);
    expect(new Set(keys).size).toBe(count);
    const prefixes: string[] = [];
    token = undefined;
    do {
      const page = await store.list(prefix, { delimiter: '/', maxKeys: 500, ...(token ? { token } : {}) });
      prefixes.push(...page.prefixes);
      token = page.nextToken;
    } while (token);
    expect(new Set(prefixes).size).toBe(count);
  });

  it('uploads a file body: in one request up to the threshold, in parts above it, the bytes unchanged', async () => {
    const small = join(dir.path, 'small');
    const large = join(dir.path, 'large');
    const smallBytes = randomBytes(64 * 1024);
    const largeBytes = randomBytes(MULTIPART_THRESHOLD + 3 * 1024 * 1024 + 17);
    writeFileSync(small, smallBytes);
    writeFileSync(large, largeBytes);
    const before = store.stats.multipart;
    await store.put('files/small', { path: small, size: smallBytes.length }, 'text/plain');
    expect(store.stats.multipart).toBe(before);
    await store.put('files/large', { path: large, size: largeBytes.length }, 'text/plain; charset=utf-8');
    expect(store.stats.multipart).toBe(before + 1);
    expect((await store.get('files/small'))!.equals(smallBytes)).toBe(true);
    expect((await store.get('files/large'))!.equals(largeBytes)).toBe(true);
    const head = await client().send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'files/large' }));
    expect(head.ContentType).toBe('text/plain; charset=utf-8');
    expect(head.ETag).toMatch(/-\d+"$/); // a multipart ETag names its parts
  });

  it('creates a key once: of 20 racing writers exactly one wins, and the object is the winner’s', async () => {
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putIf('race/claim', `writer ${i}`, { absent: true })));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    const winner = outcomes.indexOf(true);
    expect((await store.get('race/claim'))!.toString()).toBe(`writer ${winner}`);
    expect(await store.putIf('race/claim', 'late', { absent: true })).toBe(false);
  });

  it('swaps an object only over the version read: a stale ETag loses', async () => {
    await store.put('cas/summary', 'v1');
    const first = (await store.read('cas/summary'))!;
    const second = (await store.read('cas/summary'))!;
    expect(first.etag).toBe(second.etag);
    expect(await store.putIf('cas/summary', 'v2 from first', { etag: first.etag })).toBe(true);
    expect(await store.putIf('cas/summary', 'v2 from second', { etag: second.etag })).toBe(false);
    expect((await store.get('cas/summary'))!.toString()).toBe('v2 from first');
    const racers = await Promise.all(['a', 'b', 'c', 'd'].map(async (name) => store.putIf('cas/summary', name, { etag: (await store.read('cas/summary'))!.etag })));
    expect(racers.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    expect(await store.putIf('cas/missing', 'x', { etag: first.etag })).toBe(false);
  });
});
