/**
 * Queue-triggered handlers: one record at a time (or the batch at once, for a stage that does one
 * thing for several records), failures reported per record (ReportBatchItemFailures), so one bad
 * record never makes a whole batch retry.
 */
import middy from '@middy/core';
import sqsPartialBatchFailure from '@middy/sqs-partial-batch-failure';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Logger } from '../logger.js';
import { CorruptDataError } from '../core/errors.js';
import { validators, toProblems, type ValidatorName } from '../core/validation.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export function sqsHandler(logger: Logger, perRecord: (record: SQSRecord) => Promise<void>): SqsHandler {
  return sqsBatchHandler(logger, async (records) => {
    const failures: unknown[] = records.map(() => undefined);
    for (const [n, record] of records.entries()) {
      try {
        await perRecord(record);
      } catch (reason) {
        failures[n] = reason ?? new Error('record failed');
      }
    }
    return failures;
  });
}

/**
 * A handler that takes the whole batch at once (to do one thing for several records) and answers,
 * per record in order, why it failed or undefined: those that failed are reported for retry.
 */
export function sqsBatchHandler(logger: Logger, whole: (records: ReadonlyArray<SQSRecord>) => Promise<ReadonlyArray<unknown>>): SqsHandler {
  const handler = middy<SQSEvent, PromiseSettledResult<void>[] | SQSBatchResponse>()
    .use(sqsPartialBatchFailure({ logger: (reason: unknown, record: SQSRecord) => logger.error('record failed; it will be retried', { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount, error: reason as Error }) }))
    .handler(async (event) => {
      const failures = await whole(event.Records);
      return event.Records.map((_, n): PromiseSettledResult<void> => (failures[n] === undefined ? { status: 'fulfilled', value: undefined } : { status: 'rejected', reason: failures[n] }));
    });
  return handler as unknown as SqsHandler;
}

/** The JSON body of a record, checked against its message schema. */
export function messageBody<T>(record: SQSRecord, validator: ValidatorName): T {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new CorruptDataError(`message ${record.messageId} is not JSON`);
  }
  const fn = validators[validator];
  if (!fn(body)) throw new CorruptDataError(`message ${record.messageId} is not a valid ${validator}: ${JSON.stringify(toProblems(fn.errors))}`);
  return body as T;
}

export interface CreatedObject {
  bucket: string;
  /** URL-decoded: S3 encodes keys in notifications, with '+' for a space. */
  key: string;
  eTag: string;
  sequencer: string;
  size: number;
  eventTime: string;
}

/** The objects an S3 notification (delivered through SQS) announces; the S3 test event announces none. */
export function createdObjects(record: SQSRecord): CreatedObject[] {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new CorruptDataError(`message ${record.messageId} is not JSON`);
  }
  if (!validators.s3Notification(body)) throw new CorruptDataError(`message ${record.messageId} is not an S3 notification: ${JSON.stringify(toProblems(validators.s3Notification.errors))}`);
  const records = (body as { Records?: Array<{ eventTime: string; s3: { bucket: { name: string }; object: { key: string; eTag: string; sequencer: string; size: number } } }> }).Records ?? [];
  return records.map((r) => ({
    bucket: r.s3.bucket.name,
    key: decodeS3Key(r.s3.object.key),
    eTag: r.s3.object.eTag,
    sequencer: r.s3.object.sequencer,
    size: r.s3.object.size,
    eventTime: r.eventTime,
  }));
}

/** True on the delivery after which the queue moves the message to its dead-letter queue. */
export function isLastAttempt(record: SQSRecord, maxReceiveCount: number): boolean {
  return Number(record.attributes?.ApproximateReceiveCount ?? '1') >= maxReceiveCount;
}

/**
 * Nothing is retried forever: runs `work`, and when it fails on the record's last delivery (the
 * queue would move the message to its dead-letter queue next), calls `record` with the reason so
 * that the failure lands where status shows it, instead of rethrowing.
 */
export async function recordingLastFailure(
  message: SQSRecord,
  maxReceiveCount: number,
  logger: Logger,
  work: () => Promise<void>,
  record: (reason: string) => Promise<unknown>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!isLastAttempt(message, maxReceiveCount)) throw error;
    logger.error('failed on the last delivery; recording the failure', { error: error as Error });
    await record(`failed ${maxReceiveCount} times: ${(error as Error).message}`);
  }
}

export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}
