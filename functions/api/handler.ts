/** api: the ten v1 endpoints of the original, plus /api/v1/openapi.json. Thin: parse, call, shape. */
import middy from '@middy/core';
import httpRouter from '@middy/http-router';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { App } from '../app.js';
import { encodeContext } from '../core/context.js';
import { SpecificationError } from '../core/errors.js';
import { INSPECTION_ID_RULE, isInspectionId } from '../core/layout.js';
import { makeLogger, withLogKeys } from '../logger.js';
import { HttpError, bearerAuth, bodyLimit, echoed, errorMapper, json, jsonBody, jsonContentType, originGuard, type HttpResult } from './http.js';
import { openApiDocument } from './openapi.js';
import { corsPreflight, withAnswerHeaders } from './http.js';
import { makeOperations } from './operations.js';
import { MAX_HISTORY } from '../core/explorer-service.js';
import { describedResult, fromGeneratedClient } from './described.js';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

const BASE = '/api/v1';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const MAX_PAGE = 1_000_000;
/** Endpoints that answer without the token when one is set. */
const PUBLIC_PATHS: ReadonlySet<string> = new Set([`${BASE}/version`]);

function inspectionId(event: APIGatewayProxyEventV2): string {
  const id = event.pathParameters?.inspection_id ?? '';
  if (!isInspectionId(id)) throw new SpecificationError('invalid inspection id', [{ path: '/inspection_id', message: INSPECTION_ID_RULE }]);
  return id;
}

function itemNumber(event: APIGatewayProxyEventV2): number {
  const raw = event.pathParameters?.item ?? '';
  if (!/^(0|[1-9][0-9]{0,5})$/.test(raw)) throw new SpecificationError('invalid item', [{ path: '/item', message: 'must be a non-negative integer' }]);
  return Number(raw);
}

/**
 * A paging integer read as the original clamps it: absent or <= 0 reads as `fallback`, above `max`
 * as `over` (the default for a limit; the last page for a page, so that a client walking pages
 * until an empty one stops). What is not an integer at all stays a 400.
 */
function pagingInt(event: APIGatewayProxyEventV2, name: string, fallback: number, max: number, over: number): number {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[+-]?[0-9]{1,12}$/.test(raw)) throw new SpecificationError(`invalid ${name}`, [{ path: `/${name}`, message: 'must be an integer' }]);
  const value = Number(raw);
  return value <= 0 ? fallback : value > max ? over : value;
}

const MAX_DETAILED = 100;
const DEFAULT_HISTORY = 50;
const SUMMARY_STATES: ReadonlySet<string> = new Set(['pending', 'building', 'running', 'succeeded', 'failed']);

/** A query flag: absent, `false` or `0` is off; `true`, `1` or empty is on. */
function flag(event: APIGatewayProxyEventV2, name: string): boolean {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === '' || raw === 'true' || raw === '1') return true;
  throw new SpecificationError(`invalid ${name}`, [{ path: `/${name}`, message: 'must be true or false' }]);
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A text query parameter within `max` characters, or undefined. */
function text(event: APIGatewayProxyEventV2, name: string, max = 256): string | undefined {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > max || CONTROL.test(raw)) throw new SpecificationError(`invalid ${name}`, [{ path: `/${name}`, message: `must be at most ${max} printable characters` }]);
  return raw;
}

