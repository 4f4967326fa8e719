/**
 * ObjectStore on S3 (or any S3-compatible server). Counts operations for the benchmarks.
 * Bodies from files are streamed: up to one part in memory, multipart above MULTIPART_THRESHOLD.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Upload } from '@aws-sdk/lib-storage';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { FileBody, ListPage, ObjectBody, ObjectStore, VersionedObject, WriteCondition } from '../core/ports.js';

/** Files larger than this go up as a multipart upload of PART_SIZE parts, one part at a time. */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;
const PART_SIZE = 5 * 1024 * 1024;

function isFileBody(body: ObjectBody): body is FileBody {
  return typeof body === 'object' && !Buffer.isBuffer(body);
}

export interface StoreStats {
  get: number;
  put: number;
  head: number;
  list: number;
  delete: number;
  /** Puts that went up as multipart uploads. */
  multipart: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly stats: StoreStats = { get: 0, put: 0, head: 0, list: 0, delete: 0, multipart: 0 };

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async get(key: string): Promise<Buffer | undefined> {
    this.stats.get++;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = await out.Body?.transformToByteArray();
      return Buffer.from(bytes ?? []);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body: ObjectBody, contentType = 'application/octet-stream', tags?: Readonly<Record<string, string>>): Promise<void> {
    this.stats.put++;
    const tagging = tags ? new URLSearchParams(Object.entries(tags)).toString() : undefined;
    const common = { Bucket: this.bucket, Key: key, ContentType: contentType, ...(tagging ? { Tagging: tagging } : {}) };
    if (!isFileBody(body)) {
      // An explicit length: the SDK sends none for an empty string body and then warns on every such put.
      const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
      await this.client.send(new PutObjectCommand({ ...common, Body: body, ContentLength: length }));
    } else if (body.size <= MULTIPART_THRESHOLD) {
      const bytes = await readFile(body.path);
      await this.client.send(new PutObjectCommand({ ...common, Body: bytes, ContentLength: bytes.length }));
    } else {
      this.stats.multipart++;
      const upload = new Upload({
        client: this.client,
        params: { ...common, Body: createReadStream(body.path, { highWaterMark: 1024 * 1024 }) },
        partSize: PART_SIZE,
        queueSize: 1,
        leavePartsOnError: false,
      });
      await upload.done();
    }
  }

  async read(key: string): Promise<VersionedObject | undefined> {
    this.stats.get++;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = await out.Body?.transformToByteArray();
      return { body: Buffer.from(bytes ?? []), etag: out.ETag ?? '' };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async putIf(key: string, body: string | Buffer, condition: WriteCondition, contentType = 'application/octet-stream'): Promise<boolean> {
    this.stats.put++;
    const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    const when = 'absent' in condition ? { IfNoneMatch: '*' } : { IfMatch: condition.etag };
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentLength: length, ...when }));
      return true;
    } catch (error) {
      // 412: the condition did not hold. 409: S3 saw a concurrent conditional write win first.
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e?.$metadata?.httpStatusCode === 412 || e?.name === 'PreconditionFailed') return false;
      if (e?.$metadata?.httpStatusCode === 409 || e?.name === 'ConditionalRequestConflict') return false;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    this.stats.head++;
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async list(prefix: string, options: { delimiter?: string; maxKeys?: number; token?: string; startAfter?: string } = {}): Promise<ListPage> {
    this.stats.list++;
    const out = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: options.delimiter,
        MaxKeys: options.maxKeys,
        ContinuationToken: options.token,
        StartAfter: options.startAfter,
      }),
    );
    return {
      keys: (out.Contents ?? []).map((o) => o.Key ?? '').filter((k) => k !== ''),
      prefixes: (out.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter((p) => p !== ''),
      ...(out.IsTruncated && out.NextContinuationToken ? { nextToken: out.NextContinuationToken } : {}),
    };
  }

  async delete(key: string): Promise<void> {
    this.stats.delete++;
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

function isMissing(error: unknown): boolean {
  if (error instanceof NoSuchKey || error instanceof NotFound) return true;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
