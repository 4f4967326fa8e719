/**
 * A registry for the Kubernetes tests: the OCI distribution API's manifest endpoints over HTTP on
 * loopback (PUT by tag, GET and HEAD by tag or digest), with no authentication. Like a real one it
 * lets anyone holding push access move a tag, which is what the trusted-digest tests need.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `127.0.0.1:PORT/amun`: the repository the tests configure as AMUN_REGISTRY. */
  repository: string;
  /** Pushes a manifest under `<repository>:<tag>` (moving the tag if it exists); returns its digest. */
  push(tag: string, manifest?: string): string;
  /** The digest a tag names now. */
  digestOf(tag: string): string | undefined;
  /** Forgets a manifest (an expired image). */
  remove(digest: string): void;
  requests: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

export const manifestDigest = (bytes: string | Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let pushes = 0;

/** A manifest as a builder pushes one: unique per push, as kaniko's builds are. */
export function manifestFor(what: string): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { 'amun.test/image': what, 'amun.test/push': String(++pushes) } });
}

export async function startFakeRegistry(repositoryName = 'amun'): Promise<FakeRegistry> {
  const tags = new Map<string, string>();
  const blobs = new Map<string, Buffer>();
  const requests: Array<{ method: string; path: string }> = [];
  const put = (tag: string, body: Buffer): string => {
    const digest = manifestDigest(body);
    blobs.set(digest, body);
    tags.set(tag, digest);
    return digest;
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '' });
      const m = /^\/v2\/(.+)\/manifests\/([^/?]+)$/.exec(req.url ?? '');
      if (!m || m[1] !== repositoryName) {
        res.writeHead(404).end();
        return;
      }
      const reference = decodeURIComponent(m[2]!);
      if (req.method === 'PUT') {
        const digest = put(reference, Buffer.concat(chunks));
        res.writeHead(201, { 'docker-content-digest': digest }).end();
        return;
      }
      const digest = reference.startsWith('sha256:') ? reference : tags.get(reference);
      const body = digest ? blobs.get(digest) : undefined;
      if (!body || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest!, 'content-length': String(body.length) });
      res.end(req.method === 'GET' ? body : undefined);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    repository: `${host}/${repositoryName}`,
    push: (tag, manifest = manifestFor(tag)) => put(tag, Buffer.from(manifest, 'utf8')),
    digestOf: (tag) => tags.get(tag),
    remove: (digest) => {
      blobs.delete(digest);
      for (const [tag, d] of tags) if (d === digest) tags.delete(tag);
    },
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
