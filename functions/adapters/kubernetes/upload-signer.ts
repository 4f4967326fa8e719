/**
 * Upload grants for cluster pods, which get no cloud credentials: presigned PUT URLs for exact keys
 * (the build's log and status) and a presigned POST policy for a key prefix (a run's results/).
 *
 * Signed with the function's own credentials, so a grant also ends when those credentials do
 * (S3 refuses a signature whose session has expired, whatever the URL or policy says). Each grant
 * therefore says when it really ends: the time asked for, capped by the credentials' expiry, or,
 * for temporary credentials that do not say when they expire (a Lambda function's, from its
 * environment), by ASSUMED_SESSION_SECONDS after signing. Long-term keys (and the embedded
 * store's) cap nothing. The reconciler replaces a running Job's grant before it ends
 * (upload-grants.ts), so a run may outlast any one session.
 */
import type { Clock } from '../../core/ports.js';
import { encodeKeyPath, MAX_PRESIGN_SECONDS, postPolicy, presignUrl, UNSIGNED_PAYLOAD, type AwsCredentials, type PostPolicy } from './aws-signing.js';
import type { GrantCredentials } from './upload-grant-credentials.js';

/** Temporary credentials without a stated expiry are taken to last this long after signing (STS's shortest role-chained session is 1 h). */
export const ASSUMED_SESSION_SECONDS = 3600;

/** A presigned PUT URL and when it stops working. */
export interface PresignedPut {
  url: string;
  expiresAt: Date;
}

/** A presigned POST policy (its document's `expiration` is `expiresAt`). */
export type PresignedPost = { url: string; expiresAt: Date } & PostPolicy;

export interface UploadSigner {
  presignPut(key: string, expiresSeconds: number): Promise<PresignedPut>;
  presignPost(keyPrefix: string, expiresAt: Date): Promise<PresignedPost>;
}

/** When a signature made now with these credentials stops being accepted (undefined: not before a SigV4 week). */
export function sessionEnd(credentials: AwsCredentials, now: Date): Date | undefined {
  if (credentials.expiration instanceof Date && !Number.isNaN(credentials.expiration.getTime())) return credentials.expiration;
  return credentials.sessionToken ? new Date(now.getTime() + ASSUMED_SESSION_SECONDS * 1000) : undefined;
}

/** The earlier of the two, `wanted` when there is no end. */
function capped(wanted: Date, end: Date | undefined): Date {
  return end && end.getTime() < wanted.getTime() ? end : wanted;
}

export interface S3UploadSignerOptions {
  bucket: string;
  region: string;
  /** S3-compatible endpoint (path-style addressing); AWS virtual-hosted addressing when absent. */
  endpoint?: string | undefined;
  /** The credentials that sign, asked for with the time the grant should last until (upload-grant-credentials.ts). */
  credentials: GrantCredentials;
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

  async presignPut(key: string, expiresSeconds: number): Promise<PresignedPut> {
    const now = this.options.clock.now();
    const wanted = new Date(now.getTime() + Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(expiresSeconds))) * 1000);
    const credentials = await this.options.credentials(wanted);
    const expiresAt = capped(wanted, sessionEnd(credentials, now));
    const url = await presignUrl({
      method: 'PUT',
      protocol: this.protocol,
      host: this.host,
      path: `${this.pathPrefix}${encodeKeyPath(key)}`,
      service: 's3',
      region: this.options.region,
      credentials,
      date: now,
      expiresSeconds: Math.max(1, Math.floor((expiresAt.getTime() - now.getTime()) / 1000)),
      payloadHash: UNSIGNED_PAYLOAD,
    });
    return { url, expiresAt };
  }

  async presignPost(keyPrefix: string, wanted: Date): Promise<PresignedPost> {
    const now = this.options.clock.now();
    const credentials = await this.options.credentials(wanted);
    // The policy's own expiration says when the grant really ends.
    const expiresAt = capped(wanted, sessionEnd(credentials, now));
    const policy = await postPolicy({
      bucket: this.options.bucket,
      keyPrefix,
      region: this.options.region,
      credentials,
      date: now,
      expiresAt,
      maxBytes: this.options.maxObjectBytes ?? 512 * 1024 * 1024,
    });
    return { url: `${this.protocol}://${this.host}${this.pathPrefix}/`, expiresAt, ...policy };
  }
}
