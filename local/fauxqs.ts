/**
 * The one place that reaches into fauxqs beyond its public entry point.
 *
 * fauxqs' package `exports` only exposes `.` (buildApp, startFauxqs), but the embedded stack needs
 * the store classes to wire its own persistence and S3 notifications into them. They are loaded
 * here by absolute path from the resolved package directory, with the few members we rely on
 * typed below. We pin fauxqs to exactly PINNED_VERSION; test/local/emulator.test.ts pins the
 * behaviour these types describe (write-through hooks, DLQ moves, on-demand body reads).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export const PINNED_VERSION = '2.4.1';

export interface FxMessageAttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

/** fauxqs' in-memory SQS message (sqsTypes.d.ts `SqsMessage`). */
export interface FxSqsMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, FxMessageAttributeValue>;
  md5OfMessageAttributes: string;
  sentTimestamp: number;
  approximateReceiveCount: number;
  approximateFirstReceiveTimestamp?: number | undefined;
  delayUntil?: number | undefined;
  messageGroupId?: string | undefined;
  messageDeduplicationId?: string | undefined;
  sequenceNumber?: string | undefined;
}

export interface FxInflightEntry {
  message: FxSqsMessage;
  receiptHandle: string;
  visibilityDeadline: number;
}

/** The write-through calls SqsQueue/SqsStore make (persistence.d.ts `PersistenceManager`, SQS part). */
export interface FxSqsPersistence {
  insertQueue(queue: FxSqsQueue): void;
  deleteQueue(name: string): void;
  updateQueueAttributes(name: string, attributes: Record<string, string>, lastModified: number): void;
  updateQueueSequenceCounter(name: string, counter: number): void;
  insertMessage(queueName: string, msg: FxSqsMessage): void;
  deleteMessage(messageId: string): void;
  updateMessageInflight(
    messageId: string,
    receiptHandle: string,
    visibilityDeadline: number,
    receiveCount: number,
    firstReceiveTimestamp: number | undefined,
  ): void;
  updateMessageReady(messageId: string): void;
  deleteQueueMessages(queueName: string): void;
  deleteAllMessages(): void;
}

export type FxDequeue = (maxCount: number, visibilityTimeoutOverride?: number, dlqResolver?: (arn: string) => FxSqsQueue | undefined) => unknown[];

export interface FxSqsQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  createdTimestamp: number;
  lastModifiedTimestamp: number;
  attributes: Record<string, string>;
  tags: Map<string, string>;
  messages: FxSqsMessage[];
  delayedMessages: FxSqsMessage[];
  inflightMessages: Map<string, FxInflightEntry>;
  fifoMessages: Map<string, FxSqsMessage[]>;
  fifoDelayed: Map<string, FxSqsMessage[]>;
  sequenceCounter: number;
  persistence?: FxSqsPersistence | undefined;
  isFifo(): boolean;
  getAttribute(name: string): string | undefined;
  setAttributes(attrs: Record<string, string>): void;
  enqueue(msg: FxSqsMessage): void;
  dequeue: FxDequeue;
  processTimers(): void;
}

export interface FxSqsStore {
  host: string;
  region?: string | undefined;
  persistence?: FxSqsPersistence | undefined;
  createQueue(name: string, url: string, arn: string, attributes?: Record<string, string>, tags?: Record<string, string>): FxSqsQueue;
  getQueueByName(name: string): FxSqsQueue | undefined;
  getQueueByArn(arn: string): FxSqsQueue | undefined;
  allQueues(): Iterable<FxSqsQueue>;
  shutdown(): void;
}

export type FxChecksumAlgorithm = 'CRC32' | 'SHA1' | 'SHA256';

/** fauxqs' S3 object (s3Types.d.ts `S3Object`). */
export interface FxS3Object {
  key: string;
  body: Buffer;
  contentType: string;
  contentLength: number;
  etag: string;
  lastModified: Date;
  metadata: Record<string, string>;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
  contentEncoding?: string;
  parts?: Array<{ partNumber: number; offset: number; length: number }>;
  checksumAlgorithm?: FxChecksumAlgorithm;
  checksumValue?: string;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  partChecksums?: string[];
}

export interface FxMultipartPart {
  partNumber: number;
  body: Buffer;
  etag: string;
  lastModified: Date;
  checksumValue?: string;
}

export interface FxMultipartUpload {
  uploadId: string;
  bucket: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  parts: Map<number, FxMultipartPart>;
  initiated: Date;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
  contentEncoding?: string;
  checksumAlgorithm?: FxChecksumAlgorithm;
}

export type FxBucketType = 'general-purpose' | 'directory';

