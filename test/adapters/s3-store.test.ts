import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeS3Client } from '../../functions/adapters/clients.js';
import { S3ObjectStore } from '../../functions/adapters/s3-store.js';
import { BUILD_CONTEXT_TAGS } from '../../functions/core/layout.js';

describe('S3ObjectStore.put', () => {
  let server: Server;
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  let store: S3ObjectStore;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { etag: '"x"' }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    store = new S3ObjectStore(makeS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }), 'bucket');
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('sends the object tags a lifecycle rule matches, and no tags when none are given', async () => {
    await store.put('inspections/inspection-a-00000000/build/context.json', '{"files":[]}', 'application/json', BUILD_CONTEXT_TAGS);
    await store.put('inspections/inspection-a-00000000/build/log', '');
    expect(seen.map((r) => [r.method, r.url.split('?')[0], r.headers['x-amz-tagging']])).toEqual([
      ['PUT', '/bucket/inspections/inspection-a-00000000/build/context.json', 'amun-artifact=build-context'],
      ['PUT', '/bucket/inspections/inspection-a-00000000/build/log', undefined],
    ]);
    expect(seen[1]?.headers['content-length']).toBe('0');
  });
});
