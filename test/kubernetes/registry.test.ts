/**
 * Manifest digests from the registry: a manifest GET through the registry's Bearer challenge, Basic
 * registries with ECR credentials from a signed GetAuthorizationToken, the digest computed from the
 * bytes (never a header), by-digest answers checked against the digest asked for, and "cannot
 * tell" on errors.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ecrCredentials, OciRegistry, parseChallenge, parseImage } from '../../functions/adapters/kubernetes/registry.js';

type Answer = { status: number; headers?: Record<string, string>; body?: string };

const MANIFEST = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] });
const MANIFEST_DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

async function serve(handler: (req: IncomingMessage, body: string) => Answer): Promise<{ server: Server; url: string; host: string; seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> }> {
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const out = handler(req, body);
      res.writeHead(out.status, out.headers ?? {});
      res.end(out.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url: `http://${host}`, host, seen };
}

describe('registry manifest digests', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  it('parses references and challenges', () => {
    expect(parseImage('123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun:abc')).toEqual({ host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', repository: 'amun', reference: 'abc' });
    expect(parseImage('localhost:5000/team/amun')).toEqual({ host: 'localhost:5000', repository: 'team/amun', reference: 'latest' });
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry",scope="repository:amun:pull"')).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry', scope: 'repository:amun:pull' } });
  });

  it('follows the Bearer challenge: the digest of the bytes served for a tag; null when absent', async () => {
    const registry = await serve((req): Answer => {
      if (req.url?.startsWith('/token')) return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'T' }) };
      if (req.headers.authorization !== 'Bearer T') return { status: 401, headers: { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake",scope="repository:amun:pull"` } };
      // The header lies; the digest is computed from the body.
      return req.url === '/v2/amun/manifests/built' ? { status: 200, headers: { 'docker-content-digest': `sha256:${'0'.repeat(64)}` }, body: MANIFEST } : { status: 404 };
    });
    servers.push(registry.server);
    const oci = new OciRegistry();
    expect(await oci.manifestDigest(`${registry.host}/amun:built`)).toBe(MANIFEST_DIGEST);
    expect(await oci.manifestDigest(`${registry.host}/amun:missing`)).toBeNull();
    const get = registry.seen.find((r) => r.method === 'GET' && r.headers.authorization === 'Bearer T');
    expect(get?.headers.accept).toContain('application/vnd.oci.image.index.v1+json');
    expect(registry.seen.find((r) => r.url.startsWith('/token'))?.url).toBe('/token?service=fake&scope=repository%3Aamun%3Apull');
  });

  it('uses ECR credentials from a SigV4-signed GetAuthorizationToken for a Basic registry', async () => {
    const ecr = await serve((_req, body) => {
      expect(body).toBe('{}');
      return { status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ authorizationData: [{ authorizationToken: Buffer.from('AWS:secret-password').toString('base64'), expiresAt: Date.parse('2025-03-01T22:00:00Z') / 1000 }] }) };
    });
    servers.push(ecr.server);
    const registry = await serve((req): Answer => {
      if (req.headers.authorization !== `Basic ${Buffer.from('AWS:secret-password').toString('base64')}`) return { status: 401, headers: { 'www-authenticate': 'Basic realm="ecr"' } };
      return { status: 200, body: MANIFEST };
    });
    servers.push(registry.server);
    const credentials = ecrCredentials({ region: 'eu-west-1', credentials: async () => ({ accessKeyId: 'AKID', secretAccessKey: 'SECRET' }), clock: { now: () => new Date('2025-03-01T10:00:00Z') }, endpoint: `${ecr.url}/` });
    const oci = new OciRegistry({ credentials });
    expect(await oci.manifestDigest(`${registry.host}/amun:x`)).toBe(MANIFEST_DIGEST);
    expect(await oci.manifestDigest(`${registry.host}/amun:y`)).toBe(MANIFEST_DIGEST);
    // One token call for both checks (cached), signed for ECR.
    expect(ecr.seen).toHaveLength(1);
    expect(ecr.seen[0]!.headers).toMatchObject({ 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', 'x-amz-date': '20250301T100000Z' });
    expect(ecr.seen[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\/20250301\/eu-west-1\/ecr\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$/);
  });

  it('a by-digest answer must hash to that digest', async () => {
    const registry = await serve((req): Answer => (req.url === `/v2/amun/manifests/${MANIFEST_DIGEST}` || req.url === `/v2/amun/manifests/sha256:${'1'.repeat(64)}` ? { status: 200, body: MANIFEST } : { status: 404 }));
    servers.push(registry.server);
    const oci = new OciRegistry();
    expect(await oci.manifestDigest(`${registry.host}/amun@${MANIFEST_DIGEST}`)).toBe(MANIFEST_DIGEST);
    // Other bytes under a digest: not that image, whatever the registry says.
    expect(await oci.manifestDigest(`${registry.host}/amun@sha256:${'1'.repeat(64)}`)).toBeUndefined();
    expect(await oci.manifestDigest(`${registry.host}/amun@sha256:${'2'.repeat(64)}`)).toBeNull();
    expect(await oci.manifestDigest(`${registry.host}/amun@sha256:short`)).toBeUndefined();
  });

  it('cannot tell (undefined) when the registry is unreachable, refuses or answers oddly', async () => {
    const refusing = await serve(() => ({ status: 401, headers: { 'www-authenticate': 'Basic realm="x"' } }));
    servers.push(refusing.server);
    expect(await new OciRegistry().manifestDigest(`${refusing.host}/amun:x`)).toBeUndefined();
    expect(await new OciRegistry({ timeoutMs: 500 }).manifestDigest('127.0.0.1:1/amun:x')).toBeUndefined();
    const odd = await serve(() => ({ status: 500 }));
    servers.push(odd.server);
    expect(await new OciRegistry().manifestDigest(`${odd.host}/amun:x`)).toBeUndefined();
  });
});