/** s3Persistence.d.ts `S3PersistenceProvider`. */
export interface FxS3Persistence {
  insertBucket(name: string, creationDate: Date, type: FxBucketType): void;
  deleteBucket(name: string): void;
  saveBucketLifecycleConfiguration(bucket: string, config: string): void;
  deleteBucketLifecycleConfiguration(bucket: string): void;
  upsertObject(bucket: string, obj: FxS3Object): void;
  deleteObject(bucket: string, key: string): void;
  deleteObjectsByBucket(bucket: string): void;
  deleteAllObjects(): void;
  renameObject(bucket: string, sourceKey: string, destKey: string): void;
  readBody(bucket: string, key: string): Buffer;
  insertMultipartUpload(upload: FxMultipartUpload): void;
  upsertMultipartPart(uploadId: string, part: FxMultipartPart): void;
  deleteMultipartUpload(uploadId: string): void;
  completeMultipartUpload(uploadId: string, bucket: string, obj: FxS3Object): void;
  deleteAllMultipartUploads(): void;
  loadS3(s3Store: unknown): void;
  purgeAll(): void;
  close(): void;
}

export interface FxS3Store {
  persistence?: FxS3Persistence | undefined;
  createBucket(name: string, type?: FxBucketType): void;
  hasBucket(name: string): boolean;
  setBucketCreationDate(name: string, date: Date): void;
  restoreObject(bucket: string, obj: FxS3Object): void;
  restoreMultipartUpload(upload: FxMultipartUpload): void;
  restoreBucketLifecycleConfiguration(name: string, config: string): void;
  /** The object's metadata (no body read); throws an S3Error (NoSuchKey, NoSuchBucket) when absent. */
  headObject(bucket: string, key: string): FxS3Object;
}

/** The part of the Fastify instance buildApp returns that the emulator uses. */
export interface FxRequest {
  ip: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Route parameters: S3 object routes have `bucket` and the key as `*`. */
  params: unknown;
  query: unknown;
  raw: IncomingMessage;
}
export interface FxReply {
  raw: ServerResponse;
  header(name: string, value: string): FxReply;
  hasHeader(name: string): boolean;
  status(code: number): FxReply;
  send(payload?: string): FxReply;
}
export interface FxApp {
  addHook(name: 'onRequest' | 'preHandler', hook: (request: FxRequest, reply: FxReply, done: (err?: Error) => void) => void): unknown;
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<undefined> | PromiseLike<undefined>;
  readonly server: Server;
}

export interface Fauxqs {
  version: string;
  buildApp(options: {
    logger?: boolean;
    host?: string;
    defaultRegion?: string;
    stores: { sqsStore: FxSqsStore; snsStore: unknown; s3Store: FxS3Store };
  }): FxApp;
  newSqsStore(): FxSqsStore;
  newSnsStore(): unknown;
  newS3Store(): FxS3Store;
  /** A new message as SendMessage would create it (id, MD5s, timestamps). */
  createMessage(body: string, messageAttributes?: Record<string, FxMessageAttributeValue>): FxSqsMessage;
}

/** The installed package's directory, found the way Node resolves `fauxqs` from here. */
export function fauxqsPackageDir(): string {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths('fauxqs') ?? []) {
    const candidate = join(dir, 'fauxqs');
    if (existsSync(join(candidate, 'package.json')) && existsSync(join(candidate, 'dist', 'app.js'))) return candidate;
  }
  throw new Error('fauxqs is not installed (looked along the node_modules path of local/fauxqs.ts)');
}

let loaded: Promise<Fauxqs> | undefined;

export function loadFauxqs(): Promise<Fauxqs> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<Fauxqs> {
  const dir = fauxqsPackageDir();
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  if (pkg.version !== PINNED_VERSION) {
    throw new Error(
      `fauxqs ${pkg.version} is installed at ${dir}, the embedded stack is written against ${PINNED_VERSION} ` +
        '(it uses the package internals); install the pinned version',
    );
  }
  const dist = (file: string) => pathToFileURL(join(dir, 'dist', file)).href;
  // One at a time: jest's ESM runtime (--experimental-vm-modules) fails concurrent dynamic imports
  // that share a builtin ("request for 'node:crypto' is from a module not been linked").
  const app = (await import(dist('app.js'))) as { buildApp: Fauxqs['buildApp'] };
  const sqs = (await import(dist('sqs/sqsStore.js'))) as {
    SqsStore: (new () => FxSqsStore) & { createMessage(body: string, attrs?: Record<string, FxMessageAttributeValue>): FxSqsMessage };
  };
  const sns = (await import(dist('sns/snsStore.js'))) as { SnsStore: new () => unknown };
  const s3 = (await import(dist('s3/s3Store.js'))) as { S3Store: new () => FxS3Store };
  for (const [name, value] of [
    ['buildApp', app.buildApp],
    ['SqsStore', sqs.SqsStore],
    ['SnsStore', sns.SnsStore],
    ['S3Store', s3.S3Store],
  ] as const) {
    if (typeof value !== 'function') throw new Error(`fauxqs ${pkg.version}: ${name} not found under ${dirname(dist('app.js'))}`);
  }
  return {
    version: pkg.version,
    buildApp: app.buildApp,
    newSqsStore: () => new sqs.SqsStore(),
    newSnsStore: () => new sns.SnsStore(),
    newS3Store: () => new s3.S3Store(),
    createMessage: (body, attrs) => sqs.SqsStore.createMessage(body, attrs ?? {}),
  };
}