export function makeApiHandler(app: Pick<App, 'inspections' | 'config' | 'records' | 'explorer'>): ApiHandler {
  const logger = makeLogger('api');
  const { inspections, config, explorer } = app;
  // Operations endpoints (health, metrics, the path list, the UI) and service_version: operations.ts.
  const operations = makeOperations(app, { paths: () => [...routes, ...operations.routes].map((r) => r.path), logger });
  const version = { version: config.serviceVersion, service_version: operations.serviceVersion };

  const withId = (fn: (id: string, event: APIGatewayProxyEventV2) => Promise<HttpResult>) => async (event: APIGatewayProxyEventV2): Promise<HttpResult> => {
    const id = inspectionId(event);
    return withLogKeys({ inspection_id: id }, () => fn(id, event));
  };

  const routes = [
    { method: 'GET' as const, path: `${BASE}/version`, handler: async () => json(200, version) },
    { method: 'GET' as const, path: `${BASE}/openapi.json`, handler: async () => json(200, openApiDocument(config.serviceVersion)) },
    {
      method: 'POST' as const,
      path: `${BASE}/_debug/generate-dockerfile`,
      handler: async (event: APIGatewayProxyEventV2) => {
        // As the original answered (the specification under `parameters`), plus the build context
        // the Dockerfile's COPY lines read: with both, `podman build` reproduces the image.
        const { dockerfile, specification, context } = await inspections.dockerfile(jsonBody(event));
        return json(200, { dockerfile, parameters: { specification }, context: JSON.parse(encodeContext(context)) as unknown });
      },
    },
    {
      method: 'POST' as const,
      path: `${BASE}/inspect`,
      handler: async (event: APIGatewayProxyEventV2) => {
        const { inspectionId, specification } = await inspections.submit(jsonBody(event));
        logger.info('inspection submitted', { inspection_id: inspectionId });
        return json(202, { inspection_id: inspectionId, parameters: specification });
      },
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect`,
      handler: async (event: APIGatewayProxyEventV2) => {
        const page = pagingInt(event, 'page', 1, MAX_PAGE, MAX_PAGE);
        const limit = pagingInt(event, 'limit', DEFAULT_LIMIT, MAX_LIMIT, DEFAULT_LIMIT);
        const token = event.queryStringParameters?.page_token || undefined;
        const details = flag(event, 'details');
        const identifier = text(event, 'identifier');
        const state = text(event, 'state');
        if (state !== undefined && !SUMMARY_STATES.has(state)) throw new SpecificationError('invalid state', [{ path: '/state', message: `must be one of ${[...SUMMARY_STATES].join(', ')}` }]);
        if (identifier !== undefined || state !== undefined) {
          // Filtered: found by walking the listing (no page token), always with details.
          const found = await explorer.filtered({ identifier, state }, page, Math.min(limit, MAX_DETAILED));
          return json(200, { inspections: found.map((d) => d.inspection_id), details: found, parameters: { page, limit: Math.min(limit, MAX_DETAILED), next_page_token: null, identifier: identifier ?? null, state: state ?? null } });
        }
        const shown = details ? Math.min(limit, MAX_DETAILED) : limit;
        const { inspections: ids, nextToken } = await inspections.list({ page, limit: shown, token });
        const extra = details ? { details: await Promise.all(ids.map((id) => explorer.detail(id))) } : {};
        return json(200, { inspections: ids, ...extra, parameters: { page, limit: shown, next_page_token: nextToken ?? null } });
      },
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/build/log`,
      handler: withId(async (id, event) => json(200, { log: await inspections.buildLog(id), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/job/batch-size`,
      handler: withId(async (id, event) => json(200, { batch_size: await inspections.resultsCount(id), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/job/{item}/result`,
      handler: withId(async (id, event) => {
        const item = itemNumber(event);
        const result = await inspections.result(id, item);
        return json(200, { result: fromGeneratedClient(event) ? describedResult(result, item) : result, parameters: echoed(event) });
      }),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/job/{item}/log`,
      handler: withId(async (id, event) => {
        const item = itemNumber(event);
        // The original answered the log's text; its description (and the clients generated from it) the result document.
        const log = fromGeneratedClient(event) ? describedResult(await inspections.result(id, item), item) : await inspections.itemLog(id, item);
        return json(200, { log, parameters: echoed(event) });
      }),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/status`,
      handler: withId(async (id, event) => json(200, { status: await inspections.status(id), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/metrics`,
      handler: withId(async (id, event) => json(200, { ...(await explorer.metrics(id)), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/compare`,
      handler: async (event: APIGatewayProxyEventV2) => {
        const ids = (text(event, 'ids', 1000) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
        const bad = ids.findIndex((id) => !isInspectionId(id));
        if (bad >= 0) throw new SpecificationError('invalid ids', [{ path: `/ids/${bad}`, message: INSPECTION_ID_RULE }]);
        return json(200, { ...(await explorer.compare(ids)), parameters: { ids } });
      },
    },
    {
      method: 'GET' as const,
      path: `${BASE}/identifiers/{identifier}/history`,
      handler: async (event: APIGatewayProxyEventV2) => {
        const identifier = event.pathParameters?.identifier ?? '';
        if (identifier === '' || identifier.length > 256 || CONTROL.test(identifier)) throw new SpecificationError('invalid identifier', [{ path: '/identifier', message: 'must be 1 to 256 printable characters' }]);
        const metric = text(event, 'metric');
        const limit = pagingInt(event, 'limit', DEFAULT_HISTORY, MAX_HISTORY, MAX_HISTORY);
        return json(200, { ...(await explorer.history(identifier, metric, limit)), parameters: { identifier, metric: metric ?? null, limit } });
      },
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/specification`,
      handler: withId(async (id, event) => json(200, { specification: await inspections.specification(id), parameters: echoed(event) })),
    },
  ];

  const handler = middy<APIGatewayProxyEventV2, HttpResult>()
    .use(errorMapper(logger))
    .use(originGuard(config.http.allowedOrigins))
    .use(corsPreflight(config.http.allowedOrigins))
    .use(bearerAuth(config.apiToken, (path) => PUBLIC_PATHS.has(path) || operations.isPublic(path)))
    .use(jsonContentType())
    .use(bodyLimit())
    .handler(
      httpRouter({
        routes: [...routes, ...operations.routes],
        notFoundResponse: ({ method, path }) => {
          throw new HttpError(404, 'no such endpoint', [{ path: '', message: `${method} ${path} is not an endpoint of this API` }]);
        },
      }) as never,
    );
  return withAnswerHeaders(handler as unknown as ApiHandler, { serviceVersion: operations.serviceVersion, allowedOrigins: config.http.allowedOrigins });
}
