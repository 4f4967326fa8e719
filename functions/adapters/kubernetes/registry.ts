/**
 * Manifest digests from the registry, over the OCI distribution API, with the registry's token
 * dance (Bearer challenge, or Basic) and, for ECR, credentials from GetAuthorizationToken signed
 * with the function's own AWS identity.
 *
 * The digest is computed here, as sha256 of the manifest bytes the registry serves (a header is not
 * taken on trust), and a by-digest reference whose bytes do not hash to it counts as "cannot tell".
 * The functions use it to record the image a build pushed and to check that a recorded image is
 * still there (images.ts); `undefined` (unreachable, refused, odd
 * answer) never counts as an image that exists.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/ports.js';
import { MANIFEST_DIGEST } from './manifests/index.js';
import { signRequest, type CredentialsProvider } from './aws-signing.js';

export interface ImageRegistry {
  /**
   * `sha256:<hex>` of the manifest `image` (a `repo:tag` or `repo@sha256:…` reference) names now;
   * null: the registry has no such manifest; undefined: could not tell.
   */
  manifestDigest(image: string): Promise<string | null | undefined>;
}

/** Manifests are small; anything larger is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface BasicCredentials {
  username: string;
  password: string;
}

export type RegistryCredentials = (host: string) => Promise<BasicCredentials | undefined>;

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export function parseImage(image: string): { host: string; repository: string; reference: string } {
  const at = image.indexOf('@');
  const nameAndTag = at >= 0 ? image.slice(0, at) : image;
  const slash = nameAndTag.indexOf('/');
  if (slash <= 0) throw new Error(`image reference without a registry host: ${image}`);
  const host = nameAndTag.slice(0, slash);
  const rest = nameAndTag.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  if (at >= 0) return { host, repository: colon >= 0 ? rest.slice(0, colon) : rest, reference: image.slice(at + 1) };
  if (colon < 0) return { host, repository: rest, reference: 'latest' };
  return { host, repository: rest.slice(0, colon), reference: rest.slice(colon + 1) };
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string | null): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[p[1]!.toLowerCase()] = p[2]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface OciRegistryOptions {
  credentials?: RegistryCredentials;
  timeoutMs?: number;
  /** Plain HTTP for these hosts (default: localhost and 127.0.0.1 with any port). */
  plainHttp?: (host: string) => boolean;
}

export class OciRegistry implements ImageRegistry {
  constructor(private readonly options: OciRegistryOptions = {}) {}

  private async request(url: string, init: RequestInit): Promise<Response> {
    return fetch(url, { ...init, redirect: 'follow', signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
  }

  async manifestDigest(image: string): Promise<string | null | undefined> {
    try {
      const { host, repository, reference } = parseImage(image);
      const byDigest = MANIFEST_DIGEST.test(reference) ? reference : undefined;
      if (reference.startsWith('sha256:') && !byDigest) return undefined;
      const plain = this.options.plainHttp ?? ((h: string) => /^(localhost|127\.0\.0\.1)(:[0-9]+)?$/.test(h));
      const url = `${plain(host) ? 'http' : 'https'}://${host}/v2/${repository}/manifests/${reference}`;
      const get = (authorization?: string): Promise<Response> =>
        this.request(url, { method: 'GET', headers: { accept: MANIFEST_TYPES, ...(authorization ? { authorization } : {}) } });
      let res = await get();
      if (res.status === 401) {
        await res.body?.cancel();
        const challenge = parseChallenge(res.headers.get('www-authenticate'));
        const creds = await this.options.credentials?.(host);
        const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
        if (challenge?.scheme === 'basic') {
          if (!basic) return undefined;
          res = await get(basic);
        } else if (challenge?.scheme === 'bearer' && challenge.params.realm) {
          const tokenUrl = new URL(challenge.params.realm);
          if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
          tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
          const tokenRes = await this.request(tokenUrl.toString(), { headers: basic ? { authorization: basic } : {} });
          if (!tokenRes.ok) return undefined;
          const body = (await tokenRes.json()) as { token?: string; access_token?: string };
          const token = body.token ?? body.access_token;
          if (!token) return undefined;
          res = await get(`Bearer ${token}`);
        } else {
          return undefined;
        }
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return undefined;
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      if (bytes.length === 0 || bytes.length > MAX_MANIFEST_BYTES) return undefined;
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      // A by-digest answer must be those very bytes: content addressing is what makes a digest safe.
      if (byDigest && digest !== byDigest) return undefined;
      return digest;
    } catch {
      return undefined;
    }
  }
}

export interface EcrCredentialsOptions {
  region: string;
  credentials: CredentialsProvider;
  clock: Clock;
  /** https://api.ecr.<region>.amazonaws.com unless given (tests). */
  endpoint?: string;
}

/** Basic credentials for ECR registries (`AWS` and a 12-hour password), cached until near expiry. */
export function ecrCredentials(options: EcrCredentialsOptions): RegistryCredentials {
  let cached: { creds: BasicCredentials; until: number } | undefined;
  return async (host) => {
    const ecr = /\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
    if (!ecr && !options.endpoint) return undefined;
    const region = ecr?.[1] ?? options.region;
    const now = options.clock.now().getTime();
    if (cached && cached.until > now) return cached.creds;
    const endpoint = new URL(options.endpoint ?? `https://api.ecr.${region}.amazonaws.com/`);
    const body = '{}';
    const headers = await signRequest({
      method: 'POST',
      host: endpoint.host,
      path: endpoint.pathname || '/',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken' },
      body,
      service: 'ecr',
      region,
      credentials: await options.credentials(),
      date: new Date(now),
    });
    const { host: _host, ...sendable } = headers;
    const res = await fetch(endpoint, { method: 'POST', headers: sendable, body, signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const answer = (await res.json()) as { authorizationData?: Array<{ authorizationToken?: string; expiresAt?: number }> };
    const data = answer.authorizationData?.[0];
    if (!data?.authorizationToken) return undefined;
    const [username, ...rest] = Buffer.from(data.authorizationToken, 'base64').toString('utf8').split(':');
    const creds = { username: username ?? 'AWS', password: rest.join(':') };
    const expires = typeof data.expiresAt === 'number' ? data.expiresAt * 1000 : now + 3600_000;
    cached = { creds, until: Math.min(expires - 10 * 60_000, now + 6 * 3600_000) };
    return creds;
  };
}
