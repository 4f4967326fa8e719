/**
 * The local event source mapping against the real emulator over HTTP: Lambda SQS events, partial
 * batch failures, redrive to the DLQ, visibility heartbeats, graceful stop and concurrency limits.
 */
import type { Context, SQSEvent } from 'aws-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { jest } from '@jest/globals';
import { validators } from '../../functions/core/validation.js';
import { routeFor, type Route } from '../../functions/routes.js';
import { failedMessageIds, startDispatcher, type Dispatcher, type DispatcherOptions } from '../../local/dispatcher.js';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../local/emulator.js';
import { BUCKET, REGION, emulatorBase, queueCounts, s3For, sleep, sqsFor, tempDir, waitFor } from './fixtures/aws.js';

interface Delivery {
  at: number;
  event: SQSEvent;
  context: Context;
}

describe('dispatcher', () => {
  let emu: Emulator;
  let dir: { path: string; remove(): void };
  const dispatchers: Dispatcher[] = [];

  async function setup(queueAttributes: EmulatorOptions['queueAttributes'] = {}) {
    dir = tempDir('amun-dispatcher-');
    emu = await startEmulator({ ...emulatorBase, dataDir: dir.path, queueAttributes });
  }

  function dispatch(options: Partial<DispatcherOptions> & Pick<DispatcherOptions, 'handlers'>): Dispatcher {
    const d = startDispatcher({ endpoint: emu.endpoint, region: REGION, queueUrls: emu.queueUrls, waitTimeSeconds: 1, ...options });
    dispatchers.push(d);
    return d;
  }

  const withRoute = (name: Route['name'], patch: Partial<Pick<Route, 'localConcurrency'>>): Route => ({ ...routeFor(name), ...patch });

  /** A promise the test resolves when it chooses; opened in afterEach too, so a failed test does not leave a handler waiting. */
  const gates: Array<() => void> = [];
  function gate(): { opened: Promise<void>; open: () => void } {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    gates.push(open);
    return { opened, open };
  }

  afterEach(async () => {
    for (const open of gates.splice(0)) open();
    for (const d of dispatchers.splice(0)) await d.stop();
    await emu?.stop();
    dir?.remove();
  });

  it('delivers a genuine Lambda SQS event and retries only the records reported as failed', async () => {
    await setup({ ingestEvents: { visibilityTimeoutSeconds: 1 } });
    const sqs = sqsFor(emu.endpoint);
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queueUrls.ingestEvents,
        Entries: ['one', 'two', 'three'].map((b, i) => ({
          Id: String(i),
          MessageBody: b,
          ...(i === 0 ? { MessageAttributes: { origin: { DataType: 'String', StringValue: 'test' } } } : {}),
        })),
      }),
    );
    const deliveries: Delivery[] = [];
    dispatch({
      routes: [withRoute('ingest', { localConcurrency: 1 })],
      handlers: {
        ingest: async (event, context) => {
          deliveries.push({ at: Date.now(), event, context });
          const failing = event.Records.filter((r) => r.body === 'two' && r.attributes.ApproximateReceiveCount === '1');
          return { batchItemFailures: failing.map((r) => ({ itemIdentifier: r.messageId })) };
        },
      },
    });
    await waitFor(() => deliveries.some((d) => d.event.Records.some((r) => r.body === 'two' && r.attributes.ApproximateReceiveCount === '2')));
    await waitFor(async () => (await queueCounts(sqs, emu.queueUrls.ingestEvents)).total === 0);

    const first = deliveries[0];
    expect(first?.event.Records.map((r) => r.body)).toEqual(['one', 'two', 'three']);
    expect(validators.sqsEvent(first?.event)).toBe(true);
    const record = first?.event.Records[0];
    expect(record).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: emu.queueArns.ingestEvents,
      awsRegion: REGION,
      body: 'one',
      messageAttributes: { origin: { stringValue: 'test', dataType: 'String', stringListValues: [], binaryListValues: [] } },
    });
    expect(record?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    expect(record?.attributes).toEqual({
      ApproximateReceiveCount: '1',
      SentTimestamp: expect.stringMatching(/^\d+$/),
      SenderId: expect.any(String),
      ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d+$/),
    });
    expect(first?.context.functionName).toBe('amun-ingest');
    expect(first?.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    const remaining = first?.context.getRemainingTimeInMillis() ?? -1;
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(routeFor('ingest').timeoutSeconds * 1000);

    // Only 'two' came back, once, with its receive count increased, after the visibility timeout:
    // not before 1 s past its first receive (the queue's own timestamp, so a late first
    // invocation on a busy machine does not shorten the interval).
    const later = deliveries.slice(1).flatMap((d) => d.event.Records);
    expect(later.map((r) => [r.body, r.attributes.ApproximateReceiveCount])).toEqual([['two', '2']]);
    const firstReceive = Number(later[0]?.attributes.ApproximateFirstReceiveTimestamp);
    expect(firstReceive).toBeGreaterThanOrEqual(Number(later[0]?.attributes.SentTimestamp));
    expect((deliveries[1]?.at ?? 0) - firstReceive).toBeGreaterThanOrEqual(1000);
  });

  it('moves a message whose handler always throws to the DLQ after maxReceiveCount receives', async () => {
    await setup({ work: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } });
    const sqs = sqsFor(emu.endpoint);
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: '{"poison":true}' }));
    const counts: string[] = [];
    dispatch({
      handlers: {
        build: async (event) => {
          counts.push(...event.Records.map((r) => r.attributes.ApproximateReceiveCount));
          throw new Error('always fails');
        },
      },
    });
    await waitFor(async () => (await queueCounts(sqs, emu.dlqUrls.work)).visible === 1, 20_000);
    expect(counts).toEqual(['1', '2']);
    expect(await queueCounts(sqs, emu.queueUrls.work)).toMatchObject({ total: 0 });
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.dlqUrls.work, MessageSystemAttributeNames: ['All'] }));
    expect(dead.Messages?.map((m) => [m.MessageId, m.Body])).toEqual([[sent.MessageId, '{"poison":true}']]);
  });

  it('extends the visibility of a slow invocation so it is not delivered twice', async () => {
    // Heartbeats every 2 s for a 4 s visibility timeout (a margin of 2 s for a busy event loop);
    // the handler runs until the test lets it finish, after twice the visibility timeout.
    await setup({ work: { visibilityTimeoutSeconds: 4 } });
    const sqs = sqsFor(emu.endpoint);
    let invocations = 0;
    let firstReceive = 0;
    const { opened: released, open: release } = gate();
    let finished = false;
    dispatch({
      handlers: {
        build: async (event) => {
          invocations++;
          firstReceive = Number(event.Records[0]?.attributes.ApproximateFirstReceiveTimestamp);
          await released;
          finished = true;
        },
      },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: 'long build' }));
    await waitFor(() => invocations === 1);
    // Twice the visibility timeout after the receive, the handler still running: still invisible,
    // still the one invocation (build has two pollers, so a redelivery would have been picked up
    // at once).
    await sleep(firstReceive + 2 * 4000 - Date.now());
    expect(finished).toBe(false);
    expect(await queueCounts(sqs, emu.queueUrls.work)).toMatchObject({ visible: 0, inflight: 1 });
    expect(invocations).toBe(1);
    release();
    await waitFor(() => finished);
    await waitFor(async () => (await queueCounts(sqs, emu.queueUrls.work)).total === 0);
    // Deleted, not just invisible: nothing comes back after another visibility timeout.
    await sleep(4200);
    expect(invocations).toBe(1);
  });

  it('stop() waits for the invocation in flight and deletes its record', async () => {
    await setup();
    const sqs = sqsFor(emu.endpoint);
    const order: string[] = [];
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const { opened: released, open: release } = gate();
    const d = dispatch({
      handlers: {
        build: async () => {
          started();
          await released;
          order.push('handler finished');
        },
      },
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: 'in flight at stop' }));
    await running;
    expect(d.inFlight).toBe(1);
    const stopped = d.stop().then(() => order.push('stop resolved'));
    // The pollers' long polls are aborted at once; stop() must still wait for the handler.
    await sleep(300);
    expect(order).toEqual([]);
    order.push('released');
    release();
    await stopped;
    expect(order).toEqual(['released', 'handler finished', 'stop resolved']);
    expect(d.inFlight).toBe(0);
    expect(await queueCounts(sqs, emu.queueUrls.work)).toMatchObject({ total: 0 });
  });

  it('stops promptly while long-polling and leaves later messages for the next consumer', async () => {
    await setup();
    const sqs = sqsFor(emu.endpoint);
    let handled = 0;
    const d = dispatch({ waitTimeSeconds: 20, handlers: { build: async () => void handled++, index: async () => undefined } });
    // One message through and deleted: the pollers are running and back in their 20 s long polls.
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: 'before stop' }));
    await waitFor(() => handled === 1);
    await waitFor(async () => (await queueCounts(sqs, emu.queueUrls.work)).total === 0);
    await sleep(300);
    const t = Date.now();
    await d.stop();
    // Aborted, the long polls end at once; left to run out they would take up to 20 s.
    expect(Date.now() - t).toBeLessThan(10_000);
    // The emulator drops an aborted long poll when it sees its connection close.
    await sleep(200);
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: 'after stop' }));
    expect(await queueCounts(sqs, emu.queueUrls.work)).toMatchObject({ visible: 1, inflight: 0 });
  });

  it('runs at most localConcurrency invocations of a route at once', async () => {
    await setup();
    const sqs = sqsFor(emu.endpoint);
    const limit = 3;
    let now = 0;
    let peak = 0;
    let handled = 0;
    const { opened: released, open: release } = gate();
    const d = dispatch({
      routes: [withRoute('build', { localConcurrency: limit })],
      handlers: {
        build: async (event) => {
          now++;
          peak = Math.max(peak, now);
          await released;
          handled += event.Records.length;
          now--;
        },
      },
    });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: emu.queueUrls.work,
        Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: `job ${i}` })),
      }),
    );
    // The invocations hold on until released: the limit fills up, and given time no fourth one
    // starts although seven messages wait.
    await waitFor(() => now >= limit);
    await sleep(300);
    expect({ now, peak }).toEqual({ now: limit, peak: limit });
    expect(await queueCounts(sqs, emu.queueUrls.work)).toMatchObject({ visible: 10 - limit, inflight: limit });
    release();
    await waitFor(() => handled === 10);
    await d.idle({ timeoutMs: 10_000 });
    expect(handled).toBe(10);
    expect(peak).toBe(limit);
  });

  it('keeps one receive per queue in flight: messages arriving one by one cost a receive each, not one per free slot', async () => {
    await setup();
    const sqs = sqsFor(emu.endpoint);
    const receives = { empty: 0, full: 0 };
    const send = SQSClient.prototype.send;
    // Counted on the SDK client every SQS client shares, the dispatcher's included.
    const spy = jest.spyOn(SQSClient.prototype, 'send').mockImplementation(async function (this: SQSClient, command: any, ...rest: any[]) {
      const answer: any = await (send as any).call(this, command, ...rest);
      if (command instanceof ReceiveMessageCommand && command.input.QueueUrl === emu.queueUrls.indexEvents) receives[answer?.Messages?.length ? 'full' : 'empty']++;
      return answer;
    } as any);
    try {
      let handled = 0;
      const d = dispatch({ routes: [withRoute('index', { localConcurrency: 4 })], handlers: { index: async (event) => void (handled += event.Records.length) } });
      await sleep(200);
      for (let i = 0; i < 20; i++) {
        await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.indexEvents, MessageBody: `event ${i}` }));
        await sleep(50);
      }
      await waitFor(() => handled === 20);
      await d.idle({ timeoutMs: 10_000 });
      // Four long polls at once were all woken by each message: ~3 empty answers per message.
      // One receiver: an empty answer only when its wait (1 s) ran out, about 1 + 1 per second.
      expect(receives.full).toBeLessThanOrEqual(20);
      expect(receives.empty).toBeLessThanOrEqual(5);
    } finally {
      spy.mockRestore();
    }
  });

  it('sends a lone record at once, then gathers what streams in within the batching window into one invocation', async () => {
    await setup();
    const sqs = sqsFor(emu.endpoint);
    const batches: number[] = [];
    const route = { ...routeFor('index'), trigger: { ...(routeFor('index').trigger as Extract<Route['trigger'], { kind: 's3' }>), batchSize: 10, batchWindowSeconds: 2 } } as Route;
    const delays: number[] = [];
    let sentAt = 0;
    const d = dispatch({
      routes: [route],
      handlers: {
        index: async (event) => {
          batches.push(event.Records.length);
          delays.push(Date.now() - sentAt);
        },
      },
    });
    await sleep(200);
    // A lone message after a quiet spell: handled at once, not a window (2 s) later.
    sentAt = Date.now();
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.indexEvents, MessageBody: 'alone' }));
    await waitFor(() => batches.length === 1);
    expect(delays[0]).toBeLessThan(1900);
    // Eight more, 100 ms apart, right after it: the second of them is the third message within a
    // window, a stream, so the window gathers it and the six after it (the lone one was not held
    // for a window: under 1.9 s above, where a window is 2 s).
    for (let i = 0; i < 8; i++) {
      await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.indexEvents, MessageBody: `event ${i}` }));
      await sleep(100);
    }
    await waitFor(() => batches.reduce((a, b) => a + b, 0) === 9);
    await d.idle({ timeoutMs: 10_000 });
    // [1, 1, 7] on a quiet machine; slower round trips may let one more go before the window
    // opens, never leave the stream unbatched.
    expect(batches[0]).toBe(1);
    expect(Math.max(...batches)).toBeGreaterThanOrEqual(5);
    expect(batches.length).toBeLessThanOrEqual(4);
  });

  it('feeds S3 notifications to the s3-triggered route, and idle() waits for the chain', async () => {
    await setup();
    const events: unknown[] = [];
    const d = dispatch({
      handlers: {
        schedule: async (event) => {
          for (const r of event.Records) events.push(JSON.parse(r.body));
          await sleep(100);
        },
      },
    });
    expect(d.polling.map((p) => `${p.route}:${p.queue}`)).toEqual(['schedule:scheduleEvents']);
    await s3For(emu.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inspections/i-9/build/status', Body: '{}' }));
    await d.idle({ timeoutMs: 10_000 });
    expect(events).toHaveLength(1);
    expect(validators.s3Notification(events[0])).toBe(true);
    expect((events[0] as { Records: Array<{ s3: { object: { key: string } } }> }).Records[0]?.s3.object.key).toBe('inspections/i-9/build/status');
  });

  it('reads batch responses the way Lambda does', () => {
    const records = ['a', 'b'].map((messageId) => ({ messageId }) as SQSEvent['Records'][number]);
    expect([...failedMessageIds(records, { response: undefined })]).toEqual([]);
    expect([...failedMessageIds(records, { response: { batchItemFailures: [] } })]).toEqual([]);
    expect([...failedMessageIds(records, { response: { batchItemFailures: [{ itemIdentifier: 'b' }] } })]).toEqual(['b']);
    expect([...failedMessageIds(records, { error: new Error('x') })].sort()).toEqual(['a', 'b']);
    // An unknown or empty identifier fails the whole batch.
    expect([...failedMessageIds(records, { response: { batchItemFailures: [{ itemIdentifier: 'zzz' }] } })].sort()).toEqual(['a', 'b']);
    expect([...failedMessageIds(records, { response: { batchItemFailures: [{ itemIdentifier: '' }] } })].sort()).toEqual(['a', 'b']);
  });

  it('refuses a handled route without a queue URL', () => {
    expect(() =>
      startDispatcher({ endpoint: 'http://127.0.0.1:1', region: REGION, queueUrls: {}, handlers: { build: async () => undefined } }),
    ).toThrow(/no queue URL for work/);
  });
});
