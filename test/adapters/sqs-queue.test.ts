/**
 * SqsMessageQueue against the embedded SQS over HTTP: `sendAll` sends ten messages a request, each
 * with its deduplication attribute, and every message arrives once with its body.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { jest } from '@jest/globals';
import { SqsMessageQueue } from '../../functions/adapters/sqs-queue.js';
import { startEmulator, type Emulator } from '../../local/emulator.js';
import { emulatorBase, sqsFor, tempDir } from '../local/fixtures/aws.js';

describe('SqsMessageQueue', () => {
  const dir = tempDir('amun-sqs-queue-');
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ ...emulatorBase, dataDir: dir.path });
  });
  afterAll(async () => {
    await emu.stop();
    dir.remove();
  });

  it('sendAll sends 23 messages in 3 requests, each once, with its deduplication id', async () => {
    const sqs = sqsFor(emu.endpoint);
    const queue = new SqsMessageQueue(sqs, emu.queueUrls.run);
    const spy = jest.spyOn(sqs, 'send');
    const messages = Array.from({ length: 23 }, (_, item) => ({ body: { type: 'run', inspection_id: 'inspection-a-00000000', item }, deduplicationId: `run-a-${item}` }));
    await queue.sendAll(messages);
    expect(spy.mock.calls.map(([command]) => command.constructor.name)).toEqual(['SendMessageBatchCommand', 'SendMessageBatchCommand', 'SendMessageBatchCommand']);
    expect(queue.sent).toBe(23);
    spy.mockRestore();
    const received = new Map<number, string | undefined>();
    for (let polls = 0; received.size < 23 && polls < 20; polls++) {
      const answer = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls.run, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
      for (const m of answer.Messages ?? []) {
        const body = JSON.parse(m.Body!) as { item: number };
        expect(received.has(body.item)).toBe(false);
        received.set(body.item, m.MessageAttributes?.deduplication_id?.StringValue);
      }
    }
    expect([...received.entries()].sort(([a], [b]) => a - b)).toEqual(messages.map((m) => [m.body.item, m.deduplicationId]));
  });
});
