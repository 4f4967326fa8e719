/**
 * The embedded local stack: S3 + SQS (fauxqs, persisted under the data directory), the dispatcher
 * that feeds queue messages and S3 notifications to the handlers per the routes table, and the
 * HTTP API. `startLocalStack` is what `npm start`, the CLI and the end-to-end tests run.
 */
import { join, resolve } from 'node:path';
import { SERVICE_VERSION, serveSettingsFromEnv, settingsFromEnv, type Config, type Settings } from '../functions/config.js';
import { makeApp, type App, type AppOverrides } from '../functions/app.js';
import type { ApiHandler } from '../functions/api/handler.js';
import { serviceVersionOf } from '../functions/api/version.js';
import { makeLogger } from '../functions/logger.js';
import type { ExecutorKind } from '../functions/core/ports.js';
import { isHttpRoute, isSqsRoute, routes, type FunctionName } from '../functions/routes.js';
import type { SqsHandler } from '../functions/lib/sqs.js';
import { startDispatcher } from './dispatcher.js';
import { startEmulator } from './emulator.js';
import { startEmulatorThread } from './emulator-thread.js';
import { startHttpServer } from './http-server.js';

/**
 * Everything not given here comes from the environment through the one configuration reader
 * (`settingsFromEnv`), exactly as the deployed functions read it; what is given wins.
 */
export interface LocalStackOptions {
  dataDir: string;
  /** API port; 0 picks a free one. */
  port: number;
  host?: string;
  /** Port of the embedded S3/SQS server; 0 (default) picks a free one. */
  storagePort?: number;
  bucket?: string;
  storePrefix?: string;
  executor?: ExecutorKind | 'auto';
  apiToken?: string | undefined;
  /** Long-poll wait; tests use 1 s so that stopping is quick. */
  waitTimeSeconds?: number;
  /** Run messages handled at once (default AMUN_RUN_SLOTS, or the CPUs). */
  runSlots?: number;
  allowScriptHttp?: boolean;
  allowScriptPrivate?: boolean;
  /** Settings to use instead of the environment's (tests). */
  settings?: Partial<Settings>;
  /** The environment to read settings from (default: process.env). */
  env?: Record<string, string | undefined>;
  overrides?: AppOverrides;
  queueAttributes?: Parameters<typeof startEmulator>[0]['queueAttributes'];
  /** Run the S3/SQS server on its own thread (default true: it then uses the second core). */
  emulatorThread?: boolean;
  /** Build a missing listing from the store in the background at start (default true; `amun reindex` does it itself). */
  reindexAtStart?: boolean;
  /** Wraps each queue-triggered handler (tests record and replay deliveries with it). */
  wrapHandler?: (name: FunctionName, handler: SqsHandler) => SqsHandler;
}

export interface LocalStack {
  apiUrl: string;
  storageEndpoint: string;
  config: Config;
  app: App;
  queueUrls: Record<string, string>;
  dlqUrls: Record<string, string>;
  /** Resolves when every queue is empty and no handler runs. */
  idle(): Promise<void>;
  /** Stops taking work, lets running handlers finish, persists state. */
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const fromEnv = settingsFromEnv(options.env ?? process.env);
  const serve = serveSettingsFromEnv(options.env ?? process.env);
  const given = options.settings ?? {};
  const settings: Settings = {
    ...fromEnv,
    ...given,
    scriptFetch: {
      ...fromEnv.scriptFetch,
      ...given.scriptFetch,
      ...(options.allowScriptHttp !== undefined ? { allowHttp: options.allowScriptHttp } : {}),
      ...(options.allowScriptPrivate !== undefined ? { allowPrivateAddresses: options.allowScriptPrivate } : {}),
    },
    ...(options.storePrefix !== undefined ? { storePrefix: options.storePrefix } : {}),
    ...(options.executor !== undefined ? { executor: options.executor } : {}),
    ...('apiToken' in options ? { apiToken: options.apiToken } : {}),
  };
  const dataDir = resolve(options.dataDir);
  const bucket = options.bucket ?? 'amun';
  const { storePrefix, specsPrefix } = settings;
  const region = 'us-east-1';
  const emulatorOptions = {
    dataDir: join(dataDir, 'storage'),
    port: options.storagePort ?? serve.storagePort,
    bucket,
    storePrefix,
    specsPrefix,
    region,
    ...(options.queueAttributes ? { queueAttributes: options.queueAttributes } : {}),
  };
  const emulator = options.emulatorThread === false ? await startEmulator(emulatorOptions) : await startEmulatorThread(emulatorOptions);
  const config: Config = {
    ...settings,
    dataDir,
    region,
    endpoint: emulator.endpoint,
    bucket,
    queueUrls: {
      work: emulator.queueUrls.work,
      run: emulator.queueUrls.run,
      completions: emulator.queueUrls.completions,
      ingestEvents: emulator.queueUrls.ingestEvents,
      scheduleEvents: emulator.queueUrls.scheduleEvents,
      indexEvents: emulator.queueUrls.indexEvents,
    },
    serviceVersion: SERVICE_VERSION,
  };
  const app = makeApp(config, options.overrides);
  // A store the original service (or an older Amun) wrote has inspections but no listing: build
  // it in the background, so that they are listed (`amun reindex` does the same on demand).
  const log = makeLogger('local');
  const reindexed = (options.reindexAtStart === false ? Promise.resolve(false) : app.records.indexMissing())
    .then(async (missing) => {
      if (!missing) return;
      const { inspections, added, summaries } = await app.records.reindex();
      log.info('listing built from the store', { inspections, added, summaries });
    })
    .catch((error: unknown) => log.warn('could not build the listing from the store', { error: error as Error }));
  const wrap = (name: FunctionName, handler: SqsHandler): SqsHandler => options.wrapHandler?.(name, handler) ?? handler;
  // Every local route of the table, made from its own factory (loaded one at a time: jest's ESM
  // runtime fails concurrent dynamic imports that share a module).
  const handlers: Partial<Record<FunctionName, SqsHandler>> = {};
  let apiHandler: ApiHandler | undefined;
  for (const route of routes) {
    if (!route.runsOn.includes('local')) continue;
    if (isHttpRoute(route)) apiHandler = (await route.load())(app);
    else if (isSqsRoute(route)) handlers[route.name] = wrap(route.name, (await route.load())(app));
  }
  if (!apiHandler) throw new Error('the routes table has no local http route');
  const dispatcher = startDispatcher({
    endpoint: emulator.endpoint,
    region,
    queueUrls: emulator.queueUrls,
    handlers,
    // The run route takes AMUN_RUN_SLOTS messages at once; the pipeline keeps each inspection to its parallelism.
    routes: routes.map((route) => (route.name === 'run' ? { ...route, localConcurrency: options.runSlots ?? serve.runSlots } : route)),
    waitTimeSeconds: options.waitTimeSeconds ?? serve.waitTimeSeconds,
    logger: log,
  });
  const http = await startHttpServer(apiHandler, { port: options.port, host: options.host ?? '127.0.0.1', allowedHosts: settings.http.allowedHosts, serviceVersion: serviceVersionOf(config.serviceVersion) });
  let stopped: Promise<void> | undefined;
  return {
    apiUrl: http.url,
    storageEndpoint: emulator.endpoint,
    config,
    app,
    queueUrls: emulator.queueUrls,
    dlqUrls: emulator.dlqUrls,
    idle: () => dispatcher.idle(),
    stop: () => {
      stopped ??= (async () => {
        await http.close();
        await dispatcher.stop();
        await reindexed;
        await emulator.stop();
      })();
      return stopped;
    },
  };
}
