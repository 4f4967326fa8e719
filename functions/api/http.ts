/**
 * HTTP edge: errors mapped to status codes in one place, JSON answers, and the small middlewares
 * the API uses (each one job). Domain errors never leak internals: anything unexpected is a plain 500.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { timingSafeEqual } from 'node:crypto';
import { NotFoundError, SpecificationError, type Problem } from '../core/errors.js';
import { decodeUtf8 } from '../core/json.js';
import type { Logger } from '../logger.js';
import { CORS_POLICY, GATEWAY_PROXY_PARAMETER } from './paths.js';

export type HttpResult = APIGatewayProxyStructuredResultV2;

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const MAX_BODY_BYTES = 1024 * 1024;

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * Parameters echoed back on every answer, errors included (path and query parameters), without
 * the gateway's greedy path parameter: behind `{proxy+}` every event carries the whole path in it.
 */
export function echoed(event: APIGatewayProxyEventV2): Record<string, unknown> {
  const { [GATEWAY_PROXY_PARAMETER]: _gateway, ...path } = event.pathParameters ?? {};
  return { ...(event.queryStringParameters ?? {}), ...path };
}

export function errorAnswer(error: unknown, parameters: Record<string, unknown>, logger: Logger): HttpResult {
  if (error instanceof SpecificationError) return json(400, { error: error.message, parameters, problems: error.problems });
  if (error instanceof NotFoundError) return json(404, { error: error.message, parameters, problems: [] });
  if (error instanceof HttpError) {
    return json(error.statusCode, { error: error.message, parameters, problems: error.problems }, error.statusCode === 401 ? { 'www-authenticate': 'Bearer' } : {});
  }
  const status = (error as { statusCode?: number })?.statusCode;
  if (status === 404) return json(404, { error: 'no such endpoint', parameters, problems: [] });
  logger.error('unexpected error', { error: error as Error });
  return json(500, { error: 'internal error', parameters, problems: [] });
}

/** Rejects bodies over 1 MiB with 413 before anything parses them. */
export function bodyLimit(max = MAX_BODY_BYTES): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    before: async ({ event }) => {
      if (event.body === undefined) return;
      const size = event.isBase64Encoded ? Math.floor((event.body.length * 3) / 4) : Buffer.byteLength(event.body, 'utf8');
      if (size > max) throw new HttpError(413, `request body is larger than ${max} bytes`, [{ path: '', message: `${size} bytes exceed the limit of ${max}` }]);
    },
  };
}

/**
 * When a token is configured, every endpoint but the public ones (the version, health checks)
 * requires `Authorization: Bearer <token>`: reads too, since specifications carry environment
 * values and results carry whatever scripts printed.
 */
export function bearerAuth(token: string | undefined, publicPaths: ReadonlySet<string> | ((path: string) => boolean)): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  const expected = token ? Buffer.from(`Bearer ${token}`) : undefined;
  const isPublic = typeof publicPaths === 'function' ? publicPaths : (path: string) => publicPaths.has(path);
  return {
    before: async ({ event }) => {
      if (!expected || isPublic(event.requestContext.http.path)) return;
      const given = Buffer.from(event.headers?.authorization ?? event.headers?.Authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new HttpError(401, 'authorization required', [{ path: '/headers/authorization', message: 'expected a valid Bearer token' }]);
      }
    },
  };
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** Whether `origin` names the host the request was sent to (scheme-insensitive: TLS may end before us). */
function sameOrigin(origin: string, host: string): boolean {
  try {
    const url = new URL(origin);
    return url.origin === origin && url.host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Requests sent by a page of another origin are refused (403): a browser names the page's origin
 * in `Origin` on every cross-origin request and on every POST, and only the API's own origin
 * (scheme and host of the request) or one listed in AMUN_ALLOWED_ORIGINS may drive it. Requests
 * without `Origin` (curl, SDKs, the CLI) are not from a page and pass.
 */
export function originGuard(allowedOrigins: ReadonlyArray<string>): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  const allowed = new Set(allowedOrigins);
  return {
    before: async ({ event }) => {
      const origin = header(event, 'origin');
      if (origin === undefined || allowed.has(origin)) return;
      if (!sameOrigin(origin, header(event, 'host') ?? event.requestContext.domainName)) {
        throw new HttpError(403, 'cross-origin request refused', [{ path: '/headers/origin', message: `${origin} is not this API's origin; list it in AMUN_ALLOWED_ORIGINS to allow pages there to use the API` }]);
      }
    },
  };
}

/**
 * CORS preflight (OPTIONS with `Access-Control-Request-Method`) from an origin listed in
 * AMUN_ALLOWED_ORIGINS: answered here, 204, before the token is asked for (browsers never send it
 * on a preflight). Runs after originGuard, so a foreign origin has had its 403 already. With no
 * origin listed CORS is off: a preflight is not answered (same-origin pages never send one).
 */
export function corsPreflight(allowedOrigins: ReadonlyArray<string>): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  const allowed = new Set(allowedOrigins);
  return {
    before: async ({ event }) => {
      if (event.requestContext.http.method !== 'OPTIONS') return undefined;
      const origin = header(event, 'origin');
      if (origin === undefined || !allowed.has(origin) || header(event, 'access-control-request-method') === undefined) return undefined;
      return {
        statusCode: 204,
        headers: {
          'access-control-allow-methods': CORS_POLICY.methods,
          'access-control-allow-headers': CORS_POLICY.headers,
          'access-control-max-age': String(CORS_POLICY.maxAgeSeconds),
          vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
        },
        body: '',
      };
    },
  };
}

