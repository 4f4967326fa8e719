/** api: the ten v1 endpoints of the original, plus /api/v1/openapi.json. Thin: parse, call, shape. */
import middy from '@middy/core';
import httpRouter from '@middy/http-router';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { App } from '../app.js';
import { SpecificationError } from '../core/errors.js';
import { INSPECTION_ID_RULE, isInspectionId } from '../core/layout.js';
import { makeLogger, withLogKeys } from '../logger.js';
import { HttpError, bearerAuth, bodyLimit, echoed, errorMapper, json, jsonBody, jsonContentType, originGuard, type HttpResult } from './http.js';
import { openApiDocument } from './openapi.js';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<HttpResult>;

const BASE = '/api/v1';
const MAX_LIMIT = 1000;
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

function positiveInt(event: APIGatewayProxyEventV2, name: string, fallback: number, max: number): number {
  const raw = event.queryStringParameters?.[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new SpecificationError(`invalid ${name}`, [{ path: `/${name}`, message: 'must be a positive integer' }]);
  return Math.min(Number(raw), max);
}

export function makeApiHandler(app: Pick<App, 'inspections' | 'config'>): ApiHandler {
  const logger = makeLogger('api');
  const { inspections, config } = app;
  const version = { version: config.serviceVersion, service_version: config.serviceVersion };

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
        const { dockerfile, specification } = await inspections.dockerfile(jsonBody(event));
        return json(200, { dockerfile, parameters: specification });
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
        const page = positiveInt(event, 'page', 1, 1_000_000);
        const limit = positiveInt(event, 'limit', 100, MAX_LIMIT);
        const token = event.queryStringParameters?.page_token || undefined;
        const { inspections: ids, nextToken } = await inspections.list({ page, limit, token });
        return json(200, { inspections: ids, parameters: { page, limit, next_page_token: nextToken ?? null } });
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
      handler: withId(async (id, event) => json(200, { batch_size: await inspections.batchSize(id), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/job/{item}/result`,
      handler: withId(async (id, event) => json(200, { result: await inspections.result(id, itemNumber(event)), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/job/{item}/log`,
      handler: withId(async (id, event) => json(200, { log: await inspections.itemLog(id, itemNumber(event)), parameters: echoed(event) })),
    },
    {
      method: 'GET' as const,
      path: `${BASE}/inspect/{inspection_id}/status`,
      handler: withId(async (id, event) => json(200, { status: await inspections.status(id), parameters: echoed(event) })),
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
    .use(bearerAuth(config.apiToken, PUBLIC_PATHS))
    .use(jsonContentType())
    .use(bodyLimit())
    .handler(
      httpRouter({
        routes,
        notFoundResponse: ({ method, path }) => {
          throw new HttpError(404, 'no such endpoint', [{ path: '', message: `${method} ${path} is not an endpoint of this API` }]);
        },
      }) as never,
    );
  return handler as unknown as ApiHandler;
}
