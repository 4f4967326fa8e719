/**
 * HTTP edge: errors mapped to status codes in one place, JSON answers, and the small middlewares
 * the API uses (each one job). Domain errors never leak internals: anything unexpected is a plain 500.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { timingSafeEqual } from 'node:crypto';
import { NotFoundError, SpecificationError, type Problem } from '../core/errors.js';
import type { Logger } from '../logger.js';

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

/** Parameters echoed back on every answer, errors included (path and query parameters). */
export function echoed(event: APIGatewayProxyEventV2): Record<string, unknown> {
  return { ...(event.queryStringParameters ?? {}), ...(event.pathParameters ?? {}) };
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

/** When a token is configured, POST endpoints require `Authorization: Bearer <token>`. */
export function bearerAuth(token: string | undefined): MiddlewareObj<APIGatewayProxyEventV2, HttpResult> {
  const expected = token ? Buffer.from(`Bearer ${token}`) : undefined;
  return {
    before: async ({ event }) => {
      if (!expected || event.requestContext.http.method !== 'POST') return;
      const given = Buffer.from(event.headers?.authorization ?? event.headers?.Authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new HttpError(401, 'authorization required', [{ path: '/headers/authorization', message: 'expected a valid Bearer token' }]);
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

/** The JSON body of a POST: 400 with the parser's message when it is not JSON. */
export function jsonBody(event: APIGatewayProxyEventV2): unknown {
  const text = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (text.trim() === '') throw new SpecificationError('request body is empty', [{ path: '', message: 'expected a JSON object' }]);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new SpecificationError('request body is not valid JSON', [{ path: '', message: (error as Error).message }]);
  }
}
