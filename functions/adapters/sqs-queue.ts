/** MessageQueue on SQS. */
import { SendMessageBatchCommand, SendMessageCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageQueue } from '../core/ports.js';

type Message = { body: object; deduplicationId?: string; groupId?: string };

/** SQS takes at most ten messages a request. */
const BATCH = 10;

export class SqsMessageQueue implements MessageQueue {
  sent = 0;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  private entry({ body, deduplicationId, groupId }: Message): Omit<SendMessageBatchRequestEntry, 'Id'> {
    const fifo = this.queueUrl.endsWith('.fifo');
    return {
      MessageBody: JSON.stringify(body),
      ...(fifo ? { MessageGroupId: groupId ?? 'amun', MessageDeduplicationId: deduplicationId } : {}),
      ...(deduplicationId ? { MessageAttributes: { deduplication_id: { DataType: 'String', StringValue: deduplicationId } } } : {}),
    };
  }

  async send(body: object, options: { deduplicationId?: string; groupId?: string } = {}): Promise<void> {
    this.sent++;
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, ...this.entry({ body, ...options }) }));
  }

  /**
   * Ten to a request. An entry SQS refuses (the batch answers with `Failed`) is sent once more on
   * its own, so that its error, if any, is thrown as `send` would throw it.
   */
  async sendAll(messages: ReadonlyArray<Message>): Promise<void> {
    for (let start = 0; start < messages.length; start += BATCH) {
      const chunk = messages.slice(start, start + BATCH);
      const answer = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: chunk.map((m, i) => ({ Id: String(i), ...this.entry(m) })) }));
      this.sent += answer.Successful?.length ?? 0;
      for (const failed of answer.Failed ?? []) {
        const message = chunk[Number(failed.Id)];
        if (message) await this.send(message.body, message);
      }
    }
  }
}
