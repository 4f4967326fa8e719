/**
 * The operations endpoints the original served beside the v1 API, at the same paths:
 *
 *   GET /readiness      200 {status: "ready", version, checks} once the store and the work queue
 *                       answer a cheap request each; 503 {status: "not ready", …, error} naming
 *                       what did not (public)
 *   GET /liveness       200 {status: "ready", version} while the process runs, no I/O (public)
 *   GET /metrics        Prometheus text (functions/api/metrics.ts); the token when one is set
 *   GET /api/v1         {paths: [...]}: every path of the v1 API
 *   GET /api/v1/ui/     the interactive documentation (functions/api/ui.ts, public)
 *   GET /               the results explorer, a web page (functions/api/explorer-page.ts, public; its
 *                       files under /explorer/)
 *
 * `version` in the health answers is the service_version (functions/api/version.ts), as the
 * original's was.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { makeSqsClient } from '../adapters/clients.js';
import type { App } from '../app.js';
import type { HealthAnswer, HealthCheck, PathsAnswer } from '../core/generated/types.js';
import type { Logger } from '../logger.js';
import { json, type HttpResult } from './http.js';
import { ApiMetrics } from './metrics.js';
import { ExplorerPage } from './explorer-page.js';
import { API_BASE, EXPLORER_FILES_PATH, EXPLORER_PATH, OPERATIONS_PATHS, UI_PATH, isPublicPath } from './paths.js';
import { SwaggerUi } from './ui.js';
import { STORE_LAYOUT_VERSION, serviceVersionOf } from './version.js';

/** A readiness check that has not answered by then has failed. */
export const READINESS_TIMEOUT_MS = 3000;

export interface OperationRoute {
  method: 'GET';
  path: string;
  handler: (event: APIGatewayProxyEventV2) => Promise<HttpResult>;
}

export interface Operations {
  routes: OperationRoute[];
  /** Whether a path answers without the token (paths.ts). */
  isPublic: (path: string) => boolean;
  serviceVersion: string;
}

/** The kind of an error, without its message (which may name addresses): `TimeoutError`, `ECONNREFUSED`, `NoSuchBucket`. */
function errorKind(error: unknown): string {
  const e = error as { name?: unknown; code?: unknown; Code?: unknown; cause?: { code?: unknown } };
  const code = [e.code, e.Code, e.cause?.code].find((c) => typeof c === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(c));
  const name = typeof e.name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.name) ? e.name : 'Error';
  return code && code !== name ? `${name} (${code})` : name;
}

async function check(what: () => Promise<unknown>, timeoutMs: number): Promise<HealthCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), timeoutMs);
  });
  try {
    await Promise.race([what(), timeout]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const kind = errorKind(error);
    return { ok: false, ms: Math.round(performance.now() - started), error: kind === 'TimeoutError' ? `did not answer within ${timeoutMs} ms` : `failed: ${kind}` };
  } finally {
    clearTimeout(timer);
  }
}

export interface OperationsOptions {
  /** Every route path of the API, for GET /api/v1 (the handler knows them all). */
  paths: () => ReadonlyArray<string>;
  logger?: Logger;
  /** A client for the queues' depths (tests); default: one from the configuration. */
  sqs?: SQSClient;
}

export function makeOperations(app: Pick<App, 'config' | 'records'>, options: OperationsOptions): Operations {
  const { config, records } = app;
  const serviceVersion = serviceVersionOf(config.serviceVersion);
  let sqs = options.sqs;
  const sqsClient = (): SQSClient => (sqs ??= makeSqsClient(config));
  let metrics: ApiMetrics | undefined;
  const ui = new SwaggerUi();
  const explorer = new ExplorerPage();

  const readiness = async (): Promise<HttpResult> => {
    const [store, queue] = await Promise.all([
      // The cheapest request that proves the bucket answers and the prefix may be listed: one key of the index.
      check(() => records.list({ page: 1, limit: 1 }), READINESS_TIMEOUT_MS),
      // Submissions go to the work queue: its attributes, nothing received.
      check(() => queueDepthOnly(sqsClient(), config.queueUrls.work), READINESS_TIMEOUT_MS),
    ]);
    const checks = { store, work_queue: queue };
    const failed = Object.entries(checks).filter(([, c]) => !c.ok);
    if (failed.length > 0) options.logger?.warn('not ready', { checks });
    const answer: HealthAnswer =
      failed.length === 0
        ? { status: 'ready', version: serviceVersion, checks }
        : { status: 'not ready', version: serviceVersion, checks, error: failed.map(([name, c]) => `${name}: ${c.error ?? 'failed'}`).join('; ') };
    return json(failed.length === 0 ? 200 : 503, answer, { 'cache-control': 'no-store' });
  };

  const liveness = async (): Promise<HttpResult> => json(200, { status: 'ready', version: serviceVersion } satisfies HealthAnswer, { 'cache-control': 'no-store' });

  const scrape = async (): Promise<HttpResult> => {
    metrics ??= new ApiMetrics({
      records,
      sqs: sqsClient(),
      queueUrls: config.queueUrls,
      settings: config.metrics,
      info: { version: config.serviceVersion, serviceVersion, storeLayout: String(STORE_LAYOUT_VERSION) },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const body = await metrics.scrape();
    return { statusCode: 200, headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' }, body };
  };

  const listing = async (): Promise<HttpResult> => {
    const paths = [...new Set(options.paths().filter((p) => p === API_BASE || p.startsWith(`${API_BASE}/`)))].sort();
    return json(200, { paths } satisfies PathsAnswer);
  };

  const routes: OperationRoute[] = [
    { method: 'GET', path: OPERATIONS_PATHS.readiness, handler: readiness },
    { method: 'GET', path: OPERATIONS_PATHS.liveness, handler: liveness },
    { method: 'GET', path: OPERATIONS_PATHS.metrics, handler: scrape },
    { method: 'GET', path: API_BASE, handler: listing },
    { method: 'GET', path: UI_PATH, handler: async (event) => ui.page(event) },
    { method: 'GET', path: `${UI_PATH}/{file}`, handler: async (event) => ui.file(event) },
    { method: 'GET', path: EXPLORER_PATH, handler: (event) => explorer.page(event) },
    { method: 'GET', path: `${EXPLORER_FILES_PATH}/{file}`, handler: (event) => explorer.file(event) },
  ];
  return { routes, isPublic: isPublicPath, serviceVersion };
}

/** One GetQueueAttributes of the queue alone (readiness: no dead-letter lookup). */
async function queueDepthOnly(sqs: SQSClient, url: string): Promise<void> {
  await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }), { abortSignal: AbortSignal.timeout(READINESS_TIMEOUT_MS) });
}
