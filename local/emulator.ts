/**
 * The embedded AWS stand-in the local runtime runs on: fauxqs (S3 + SQS on one loopback HTTP
 * endpoint) with
 *   - every queue of the routes table and its dead-letter queue `<name>-dlq`,
 *   - all S3 objects and undeleted SQS messages persisted under `dataDir` (see persistence.ts),
 *   - S3 → SQS event notifications for the `s3` routes, journaled in the same line as the object.
 *
 * Clients use the real AWS SDK: `endpoint`, `forcePathStyle: true`, any static credentials.
 *
 * Conditional writes as S3 has them (fauxqs lacks them): a PutObject with `If-None-Match: *`
 * writes only when the key does not exist, one with `If-Match: <etag>` only when the object still
 * has that ETag; otherwise 412 PreconditionFailed. The check and the write happen in one turn of
 * the event loop (the store's put is synchronous), so two racing writers cannot both succeed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { queues as queueTable, routes as routesTable, type FunctionName, type QueueName, type Route } from '../functions/routes.js';
import { loadFauxqs, type FxRequest, type FxS3Object, type FxS3Store, type FxSqsQueue, type FxSqsStore } from './fauxqs.js';
import { Journal, JournalPersistence, objectFromStored, uploadFromStored, type PendingDelivery } from './persistence.js';
import {
  Sequencer,
  matchingRules,
  notificationRules,
  s3EventNotification,
  type NotificationRule,
  type S3CreatedEventName,
  type S3EventInput,
} from './s3-notifications.js';

export const ACCOUNT_ID = '000000000000';
/** Dead-letter queues keep messages as long as SQS allows (14 days). */
export const DLQ_RETENTION_SECONDS = 1_209_600;

export interface QueueOverride {
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
}

export interface EmulatorOptions {
  /** Everything the emulator stores lives here; created when missing. */
  dataDir: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: '127.0.0.1';
  bucket: string;
  storePrefix: string;
  specsPrefix: string;
  region?: string;
  /** Per-queue attribute overrides (tests use short visibility timeouts). */
  queueAttributes?: Partial<Record<QueueName, QueueOverride>>;
  /** Defaults to the routes table: the `s3` routes become the bucket's notification rules. */
  routes?: ReadonlyArray<Route>;
  /** Journal size that triggers a compaction while running (default 64 MiB). */
  compactAfterBytes?: number;
  warn?: (message: string) => void;
}

/** An object creation as hooks see it: the notification's facts (eTag without quotes) and where it went. */
export type ObjectCreatedEvent = Pick<S3EventInput, 'bucket' | 'key' | 'size' | 'eTag' | 'eventName' | 'eventTime' | 'sequencer'> & {
  /** The queues a notification was enqueued to (already durable when hooks run). */
  notified: QueueName[];
};

export interface RouteQueue {
  route: FunctionName;
  trigger: 'queue' | 's3';
  queue: QueueName;
  url: string;
  arn: string;
  dlqUrl: string;
}

export interface Emulator {
  /** `http://127.0.0.1:PORT`: S3 (path style) and SQS. */
  endpoint: string;
  region: string;
  bucket: string;
  dataDir: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  queueArns: Record<QueueName, string>;
  /** The queue behind every queue- or s3-triggered route. */
  routeQueues(): RouteQueue[];
  /** The bucket's notification configuration. */
  notificationRules: ReadonlyArray<NotificationRule>;
  /** Called after each object creation (any bucket) is durable; returns an unsubscribe function. */
  onObjectCreated(hook: (event: ObjectCreatedEvent) => void): () => void;
  /** Closes the server (and its connections) and the journal. Idempotent. */
  stop(): Promise<void>;
}

interface RequestContext {
  requestId: string;
  hostId: string;
  sourceIp: string;
  copy: boolean;
  post: boolean;
  /** The client is gone (aborted long poll, closed socket): a receive must not take messages. */
  gone: boolean;
}

interface CreationInfo {
  eventName: S3CreatedEventName;
  sequencer: string;
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const fx = await loadFauxqs();
  const region = options.region ?? 'us-east-1';
  const host = options.host ?? '127.0.0.1';
  const routes = options.routes ?? routesTable;
  const rules = notificationRules(options, routes);
  const warn = options.warn ?? ((m: string) => process.emitWarning(m, 'AmunEmulator'));

