/** ObjectStore on S3 (or any S3-compatible server). Counts operations for the benchmarks. */
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
import type { ListPage, ObjectStore } from '../core/ports.js';

export interface StoreStats {
  get: number;
  put: number;
  head: number;
  list: number;
  delete: number;
}

export class S3ObjectStore implements ObjectStore {
  readonly stats: StoreStats = { get: 0, put: 0, head: 0, list: 0, delete: 0 };

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

  async put(key: string, body: string | Buffer, contentType = 'application/octet-stream', tags?: Readonly<Record<string, string>>): Promise<void> {
    this.stats.put++;
    // An explicit length: the SDK sends none for an empty string body and then warns on every such put.
    const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    const tagging = tags ? new URLSearchParams(Object.entries(tags)).toString() : undefined;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ContentLength: length, ...(tagging ? { Tagging: tagging } : {}) }));
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
