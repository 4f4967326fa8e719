/**
 * S3 → SQS event notifications as AWS delivers them, for the bucket configuration the routes table
 * describes: one rule per `s3` route (prefix + suffix filter → that route's queue).
 */
import { resolvePrefix, routes as routesTable, type FunctionName, type QueueName, type Route } from '../functions/routes.js';

export type S3CreatedEventName = 'ObjectCreated:Put' | 'ObjectCreated:Post' | 'ObjectCreated:Copy' | 'ObjectCreated:CompleteMultipartUpload';

export interface NotificationRule {
  /** Appears as `s3.configurationId` in the records. */
  configurationId: string;
  route: FunctionName;
  queue: QueueName;
  prefix: string;
  suffix: string;
}

/** The bucket's notification configuration: one rule per `s3` route. */
export function notificationRules(
  config: { storePrefix: string; specsPrefix: string },
  routes: ReadonlyArray<Route> = routesTable,
): NotificationRule[] {
  const rules: NotificationRule[] = [];
  for (const r of routes) {
    if (r.trigger.kind !== 's3') continue;
    rules.push({
      configurationId: `amun-${r.name}`,
      route: r.name,
      queue: r.trigger.queue,
      prefix: resolvePrefix(r.trigger.prefix, config),
      suffix: r.trigger.suffix,
    });
  }
  return rules;
}

/** Rules whose filter the key matches (S3 filters compare the raw key: prefix and suffix). */
export function matchingRules(rules: ReadonlyArray<NotificationRule>, key: string): NotificationRule[] {
  return rules.filter((r) => key.startsWith(r.prefix) && key.endsWith(r.suffix) && key.length >= r.prefix.length + r.suffix.length);
}

/**
 * The key as S3 writes it into event records: form-urlencoded UTF-8 (space → `+`, `+` → `%2B`,
 * parentheses and the like percent-encoded) with `/` left as it is. Consumers decode it with
 * `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export function encodeEventKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment)
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
        .replace(/%20/g, '+'),
    )
    .join('/');
}

/** The inverse of encodeEventKey (what a Lambda handler does with `s3.object.key`). */
export function decodeEventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/**
 * `s3.object.sequencer`: hexadecimal, increasing with every event of this process and across
 * restarts (it starts from the clock), so the later of two events for a key compares greater
 * (compare after left-padding, as AWS documents).
 */
export class Sequencer {
  private last = 0n;

  next(now = Date.now()): string {
    const candidate = BigInt(now) << 16n;
    this.last = candidate > this.last ? candidate : this.last + 1n;
    return this.last.toString(16).toUpperCase().padStart(18, '0');
  }
}

export interface S3EventInput {
  region: string;
  bucket: string;
  key: string;
  size: number;
  /** With or without the quotes S3 puts around it in headers. */
  eTag: string;
  eventName: S3CreatedEventName;
  eventTime: Date;
  sequencer: string;
  configurationId: string;
  sourceIp?: string | undefined;
  requestId?: string | undefined;
  hostId?: string | undefined;
  principalId?: string | undefined;
}

export interface S3EventRecordBody {
  eventVersion: '2.1';
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: S3CreatedEventName;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size: number; eTag: string; sequencer: string };
  };
}

export interface S3EventNotificationBody {
  Records: S3EventRecordBody[];
}

export const LOCAL_PRINCIPAL = 'AWS:000000000000';

/** One record, in the order and shape S3 sends it (eventVersion 2.1). */
export function s3EventNotification(input: S3EventInput): S3EventNotificationBody {
  const principalId = input.principalId ?? LOCAL_PRINCIPAL;
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: input.region,
        eventTime: input.eventTime.toISOString(),
        eventName: input.eventName,
        userIdentity: { principalId },
        requestParameters: { sourceIPAddress: input.sourceIp ?? '127.0.0.1' },
        responseElements: {
          'x-amz-request-id': input.requestId ?? '0000000000000000',
          'x-amz-id-2': input.hostId ?? 'amun-local',
        },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: input.configurationId,
          bucket: { name: input.bucket, ownerIdentity: { principalId }, arn: `arn:aws:s3:::${input.bucket}` },
          object: {
            key: encodeEventKey(input.key),
            size: input.size,
            eTag: input.eTag.replace(/"/g, ''),
            sequencer: input.sequencer,
          },
        },
      },
    ],
  };
}
