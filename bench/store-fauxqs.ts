/**
 * The embedded stack as it would look moved onto fauxqs' own persistence — the alternative
 * bench/store.ts measures against local/emulator.ts (our journal). Benchmark-only: nothing in
 * the product imports it.
 *
 * It wires the stores the way fauxqs' own `startFauxqs` does (fauxqs 2.4.1, dist/app.js):
 *   - `sqlite`: `dataDir` — PersistenceManager, one SQLite file (WAL, synchronous=FULL as node:sqlite
 *     opens it), every store call one autocommitted statement; object bodies inline as BLOBs;
 *   - `sqlite-normal`: the same with `PRAGMA synchronous = NORMAL` (no fsync per commit, as our journal;
 *     still safe against a killed process), set on the manager's private connection;
 *   - `sqlite+files`: `dataDir` + `s3StorageDir` — SQS in SQLite, S3 as plain files
 *     (FileS3Persistence: `<key>.data` and `<key>.meta.json`, each written in place);
 *   - `memory`: no persistence at all (the ceiling).
 * and keeps only what fauxqs lacks: the routes' queues with their dead-letter queues and the S3
 * notifications, decided while the object is written:
 *   - `sqlite`, `sqlite-normal`: the object and its notifications in one SQLite transaction (BEGIN … COMMIT through
 *     the manager's own `transaction`), so a crash keeps both or neither;
 *   - `sqlite+files`: two stores, no shared transaction: the notification is committed first, then
 *     the object's files are written (a crash in between leaves a notification without its object,
 *     never an object without its notification — the lesser harm for a pipeline).
 * Everything else (receives, deletes, dead-letter moves, restore on start) is fauxqs' as shipped.
 * Conditional writes are left out: the benchmark does not use them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { queues as queueTable, routes as routesTable, type QueueName } from '../functions/routes.js';
import { ACCOUNT_ID, DLQ_RETENTION_SECONDS, type QueueOverride } from '../local/emulator.js';
import { fauxqsPackageDir, loadFauxqs, type FxS3Object, type FxS3Persistence, type FxSqsMessage, type FxSqsPersistence, type FxSqsQueue, type FxSqsStore } from '../local/fauxqs.js';
import { Sequencer, matchingRules, notificationRules, s3EventNotification } from '../local/s3-notifications.js';

export type NativeMode = 'sqlite' | 'sqlite-normal' | 'sqlite+files' | 'memory';

export interface NativeOptions {
  mode: NativeMode;
  dataDir: string;
  bucket: string;
  storePrefix: string;
  specsPrefix: string;
  region?: string;
  queueAttributes?: Partial<Record<QueueName, QueueOverride>>;
}

export interface NativeStack {
  endpoint: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  stop(): Promise<void>;
}

/** fauxqs' PersistenceManager, as far as it is used here (dist/persistence.js). */
export interface PersistenceManager extends FxSqsPersistence, FxS3Persistence {
  load(sqsStore: unknown, snsStore: unknown, s3Store: unknown): void;
  loadSqsAndSns(sqsStore: unknown, snsStore: unknown): void;
  /** Private in its typings, a plain method at run time: BEGIN, fn, COMMIT (ROLLBACK on throw). */
  transaction(fn: () => void): void;
}

export interface FauxqsPersistence {
  PersistenceManager: new (dataDir: string) => PersistenceManager;
  FileS3Persistence: new (dir: string) => FxS3Persistence;
}

/** fauxqs' own persistence classes (not exported by the package: loaded from its dist/). */
export async function loadFauxqsPersistence(): Promise<FauxqsPersistence> {
  const dist = (file: string) => pathToFileURL(join(fauxqsPackageDir(), 'dist', file)).href;
  const pm = (await import(dist('persistence.js'))) as { PersistenceManager: FauxqsPersistence['PersistenceManager'] };
  const files = (await import(dist('s3/fileS3Persistence.js'))) as { FileS3Persistence: FauxqsPersistence['FileS3Persistence'] };
  return { PersistenceManager: pm.PersistenceManager, FileS3Persistence: files.FileS3Persistence };
}

/** Hands a message that is already persisted to a queue without persisting it again. */
function enqueueQuietly(queue: FxSqsQueue, msg: FxSqsMessage): void {
  const persistence = queue.persistence;
  queue.persistence = undefined;
  try {
    queue.enqueue(msg);
  } finally {
    queue.persistence = persistence;
  }
}