/**
 * Headers every answer carries, errors and preflights included: `X-Amun-Version` (the
 * service_version, as the original sent it) and `X-Content-Type-Options: nosniff`; and, when CORS is
 * on (origins listed), `Vary: Origin` plus, for a listed origin, `Access-Control-Allow-Origin`
 * naming exactly that origin (never `*`; no credentials: the API reads a bearer token, not cookies).
 * A wrapper rather than a middleware: answers that middlewares return early skip middy's `after`.
 */
export function withAnswerHeaders<E extends APIGatewayProxyEventV2, C>(
  handler: (event: E, context: C) => Promise<HttpResult>,
  options: { serviceVersion: string; allowedOrigins: ReadonlyArray<string> },
): (event: E, context: C) => Promise<HttpResult> {
  const allowed = new Set(options.allowedOrigins);
  return async (event, context) => {
    const result = await handler(event, context);
    const headers: Record<string, string | number | boolean> = { ...(result.headers ?? {}), 'x-amun-version': options.serviceVersion, 'x-content-type-options': 'nosniff' };
    if (allowed.size > 0) {
      const vary = String(headers.vary ?? '');
      if (!/(^|,)\s*origin\s*(,|$)/i.test(vary)) headers.vary = vary ? `Origin, ${vary}` : 'Origin';
      const origin = header(event, 'origin');
      if (origin !== undefined && allowed.has(origin)) {
        headers['access-control-allow-origin'] = origin;
        headers['access-control-expose-headers'] = CORS_POLICY.exposeHeaders;
      }
    }
    return { ...result, headers };
  };
}

/**
 * POST bodies must be declared `application/json` (415 otherwise). A web page can send a simple
 * text/plain or form POST to any address without asking; a JSON one needs a CORS preflight,
 * which this API never grants to a foreign origin.
 */
export function jsonContentType(): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    before: async ({ event }) => {
      if (event.requestContext.http.method !== 'POST') return;
      const type = header(event, 'content-type') ?? '';
      const [media = '', ...params] = type.split(';').map((p) => p.trim().toLowerCase());
      const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
      if (media !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
        throw new HttpError(415, 'request body must be application/json', [
          { path: '/headers/content-type', message: type ? `${type} is not application/json (UTF-8)` : 'missing; send Content-Type: application/json' },
        ]);
      }
    },
  };
}

/** Maps every error to an answer with `{error, parameters, problems}`; must be the last middleware. */
export function errorMapper(logger: Logger): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  return {
    onError: async (request) => {
      request.response = errorAnswer(request.error, echoed(request.event), logger);
    },
  };
}

/** The JSON body of a POST: 400 naming the problem when it is not UTF-8 or not JSON. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const text = event.body === undefined ? '' : event.isBase64Encoded ? decodeUtf8(Buffer.from(event.body, 'base64'), '') : event.body;
  if (text.trim() === '') throw new SpecificationError('request body is empty', [{ path: '', message: 'expected a JSON object' }]);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new SpecificationError('request body is not valid JSON', [{ path: '', message: (error as Error).message }]);
  }
}