  const journal = Journal.open(options.dataDir, {
    ...(options.compactAfterBytes !== undefined ? { compactAfterBytes: options.compactAfterBytes } : {}),
    warn,
  });
  const persistence = new JournalPersistence(journal);

  const sqsStore = fx.newSqsStore();
  const snsStore = fx.newSnsStore();
  const s3Store = fx.newS3Store();
  // Queue URLs are built from the request's Host (http://127.0.0.1:PORT/000000000000/name).
  sqsStore.host = '';
  sqsStore.region = region;

  const als = new AsyncLocalStorage<RequestContext>();
  let closing = false;
  const contexts = new WeakMap<IncomingMessage, RequestContext>();
  let markReady!: () => void;
  let markFailed!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  ready.catch(() => undefined);

  const app = fx.buildApp({ logger: false, defaultRegion: region, stores: { sqsStore, snsStore, s3Store } });
  app.addHook('onRequest', (request, reply, done) => {
    const ctx: RequestContext = {
      requestId: randomBytes(8).toString('hex').toUpperCase(),
      hostId: randomBytes(24).toString('base64'),
      sourceIp: request.ip,
      copy: request.method === 'PUT' && request.headers['x-amz-copy-source'] !== undefined,
      post: request.method === 'POST' && String(request.headers['content-type'] ?? '').startsWith('multipart/form-data'),
      gone: false,
    };
    contexts.set(request.raw, ctx);
    reply.header('x-amz-request-id', ctx.requestId);
    reply.header('x-amz-id-2', ctx.hostId);
    reply.raw.once('close', () => {
      ctx.gone = true;
    });
    // Requests that arrive while the state is being restored wait for it.
    ready.then(() => done(), (err: Error) => done(err));
  });
  app.addHook('preHandler', (request, reply, done) => {
    const failed = failedPrecondition(request, s3Store);
    if (failed) {
      reply.header('content-type', 'application/xml');
      reply.status(412).send(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>${failed}</Condition></Error>`,
      );
      return;
    }
    const ctx = contexts.get(request.raw);
    if (ctx) als.run(ctx, done);
    else done();
  });

  let endpoint: string;
  try {
    await app.listen({ port: options.port ?? 0, host });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('emulator: the server has no TCP address');
    endpoint = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  } catch (err) {
    markFailed(err as Error);
    journal.close();
    await app.close();
    throw err;
  }

  const queueUrl = (name: string) => `${endpoint}/${ACCOUNT_ID}/${name}`;
  const queueArn = (name: string) => `arn:aws:sqs:${region}:${ACCOUNT_ID}:${name}`;

  try {
    wrapQueueCreation(sqsStore, journal, als, () => closing);
    restoreStores(journal, sqsStore, s3Store, queueUrl, queueArn);

    // From here on every mutation is written through.
    sqsStore.persistence = persistence;
    for (const q of sqsStore.allQueues()) q.persistence = persistence;
    s3Store.persistence = persistence;

    if (!s3Store.hasBucket(options.bucket)) s3Store.createBucket(options.bucket);
    for (const [name, spec] of Object.entries(queueTable) as Array<[QueueName, (typeof queueTable)[QueueName]]>) {
      const override = options.queueAttributes?.[name] ?? {};
      const dlqName = `${spec.name}-dlq`;
      ensureQueue(sqsStore, dlqName, queueUrl(dlqName), queueArn(dlqName), {
        MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
      });
      ensureQueue(sqsStore, spec.name, queueUrl(spec.name), queueArn(spec.name), {
        VisibilityTimeout: String(override.visibilityTimeoutSeconds ?? spec.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: queueArn(dlqName),
          maxReceiveCount: override.maxReceiveCount ?? spec.maxReceiveCount,
        }),
      });
    }
  } catch (err) {
    markFailed(err as Error);
    journal.close();
    await app.close();
    throw err;
  }

  // S3 notifications: decided while the object is written, enqueued in the same journal line.
  const sequencer = new Sequencer();
  const hooks = new Set<(event: ObjectCreatedEvent) => void>();
  let current: CreationInfo | undefined;
  persistence.objectHook = (bucket: string, obj: FxS3Object, kind): PendingDelivery[] => {
    const ctx = als.getStore();
    const eventName: S3CreatedEventName =
      kind === 'multipart'
        ? 'ObjectCreated:CompleteMultipartUpload'
        : ctx?.copy
          ? 'ObjectCreated:Copy'
          : ctx?.post
            ? 'ObjectCreated:Post'
            : 'ObjectCreated:Put';
    const info: CreationInfo = { eventName, sequencer: sequencer.next() };
    current = info;
    if (bucket !== options.bucket) return [];
    const deliveries: PendingDelivery[] = [];
    for (const rule of matchingRules(rules, obj.key)) {
      const queue = sqsStore.getQueueByName(queueTable[rule.queue].name);
      if (!queue) {
        warn(`emulator: notification rule ${rule.configurationId} targets missing queue ${queueTable[rule.queue].name}`);
        continue;
      }
      const body = s3EventNotification({
        region,
        bucket,
        key: obj.key,
        size: obj.contentLength,
        eTag: obj.etag,
        eventName,
        eventTime: obj.lastModified,
        sequencer: info.sequencer,
        configurationId: rule.configurationId,
        sourceIp: ctx?.sourceIp,
        requestId: ctx?.requestId,
        hostId: ctx?.hostId,
      });
      deliveries.push({ queue, msg: fx.createMessage(JSON.stringify(body)) });
    }
    return deliveries;
  };
  persistence.afterObjectWrite = (bucket, obj, _kind, delivered) => {
    const info = current;
    current = undefined;
    if (!info || hooks.size === 0) return;
    const notified = delivered.map((d) => queueNameOf(d.queue.name)).filter((q): q is QueueName => q !== undefined);
    const event: ObjectCreatedEvent = {
      bucket,
      key: obj.key,
      size: obj.contentLength,
      eTag: obj.etag.replace(/"/g, ''),
      eventName: info.eventName,
      eventTime: obj.lastModified,
      sequencer: info.sequencer,
      notified,
    };
    // After the store has the object (fauxqs adds it to its map once persistence returns).
    setImmediate(() => {
      for (const hook of hooks) {
        try {
          hook(event);
        } catch (err) {
          warn(`emulator: onObjectCreated hook failed: ${(err as Error).message}`);
        }
      }
    });
  };

  markReady();

  const record = <T>(f: (q: QueueName) => T): Record<QueueName, T> =>
    Object.fromEntries((Object.keys(queueTable) as QueueName[]).map((q) => [q, f(q)])) as Record<QueueName, T>;
  const queueUrls = record((q) => queueUrl(queueTable[q].name));
  const dlqUrls = record((q) => queueUrl(`${queueTable[q].name}-dlq`));
  const queueArns = record((q) => queueArn(queueTable[q].name));

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    region,
    bucket: options.bucket,
    dataDir: options.dataDir,
    queueUrls,
    dlqUrls,
    queueArns,
    notificationRules: rules,
    routeQueues: () =>
      routes.flatMap((r): RouteQueue[] =>
        r.trigger.kind === 'queue' || r.trigger.kind === 's3'
          ? [
              {
                route: r.name,
                trigger: r.trigger.kind,
                queue: r.trigger.queue,
                url: queueUrls[r.trigger.queue],
                arn: queueArns[r.trigger.queue],
                dlqUrl: dlqUrls[r.trigger.queue],
              },
            ]
          : [],
      ),
    onObjectCreated(hook) {
      hooks.add(hook);
      return () => hooks.delete(hook);
    },
    stop() {
      stopping ??= (async () => {
        closing = true;
        hooks.clear();
        try {
          await app.close();
        } finally {
          journal.close();
        }
      })();
      return stopping;
    },
  };
}

/**
 * The header whose condition a plain PutObject fails (If-None-Match: * on an existing key, If-Match
 * on another ETag or a missing key); undefined when it may go ahead. Other requests always may.
 */
function failedPrecondition(request: FxRequest, s3Store: FxS3Store): 'If-None-Match' | 'If-Match' | undefined {
  if (request.method !== 'PUT' || request.headers['x-amz-copy-source'] !== undefined) return undefined;
  const ifNoneMatch = request.headers['if-none-match'];
  const ifMatch = request.headers['if-match'];
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  const query = (request.query ?? {}) as Record<string, unknown>;
  if ('partNumber' in query || 'uploadId' in query) return undefined;
  const params = (request.params ?? {}) as { bucket?: string; '*'?: string };
  if (!params.bucket || !params['*']) return undefined;
  let etag: string | undefined;
  try {
    etag = s3Store.headObject(params.bucket, params['*']).etag;
  } catch {
    etag = undefined;
  }
  if (ifNoneMatch !== undefined && String(ifNoneMatch).trim() === '*' && etag !== undefined) return 'If-None-Match';
  if (ifMatch !== undefined) {
    const wanted = String(ifMatch).trim().replace(/^"|"$/g, '');
    if (etag === undefined || (wanted !== '*' && wanted !== etag.replace(/"/g, ''))) return 'If-Match';
  }
  return undefined;
}

function queueNameOf(physical: string): QueueName | undefined {
  return (Object.keys(queueTable) as QueueName[]).find((q) => queueTable[q].name === physical);
}

/**
 * Every queue (restored, created here or through the API) gets a receive that
 *   - writes all it changes (receive counts, moves to the dead-letter queue) as one journal line,
 *   - takes nothing for a client that has gone away (an aborted long poll must not hide messages
 *     until their visibility timeout).
 */
function wrapQueueCreation(
  sqsStore: FxSqsStore,
  journal: Journal,
  als: AsyncLocalStorage<RequestContext>,
  closing: () => boolean,
): void {
  const create = sqsStore.createQueue.bind(sqsStore);
  sqsStore.createQueue = (name, url, arn, attributes, tags) => {
    const queue = create(name, url, arn, attributes, tags);
    const dequeue = queue.dequeue.bind(queue);
    queue.dequeue = (maxCount, visibilityTimeoutOverride, dlqResolver) => {
      // Closing wakes the long polls: they must not take messages on their way out either.
      if (closing() || als.getStore()?.gone) return [];
      return journal.tx(() => dequeue(maxCount, visibilityTimeoutOverride, dlqResolver));
    };
    return queue;
  };
}

/** Loads the journal's state into the (not yet persistent) stores. */
function restoreStores(
  journal: Journal,
  sqsStore: FxSqsStore,
  s3Store: FxS3Store,
  queueUrl: (name: string) => string,
  queueArn: (name: string) => string,
): void {
  const { state } = journal;
  for (const [name, b] of state.buckets) {
    s3Store.createBucket(name, b.type);
    s3Store.setBucketCreationDate(name, new Date(b.created));
    if (b.lifecycle !== undefined) s3Store.restoreBucketLifecycleConfiguration(name, b.lifecycle);
    for (const [key, o] of state.objects.get(name) ?? []) s3Store.restoreObject(name, objectFromStored(key, o.meta));
  }
  for (const { upload, parts } of state.uploads.values()) {
    if (state.buckets.has(upload.bucket)) s3Store.restoreMultipartUpload(uploadFromStored(upload, parts, (ref) => journal.readBody(ref)));
  }
  for (const [name, q] of state.queues) {
    const queue = sqsStore.createQueue(name, queueUrl(name), queueArn(name), q.attributes, q.tags);
    queue.createdTimestamp = q.created;
    queue.lastModifiedTimestamp = q.modified;
    queue.sequenceCounter = q.seq;
  }
  const now = Date.now();
  for (const rec of state.messages.values()) {
    const queue = sqsStore.getQueueByName(rec.queue);
    if (!queue) continue;
    const m = rec.m;
    m.approximateReceiveCount = rec.n;
    const delayed = m.delayUntil !== undefined && m.delayUntil > now;
    if (queue.isFifo()) {
      const groups = delayed ? queue.fifoDelayed : queue.fifoMessages;
      const group = m.messageGroupId ?? '__default';
      const list = groups.get(group);
      if (list) list.push(m);
      else groups.set(group, [m]);
    } else if (delayed) {
      queue.delayedMessages.push(m);
    } else {
      // In flight when the process stopped: visible again, like after an expired visibility timeout.
      queue.messages.push(m);
    }
  }
}

function ensureQueue(sqsStore: FxSqsStore, name: string, url: string, arn: string, attributes: Record<string, string>): FxSqsQueue {
  const existing = sqsStore.getQueueByName(name);
  if (!existing) return sqsStore.createQueue(name, url, arn, attributes);
  const changed = Object.fromEntries(Object.entries(attributes).filter(([k, v]) => existing.attributes[k] !== v));
  if (Object.keys(changed).length > 0) existing.setAttributes(changed);
  return existing;
}
