/**
 * The queues of the pipeline: the routes table (routes.ts) says who consumes and who sends to
 * them; handlers read their receive limits from here.
 */

export type QueueName = 'work' | 'run' | 'ingestEvents' | 'scheduleEvents' | 'indexEvents' | 'completions';

export interface QueueSpec {
  /** Physical name stem; deployments add their own prefix. */
  name: string;
  /** Receives before a message moves to the dead-letter queue. */
  maxReceiveCount: number;
  /** Consumers get this, or at least six times their timeout on AWS. */
  visibilityTimeoutSeconds: number;
  description: string;
}

export const queues: Record<QueueName, QueueSpec> = {
  work: { name: 'amun-work', maxReceiveCount: 3, visibilityTimeoutSeconds: 900, description: 'build requests from submit' },
  run: { name: 'amun-run', maxReceiveCount: 3, visibilityTimeoutSeconds: 900, description: 'one message per item for local executors' },
  ingestEvents: { name: 'amun-ingest-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for dropped spec files' },
  scheduleEvents: { name: 'amun-schedule-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for build outcomes' },
  indexEvents: { name: 'amun-index-events', maxReceiveCount: 5, visibilityTimeoutSeconds: 180, description: 'S3 notifications for run results' },
  completions: { name: 'amun-completions', maxReceiveCount: 5, visibilityTimeoutSeconds: 60, description: 'completion messages for consumers' },
};
