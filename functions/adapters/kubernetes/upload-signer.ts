/**
 * Upload grants for cluster pods, which get no cloud credentials: presigned PUT URLs for exact keys
 * (the build's log and status) and a presigned POST policy for a key prefix (a run's results/).
 *
 * Signed with the function's own credentials, so a grant also ends when those credentials do:
 * temporary credentials (a Lambda role) usually live for hours, not for a week of runs. Grants are
 * sized to their Job's deadline; the reconciler writes what a pod could not upload.
 */
import type { Clock } from '../../core/ports.js';
import { encodeKeyPath, postPolicy, presignUrl, UNSIGNED_PAYLOAD, type CredentialsProvider, type PostPolicy } from './aws-signing.js';

export interface UploadSigner {
  presignPut(key: string, expiresSeconds: number): Promise<string>;
  presignPost(keyPrefix: string, expiresAt: Date): Promise<{ url: string } & PostPolicy>;
}

export interface S3UploadSignerOptions {
  bucket: string;
  region: string;
  /** S3-compatible endpoint (path-style addressing); AWS virtual-hosted addressing when absent. */
  endpoint?: string | undefined;
  credentials: CredentialsProvider;
  clock: Clock;
  /** Largest object a POST may upload (default 512 MiB). */
  maxObjectBytes?: number;
}

export class S3UploadSigner implements UploadSigner {
  private readonly protocol: 'http' | 'https';
  private readonly host: string;
  private readonly pathPrefix: string;

  constructor(private readonly options: S3UploadSignerOptions) {
    if (options.endpoint) {
      const url = new URL(options.endpoint);
      this.protocol = url.protocol === 'http:' ? 'http' : 'https';
      this.host = url.host;
      this.pathPrefix = `${url.pathname.replace(/\/+$/, '')}/${options.bucket}`;
    } else {
      this.protocol = 'https';
      this.host = `${options.bucket}.s3.${options.region}.amazonaws.com`;
      this.pathPrefix = '';
    }
  }

  async presignPut(key: string, expiresSeconds: number): Promise<string> {
    return presignUrl({
      method: 'PUT',
      protocol: this.protocol,
      host: this.host,
      path: `${this.pathPrefix}${encodeKeyPath(key)}`,
      service: 's3',
      region: this.options.region,
      credentials: await this.options.credentials(),
      date: this.options.clock.now(),
      expiresSeconds,
      payloadHash: UNSIGNED_PAYLOAD,
    });
  }

  async presignPost(keyPrefix: string, expiresAt: Date): Promise<{ url: string } & PostPolicy> {
    const policy = await postPolicy({
      bucket: this.options.bucket,
      keyPrefix,
      region: this.options.region,
      credentials: await this.options.credentials(),
      date: this.options.clock.now(),
      expiresAt,
      maxBytes: this.options.maxObjectBytes ?? 512 * 1024 * 1024,
    });
    return { url: `${this.protocol}://${this.host}${this.pathPrefix}/`, ...policy };
  }
}
