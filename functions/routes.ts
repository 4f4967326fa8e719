/**
 * Which function answers which trigger: the one table that the CDK stack (infra/) and the
 * embedded local stack (local/) both read. Nothing else lists functions, queues or filters.
 */

export type QueueName = 'work' | 'run' | 'ingestEvents' | 'scheduleEvents' | 'indexEvents' | 'completions';

export interface QueueSpec {
  /** Physical name stem; deployments add their own prefix. */
  name: string;
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** Consumers get this, or at least six times their timeout on AWS. */
  visibilityTimeoutSeconds: number;
  description: string;
}

export const queues: Record<QueueName, QueueSpec> = {
  work: { name: 'amun-work', maxReceiveCount: 3, visibilityTimeoutSeconds: 900, description: 'build requests from submit' },
  run: { name: 'amun-run', maxReceiveCount: 3, visibilityTimeoutSeconds: 900, description: 'one message per item for local executors' },
  ingestEvents: { name: 'amun-ingest-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for dropped spec files' },
  scheduleEvents: { name: 'amun-schedule-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for build outcomes' },
  indexEvents: { name: 'amun-index-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for run results' },
  completions: { name: 'amun-completions', maxReceiveCount: 5, visibilityTimeoutSeconds: 60, description: 'completion messages for consumers' },
};

/** Symbolic S3 prefixes, resolved against configuration (the store prefix is configurable). */
export type PrefixRef = 'specs' | 'store';

export type Trigger =
  | { kind: 'http'; basePath: string }
  | { kind: 'queue'; queue: QueueName; batchSize: number }
  | { kind: 's3'; queue: QueueName; prefix: PrefixRef; suffix: string; batchSize: number }
  | { kind: 'schedule'; rateMinutes: number };

export type FunctionName = 'api' | 'ingest' | 'build' | 'schedule' | 'run' | 'index' | 'reconcile';

export interface Route {
  name: FunctionName;
  /** Module that exports `handler`, relative to functions/. */
  entry: string;
  trigger: Trigger;
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

export const routes: ReadonlyArray<Route> = [
  {
    name: 'api',
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
    entry: 'schedule/index.ts',
    trigger: { kind: 's3', queue: 'scheduleEvents', prefix: 'store', suffix: '/build/status', batchSize: 10 },
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
    entry: 'index/index.ts',
    trigger: { kind: 's3', queue: 'indexEvents', prefix: 'store', suffix: '/result', batchSize: 10 },
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
