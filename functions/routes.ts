/**
 * Which function answers which trigger: the one table that the CDK stack (infra/) and the
 * embedded local stack (local/) both read. Nothing else lists functions, queues or filters.
 * Each route also says how to make its handler (`load`, imported only when called: the CDK app
 * reads the table without loading any function code); the local stack wires every local route
 * from it.
 */
import type { App } from './app.js';
import type { ApiHandler } from './api/handler.js';
import type { SqsHandler } from './lib/sqs.js';
import type { ReconcileHandler } from './reconcile/handler.js';
import { LAYOUT_SUFFIXES } from './core/layout.js';
import type { QueueName } from './queues.js';

export { queues, type QueueName, type QueueSpec } from './queues.js';

/** Symbolic S3 prefixes, resolved against configuration (the store prefix is configurable). */
export type PrefixRef = 'specs' | 'store';

/**
 * `batchWindowSeconds`: how long a batch may gather records (up to `batchSize`) before the
 * handler is invoked, as the event source mapping's MaximumBatchingWindowInSeconds; absent: none.
 */
export type Trigger =
  | { kind: 'http'; basePath: string }
  | { kind: 'queue'; queue: QueueName; batchSize: number; batchWindowSeconds?: number }
  | { kind: 's3'; queue: QueueName; prefix: PrefixRef; suffix: string; batchSize: number; batchWindowSeconds?: number }
  | { kind: 'schedule'; rateMinutes: number };

export type FunctionName = 'api' | 'ingest' | 'build' | 'schedule' | 'run' | 'index' | 'reconcile';

/** A route's handler, made from the app. */
export type HandlerFactory<H> = (app: App) => H;

interface RouteBase {
  name: FunctionName;
  /** Module that exports `handler`, relative to functions/. */
  entry: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Where the function runs: `local` only for what a cluster does itself on AWS. */
  runsOn: ReadonlyArray<'aws' | 'local'>;
  /** Queues the function sends to (the infra grants exactly these). */
  sendsTo: ReadonlyArray<QueueName>;
  /** Store access the function needs (the infra grants exactly these). */
  store: 'read' | 'readwrite';
  /** Local stack: how many records may be handled at once. */
  localConcurrency: number;
  /**
   * What the function does with the cluster under the kubernetes executor: `edit` creates and
   * deletes Jobs (build, schedule, reconcile), `view` reads them (the API's live status);
   * `checksImages` reads image manifests in the registry: build checks that a recorded image is
   * still there, schedule and reconcile resolve a finished build's tag to the digest runs pin.
   * Absent: never calls it.
   */
  cluster?: { access: 'edit' | 'view'; checksImages?: boolean };
  description: string;
}

export type HttpRoute = RouteBase & { trigger: Extract<Trigger, { kind: 'http' }>; load: () => Promise<HandlerFactory<ApiHandler>> };
export type SqsRoute = RouteBase & { trigger: Extract<Trigger, { kind: 'queue' | 's3' }>; load: () => Promise<HandlerFactory<SqsHandler>> };
export type ScheduleRoute = RouteBase & { trigger: Extract<Trigger, { kind: 'schedule' }>; load: () => Promise<HandlerFactory<ReconcileHandler>> };

/** The handler a route's trigger needs: HTTP events, SQS batches, or a schedule tick. */
export type Route = HttpRoute | SqsRoute | ScheduleRoute;

export const isHttpRoute = (route: Route): route is HttpRoute => route.trigger.kind === 'http';
export const isSqsRoute = (route: Route): route is SqsRoute => route.trigger.kind === 'queue' || route.trigger.kind === 's3';