export async function startNative(options: NativeOptions): Promise<NativeStack> {
  const fx = await loadFauxqs();
  const { PersistenceManager, FileS3Persistence } = await loadFauxqsPersistence();
  const region = options.region ?? 'us-east-1';
  const rules = notificationRules(options, routesTable);

  const sqsStore = fx.newSqsStore();
  const snsStore = fx.newSnsStore();
  const s3Store = fx.newS3Store();
  sqsStore.host = '';
  sqsStore.region = region;

  // As startFauxqs: load before the stores get their persistence.
  mkdirSync(options.dataDir, { recursive: true });
  const pm = options.mode === 'memory' ? undefined : new PersistenceManager(options.dataDir);
  if (pm && options.mode === 'sqlite-normal') (pm as unknown as { db: { exec(sql: string): void } }).db.exec('PRAGMA synchronous = NORMAL');
  const files = options.mode === 'sqlite+files' ? new FileS3Persistence(join(options.dataDir, 's3')) : undefined;
  if (pm && !files) pm.load(sqsStore, snsStore, s3Store);
  else if (pm && files) {
    pm.loadSqsAndSns(sqsStore, snsStore);
    files.loadS3(s3Store);
  }

  const sequencer = new Sequencer();
  const notificationsFor = (bucket: string, obj: FxS3Object): Array<{ queue: FxSqsQueue; msg: FxSqsMessage }> => {
    if (bucket !== options.bucket) return [];
    const seq = sequencer.next();
    return matchingRules(rules, obj.key).flatMap((rule) => {
      const queue = sqsStore.getQueueByName(queueTable[rule.queue].name);
      if (!queue) return [];
      const body = s3EventNotification({
        region,
        bucket,
        key: obj.key,
        size: obj.contentLength,
        eTag: obj.etag,
        eventName: 'ObjectCreated:Put',
        eventTime: obj.lastModified,
        sequencer: seq,
        configurationId: rule.configurationId,
      });
      return [{ queue, msg: fx.createMessage(JSON.stringify(body)) }];
    });
  };

  if (pm) {
    sqsStore.persistence = pm;
    for (const q of sqsStore.allQueues()) q.persistence = pm;
    const s3p = files ?? pm;
    // The object store's persistence, with the notifications written beside each object.
    const withNotifications: FxS3Persistence = Object.create(s3p) as FxS3Persistence;
    withNotifications.upsertObject = (bucket, obj) => {
      const out = notificationsFor(bucket, obj);
      if (files) {
        for (const d of out) pm.insertMessage(d.queue.name, d.msg);
        files.upsertObject(bucket, obj);
      } else {
        pm.transaction(() => {
          pm.upsertObject(bucket, obj);
          for (const d of out) pm.insertMessage(d.queue.name, d.msg);
        });
      }
      for (const d of out) enqueueQuietly(d.queue, d.msg);
    };
    s3Store.persistence = withNotifications;
  } else {
    // No persistence: notify after the in-memory put.
    const store = s3Store as unknown as { putObject(bucket: string, key: string, ...rest: unknown[]): FxS3Object };
    const put = store.putObject.bind(store);
    store.putObject = (bucket, key, ...rest) => {
      const obj = put(bucket, key, ...rest);
      for (const d of notificationsFor(bucket, obj)) d.queue.enqueue(d.msg);
      return obj;
    };
  }

  const app = fx.buildApp({ logger: false, defaultRegion: region, stores: { sqsStore, snsStore, s3Store } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('native: no TCP address');
  const endpoint = `http://127.0.0.1:${address.port}`;
  const url = (name: string) => `${endpoint}/${ACCOUNT_ID}/${name}`;
  const arn = (name: string) => `arn:aws:sqs:${region}:${ACCOUNT_ID}:${name}`;

  if (!s3Store.hasBucket(options.bucket)) s3Store.createBucket(options.bucket);
  const queueUrls = {} as Record<QueueName, string>;
  const dlqUrls = {} as Record<QueueName, string>;
  for (const [name, spec] of Object.entries(queueTable) as Array<[QueueName, (typeof queueTable)[QueueName]]>) {
    const override = options.queueAttributes?.[name] ?? {};
    const dlq = `${spec.name}-dlq`;
    ensureQueue(sqsStore, dlq, url(dlq), arn(dlq), { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) });
    ensureQueue(sqsStore, spec.name, url(spec.name), arn(spec.name), {
      VisibilityTimeout: String(override.visibilityTimeoutSeconds ?? spec.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn(dlq), maxReceiveCount: override.maxReceiveCount ?? spec.maxReceiveCount }),
    });
    queueUrls[name] = url(spec.name);
    dlqUrls[name] = url(dlq);
  }

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    queueUrls,
    dlqUrls,
    stop() {
      stopping ??= (async () => {
        await app.close();
        sqsStore.shutdown();
        files?.close();
        pm?.close();
      })();
      return stopping;
    },
  };
}

function ensureQueue(store: FxSqsStore, name: string, url: string, arn: string, attributes: Record<string, string>): void {
  const existing = store.getQueueByName(name);
  if (!existing) {
    store.createQueue(name, url, arn, attributes);
    return;
  }
  const changed = Object.fromEntries(Object.entries(attributes).filter(([k, v]) => existing.attributes[k] !== v));
  if (Object.keys(changed).length > 0) existing.setAttributes(changed);
}
