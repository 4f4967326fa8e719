/**
 * The store: one S3 bucket holding the inspections (the original's layout), the listing index and
 * the spec-drop prefix. Encrypted, private, TLS only, versioned, access-logged; lifecycle rules keep
 * build contexts and old versions from accumulating.
 */
import { BUILD_CONTEXT_TAGS } from '../../functions/core/layout.js';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { Layout } from '../../functions/core/layout.js';

/**
 * The tag that marks build-context objects for their lifecycle rule: S3 lifecycle filters match key
 * prefixes only, and build contexts sit below each inspection id (`<prefix>/<id>/build/context.json`, `context.tar.gz`).
 */
export const BUILD_CONTEXT_TAG = (() => {
  const [entry] = Object.entries(BUILD_CONTEXT_TAGS);
  if (!entry) throw new Error('BUILD_CONTEXT_TAGS is empty');
  return { key: entry[0], value: entry[1] } as const;
})();

/**
 * What becomes of the data (the buckets, the image repository) when the stack goes: with
 * `retainData` it stays on delete and on replacement, but not when the operation that created it
 * rolls back. A failed first deploy then leaves nothing behind, and the retry does not stop at
 * "already exists" (the repository has a fixed name).
 */
export function dataRemovalPolicy(retainData: boolean): RemovalPolicy {
  return retainData ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;
}

export interface StoreProps {
  storePrefix: string;
  specsPrefix: string;
  retainData: boolean;
  buildContextExpirationDays: number;
  noncurrentVersionExpirationDays: number;
}

export class Store extends Construct {
  readonly bucket: Bucket;
  readonly accessLogs: Bucket;
  /** Without trailing slash, as AMUN_STORE_PREFIX. */
  readonly storePrefix: string;
  /** With trailing slash, as AMUN_SPECS_PREFIX. */
  readonly specsPrefix: string;
  /** The listing index beside the store (functions/core/layout.ts). */
  readonly indexPrefix: string;
  /** The blobs beside the store: what every inspection of a version shares, stored once (never expired: tiny, and still named by contexts). */
  readonly blobPrefix: string;

  constructor(scope: Construct, id: string, props: StoreProps) {
    super(scope, id);
    this.storePrefix = props.storePrefix;
    this.specsPrefix = props.specsPrefix;
    const layout = new Layout(props.storePrefix);
    this.indexPrefix = layout.indexPrefix;
    this.blobPrefix = layout.blobPrefix;
    const removalPolicy = dataRemovalPolicy(props.retainData);
    const secure = {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy,
      autoDeleteObjects: !props.retainData,
    };

    this.accessLogs = new Bucket(this, 'AccessLogs', {
      ...secure,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });

    this.bucket = new Bucket(this, 'Bucket', {
      ...secure,
      versioned: true,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'store/',
      lifecycleRules: [
        {
          // Build contexts are inputs of one build; the Dockerfile and specification stay.
          id: 'expire-build-contexts',
          tagFilters: { [BUILD_CONTEXT_TAG.key]: BUILD_CONTEXT_TAG.value },
          expiration: Duration.days(props.buildContextExpirationDays),
        },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpirationDays),
          expiredObjectDeleteMarker: true,
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
  }

  get iBucket(): IBucket {
    return this.bucket;
  }

  /** `arn:…:<bucket>/<pattern>` */
  objects(pattern: string): string {
    return this.bucket.arnForObjects(pattern);
  }

  /** Every object of the store proper, of its index and of its blobs. */
  storeObjectPatterns(): string[] {
    return [`${this.storePrefix}/*`, `${this.indexPrefix}/*`, `${this.blobPrefix}/*`];
  }

}
