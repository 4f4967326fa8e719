/**
 * A queue of the routes table with its dead-letter queue: SSE, TLS only, `maxReceiveCount` from the
 * table, and a visibility timeout of at least six times its consumer's timeout.
 */
import { Duration, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { BucketNotificationDestinationType, type BucketNotificationDestinationConfig, type IBucketNotificationDestination, type IBucketRef } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueName, QueueSpec, Route } from '../../functions/routes.js';
import { acknowledge, acks } from '../nag.js';

/** AWS guidance for SQS event sources: visibility at least six times the function timeout. */
export const VISIBILITY_FACTOR = 6;

/** The table's visibility timeout, raised to six times the slowest consumer's timeout. */
export function visibilityTimeoutSeconds(spec: QueueSpec, consumers: ReadonlyArray<Pick<Route, 'timeoutSeconds'>>): number {
  return Math.max(spec.visibilityTimeoutSeconds, ...consumers.map((c) => VISIBILITY_FACTOR * c.timeoutSeconds));
}

export interface AmunQueueProps {
  name: QueueName;
  spec: QueueSpec;
  deployment: string;
  consumers: ReadonlyArray<Route>;
  removalPolicy: RemovalPolicy;
  /** How long a message may wait (the dead-letter queue keeps its messages 14 days). */
  retention?: Duration;
}

export class AmunQueue extends Construct {
  readonly name: QueueName;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: AmunQueueProps) {
    super(scope, id);
    this.name = props.name;
    const common = {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: props.removalPolicy,
    };
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      ...common,
      queueName: `${props.deployment}-${props.spec.name}-dlq`,
      retentionPeriod: Duration.days(14),
    });
    acknowledge(this.deadLetterQueue, [acks.deadLetterQueue]);
    this.queue = new Queue(this, 'Queue', {
      ...common,
      queueName: `${props.deployment}-${props.spec.name}`,
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(props.spec, props.consumers)),
      retentionPeriod: props.retention ?? Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.spec.maxReceiveCount },
    });
  }
}

/**
 * S3 object events into a queue (an `s3` route's trigger), as CDK's SqsDestination wires them, but
 * accepted from the one bucket of this account only: `aws:SourceArn` alone names a bucket, and a
 * bucket name can be taken by another account once this one is gone.
 */
export class BucketEventsDestination implements IBucketNotificationDestination {
  constructor(private readonly queue: Queue) {}

  bind(_scope: Construct, bucket: IBucketRef): BucketNotificationDestinationConfig {
    this.queue.grantSendMessages(
      new ServicePrincipal('s3.amazonaws.com', {
        conditions: {
          ArnLike: { 'aws:SourceArn': bucket.bucketRef.bucketArn },
          StringEquals: { 'aws:SourceAccount': Stack.of(this.queue).account },
        },
      }),
    );
    // SQS-managed encryption: no key policy to extend (SqsDestination's KMS branch does not apply).
    return { arn: this.queue.queueArn, type: BucketNotificationDestinationType.QUEUE, dependencies: [this.queue] };
  }
}
