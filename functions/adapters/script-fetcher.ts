/**
 * Fetches a script given as a URL, once, at submit time, so that what is stored is reproducible.
 * Policy: https only unless allowed, a size cap, a timeout, at most 3 redirects (each re-checked),
 * and no private, loopback or link-local addresses, nor any address of this host's own
 * interfaces, unless allowed. The address check happens in the socket's DNS lookup, so a name
 * that resolves differently a second time cannot slip through.
 *
 * Every failure to reach the host (a refused address, an unknown name, a closed or filtered port,
 * a reset, a timeout, a TLS failure) gives the same error text, so that the API cannot be used to
 * map which addresses and ports exist behind it. The document must be UTF-8.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ScriptFetchPolicy } from '../config.js';
import { ScriptFetchError, SpecificationError } from '../core/errors.js';
import { decodeUtf8 } from '../core/json.js';

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8]] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/** Addresses of this host's own interfaces (read each time: interfaces come and go). */
function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) own.add(info.address.replace(/%.*$/, '').toLowerCase());
  return own;
}

/** True for private, loopback, link-local and reserved addresses, and for any address of this host. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return isPrivateAddress(mapped[1]);
  const family = isIP(address);
  if (family === 0) return true;
  if (blocked.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
  return ownAddresses().has(address.toLowerCase());
}

const problem = (message: string): ScriptFetchError => new ScriptFetchError(`script could not be fetched: ${message}`, [{ path: '/script', message }]);

/** The one text for every failure to reach the host. */
export const UNREACHABLE = 'the host could not be reached, or is not one scripts may be fetched from';

export function isScriptUrl(script: string): boolean {
  return /^https?:\/\/\S+$/i.test(script.trim());
}

export async function fetchScript(rawUrl: string, policy: ScriptFetchPolicy): Promise<string> {
  let url = rawUrl.trim();
  for (let hop = 0; hop <= 3; hop++) {
    const outcome = await fetchOnce(url, policy);
    if (outcome.kind === 'body') return outcome.text;
    url = outcome.location;
  }
  throw problem('too many redirects');
}

type Outcome = { kind: 'body'; text: string } | { kind: 'redirect'; location: string };

function fetchOnce(rawUrl: string, policy: ScriptFetchPolicy): Promise<Outcome> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return Promise.reject(problem('is not a valid URL'));
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return Promise.reject(problem(`scheme ${url.protocol} is not allowed (https only)`));
  }
  if (url.username || url.password) return Promise.reject(problem('credentials in the URL are not allowed'));
  const lookup = (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => !policy.allowPrivateAddresses && isPrivateAddress(a.address));
      if (bad) return callback(Object.assign(new Error(UNREACHABLE), { code: 'EAMUNBLOCKED' }), '', 0);
      if ((options as { all?: boolean }).all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      return callback(null, first.address, first.family);
    });
  };
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !policy.allowPrivateAddresses && isPrivateAddress(literal)) {
    return Promise.reject(problem(UNREACHABLE));
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<Outcome>((resolve, reject) => {
    const req = mod.get(url, { lookup: lookup as never, timeout: policy.timeoutMs, headers: { 'user-agent': 'amun-script-fetch' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        resolve({ kind: 'redirect', location: new URL(res.headers.location, url).toString() });
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(problem(`server answered HTTP ${status}`));
        return;
      }
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > policy.maxBytes) {
        res.destroy();
        reject(problem(`larger than ${policy.maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > policy.maxBytes) {
          res.destroy();
          reject(problem(`larger than ${policy.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        if (bytes.length === 0) return reject(problem('the document is empty'));
        try {
          resolve({ kind: 'body', text: decodeUtf8(bytes, '/script', 'the fetched script') });
        } catch (error) {
          const bad = (error as SpecificationError).problems[0]?.message ?? 'not valid UTF-8';
          reject(problem(`the document is ${bad}`));
        }
      });
      res.on('error', () => reject(problem(UNREACHABLE)));
    });
    const deadline = setTimeout(() => req.destroy(new Error('timeout')), policy.timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => reject(problem(UNREACHABLE)));
  });
}