export const routes: ReadonlyArray<Route> = [
  {
    name: 'api',
    load: async () => (await import('./api/handler.js')).makeApiHandler,
    entry: 'api/index.ts',
    trigger: { kind: 'http', basePath: '/api/v1' },
    timeoutSeconds: 29,
    memoryMb: 512,
    runsOn: ['aws', 'local'],
    sendsTo: ['work'],
    store: 'readwrite',
    localConcurrency: 64,
    cluster: { access: 'view' },
    description: 'the v1 API: submit, read results and status',
  },
  {
    name: 'ingest',
    load: async () => (await import('./ingest/handler.js')).makeIngestHandler,
    entry: 'ingest/index.ts',
    trigger: { kind: 's3', queue: 'ingestEvents', prefix: 'specs', suffix: '.json', batchSize: 10 },
    timeoutSeconds: 30,
    memoryMb: 512,
    runsOn: ['aws', 'local'],
    sendsTo: ['work'],
    store: 'readwrite',
    localConcurrency: 4,
    description: 'a spec file dropped under specs/ is submitted',
  },
  {
    name: 'build',
    load: async () => (await import('./build/handler.js')).makeBuildHandler,
    entry: 'build/index.ts',
    trigger: { kind: 'queue', queue: 'work', batchSize: 1 },
    timeoutSeconds: 900,
    memoryMb: 1024,
    runsOn: ['aws', 'local'],
    sendsTo: [],
    store: 'readwrite',
    localConcurrency: 2,
    cluster: { access: 'edit', checksImages: true },
    description: 'builds the image (or starts the cluster build) and records its outcome',
  },
  {
    name: 'schedule',
    load: async () => (await import('./schedule/handler.js')).makeScheduleHandler,
    entry: 'schedule/index.ts',
    trigger: { kind: 's3', queue: 'scheduleEvents', prefix: 'store', suffix: LAYOUT_SUFFIXES.buildStatus, batchSize: 10 },
    timeoutSeconds: 60,
    memoryMb: 512,
    runsOn: ['aws', 'local'],
    sendsTo: ['run', 'completions'],
    store: 'readwrite',
    localConcurrency: 4,
    cluster: { access: 'edit', checksImages: true },
    description: 'a build outcome appeared: start the runs, or close the inspection',
  },
  {
    name: 'run',
    // localConcurrency: the local stack sets it from AMUN_RUN_SLOTS; the pipeline keeps each inspection to its run.parallelism.
    load: async () => (await import('./run/handler.js')).makeRunHandler,
    entry: 'run/index.ts',
    trigger: { kind: 'queue', queue: 'run', batchSize: 1 },
    timeoutSeconds: 900,
    memoryMb: 1024,
    runsOn: ['local'],
    sendsTo: [],
    store: 'readwrite',
    localConcurrency: 1,
    description: 'runs one item with a local executor and uploads its files',
  },
  {
    name: 'index',
    load: async () => (await import('./index/handler.js')).makeIndexHandler,
    entry: 'index/index.ts',
    // A second's window: results of a big batch fold into the summary ten at a time (one read and
    // write). Locally the window opens only while results stream in, so a lone one waits for nobody.
    trigger: { kind: 's3', queue: 'indexEvents', prefix: 'store', suffix: LAYOUT_SUFFIXES.result, batchSize: 10, batchWindowSeconds: 1 },
    timeoutSeconds: 60,
    memoryMb: 512,
    runsOn: ['aws', 'local'],
    sendsTo: ['completions'],
    store: 'readwrite',
    localConcurrency: 4,
    description: 'a run result appeared: validate it, update the summary, announce completion',
  },
  {
    name: 'reconcile',
    load: async () => (await import('./reconcile/handler.js')).makeReconcileHandler,
    entry: 'reconcile/index.ts',
    trigger: { kind: 'schedule', rateMinutes: 5 },
    timeoutSeconds: 120,
    memoryMb: 512,
    runsOn: ['aws'],
    sendsTo: [],
    store: 'readwrite',
    localConcurrency: 1,
    cluster: { access: 'edit', checksImages: true },
    description: 'cluster jobs and pods that ended without writing their objects get a status or result with the reason',
  },
];

export function resolvePrefix(ref: PrefixRef, config: { storePrefix: string; specsPrefix: string }): string {
  return ref === 'specs' ? config.specsPrefix : `${config.storePrefix}/`;
}

export function routeFor(name: FunctionName): Route {
  const route = routes.find((r) => r.name === name);
  if (!route) throw new Error(`no route named ${name}`);
  return route;
}
