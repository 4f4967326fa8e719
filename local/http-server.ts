/**
 * The local API server: turns each HTTP request into the API Gateway HTTP API (payload 2.0) event
 * that AWS would deliver, and the handler's answer back into HTTP. Bodies over 1 MiB are refused
 * with 413 while they stream in, before anything is buffered past the limit.
 *
 * It answers only to the names it is served under (DNS rebinding): a request whose `Host` is not
 * a loopback name, the address it listens on, or one of `allowedHosts` (AMUN_ALLOWED_HOSTS) gets
 * 403 before anything reads it. A page of a site whose name an attacker re-points at 127.0.0.1
 * sends that site's name as `Host`, and is refused.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { ApiHandler } from '../functions/api/handler.js';
import { MAX_BODY_BYTES } from '../functions/api/http.js';

export interface HttpServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

function lambdaContext(): Context {
  const started = Date.now();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'amun-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:amun-api',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, 29_000 - (Date.now() - started)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function toEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQueryString = q < 0 ? '' : rawUrl.slice(q + 1);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  let path = rawPath;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    /* keep the raw path; the router will not match it */
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const text = body.toString('utf8');
  const binary = !Buffer.from(text, 'utf8').equals(body);
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '', userAgent: headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body.length ? { body: binary ? body.toString('base64') : text } : {}),
    isBase64Encoded: binary,
  };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The host name of a Host header value (no port, no brackets, lower case); undefined when malformed. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(header.trim());
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? '').toLowerCase().replace(/\.$/, '');
}

/** Whether a request naming `host` may be served: loopback names, the listening address, and the allowed ones (`*`: any). */
export function hostAllowed(header: string | undefined, listening: string, allowed: ReadonlyArray<string>): boolean {
  if (allowed.includes('*')) return true;
  const name = hostName(header);
  if (name === undefined) return false;
  if (LOOPBACK_NAMES.includes(name) || name.endsWith('.localhost') || (isIP(name) === 4 && name.startsWith('127.'))) return true;
  if (name === listening.toLowerCase() && !['0.0.0.0', '::'].includes(name)) return true;
  return allowed.includes(name);
}

export function startHttpServer(
  handler: ApiHandler,
  options: { port: number; host?: string; allowedHosts?: ReadonlyArray<string>; serviceVersion?: string },
): Promise<HttpServer> {
  const listening = options.host ?? '127.0.0.1';
  const allowedHosts = options.allowedHosts ?? [];
  // The answers this server gives itself (unknown host, body too large) carry the handler's version header too.
  const ownHeaders: Record<string, string> = options.serviceVersion ? { 'x-amun-version': options.serviceVersion, 'x-content-type-options': 'nosniff' } : {};
  const server = createServer((req, res) => {
    if (!hostAllowed(req.headers.host, listening, allowedHosts)) {
      const host = req.headers.host ?? '';
      const body = JSON.stringify({
        error: 'unknown host',
        parameters: {},
        problems: [{ path: '/headers/host', message: `${JSON.stringify(host)} is not a name this server answers to; add it to AMUN_ALLOWED_HOSTS to serve it` }],
      });
      res.writeHead(403, { 'content-type': 'application/json', connection: 'close', ...ownHeaders }).end(body);
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const declared = Number(req.headers['content-length'] ?? 0);
    const refuse = (): void => {
      refused = true;
      const body = JSON.stringify({ error: `request body is larger than ${MAX_BODY_BYTES} bytes`, parameters: {}, problems: [{ path: '', message: 'body too large' }] });
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close', ...ownHeaders }).end(body);
      req.resume();
    };
    if (declared > MAX_BODY_BYTES) return refuse();
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return refuse();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      handler(toEvent(req, Buffer.concat(chunks)), lambdaContext())
        .then((result) => {
          // As API Gateway does: a base64 body (binary or compressed) goes out as its bytes.
          const out = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? '');
          res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>).end(out);
        })
        .catch(() => {
          res.writeHead(500, { 'content-type': 'application/json', ...ownHeaders }).end(JSON.stringify({ error: 'internal error', parameters: {} }));
        });
    });
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, listening, () => {
      const { port } = server.address() as AddressInfo;
      const shown = listening === '0.0.0.0' || listening === '::' ? '127.0.0.1' : listening.includes(':') ? `[${listening}]` : listening;
      resolve({
        url: `http://${shown}:${port}`,
        port,
        server,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
