/** MessageQueue on SQS. */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageQueue } from '../core/ports.js';

export class SqsMessageQueue implements MessageQueue {
  sent = 0;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(body: object, options: { deduplicationId?: string; groupId?: string } = {}): Promise<void> {
    this.sent++;
    const fifo = this.queueUrl.endsWith('.fifo');
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(body),
        ...(fifo ? { MessageGroupId: options.groupId ?? 'amun', MessageDeduplicationId: options.deduplicationId } : {}),
        ...(options.deduplicationId
          ? { MessageAttributes: { deduplication_id: { DataType: 'String', StringValue: options.deduplicationId } } }
          : {}),
      }),
    );
  }
}
