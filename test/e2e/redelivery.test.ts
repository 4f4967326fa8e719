/**
 * At-least-once delivery while work is in progress, on the real embedded stack: every queue and
 * S3 event may arrive again at once (a racing duplicate) or a little later, out of order, as SQS
 * and S3 notifications allow. Whatever the interleaving, each inspection is built once, each item
 * runs once, the summary ends complete, and one completion message goes out.
 *
 * The interleavings come from a seeded generator: AMUN_TEST_SEED=<n> replays a failing one (the
 * seed is in every assertion message).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { ProcessExecutor } from '../../functions/adapters/executors/process.js';
import { Pipeline } from '../../functions/core/pipeline.js';
import type { Executor } from '../../functions/core/ports.js';
import { InspectionRecords } from '../../functions/core/records.js';
import { makeIndexHandler } from '../../functions/index/handler.js';
import type { SqsHandler } from '../../functions/lib/sqs.js';
import type { FunctionName } from '../../functions/routes.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { SEED, generator } from '../support/random.js';
import { api, drain, tempDir, waitFor } from '../support/stack.js';

const context = { awsRequestId: 'duplicate', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The same event as another message would carry it (a duplicate send has its own message id). */
function asAnotherMessage(event: SQSEvent): SQSEvent {
  const copy = structuredClone(event);
  for (const record of copy.Records) record.messageId = randomUUID();
  return copy;
}

describe(`redelivery while work is in progress (seed ${SEED})`, () => {
  const dir = tempDir('amun-redelivery-');
  let stack: LocalStack;
  const random = generator(SEED);
  const calls = { build: new Map<string, number>(), run: new Map<string, number>() };
  const late: Array<Promise<unknown>> = [];
  const count = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);

  beforeAll(async () => {
    const real = new ProcessExecutor({ dataDir: join(dir.path, 'process') });
    const counting: Executor = {
      kind: 'process',
      build: async (request) => {
        count(calls.build, request.inspectionId);
        return real.build(request);
      },
      runItem: async (request) => {
        count(calls.run, `${request.inspectionId}/${request.item}`);
        return real.runItem(request);
      },
    };
    stack = await startLocalStack({
      dataDir: join(dir.path, 'data'),
      port: 0,
      waitTimeSeconds: 1,
      overrides: { executor: counting, logIntervalMs: 50 },
      // Every delivery may be doubled: at once (racing the original), or later, out of order.
      wrapHandler: (name: FunctionName, handler: SqsHandler): SqsHandler => async (event, ctx) => {
        if (name === 'ingest') return handler(event, ctx);
        const roll = random();
        if (roll < 0.35) {
          const [answer] = await Promise.all([handler(event, ctx), handler(asAnotherMessage(event), ctx)]);
          return answer;
        }
        if (roll < 0.6) {
          const delay = Math.floor(random() * 400);
          late.push(sleep(delay).then(() => handler(asAnotherMessage(event), ctx)));
        }
        if (roll > 0.9) {
          // The same message again (a redelivery after a visibility timeout), racing the first.
          const [answer] = await Promise.all([handler(event, ctx), handler(structuredClone(event), ctx)]);
          return answer;
        }
        return handler(event, ctx);
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  const submit = async (spec: object): Promise<string> => {
    const r = await api(stack.apiUrl, 'POST', '/api/v1/inspect', spec);
    expect(r.status).toBe(202);
    return r.body.inspection_id as string;
  };
  const finished = (id: string) =>
    waitFor(`${id} to finish (seed ${SEED})`, async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 120_000, 100);

  it('builds once, runs each item once, and completes once, however the deliveries interleave', async () => {
    const script = 'import json, os, time\ntime.sleep(0.1)\nprint(json.dumps({"item": os.environ["AMUN_ITEM"]}))\n';
    const ids = await Promise.all([0, 1, 2].map((n) => submit({ base: 'fedora:40', identifier: `redelivered ${n}`, batch_size: 4, script })));
    // Two build messages at once, for one of them: a duplicate send, racing the original.
    const statuses = await Promise.all(ids.map((id) => finished(id)));
    await Promise.all(late);
    await stack.idle();
    for (const [i, id] of ids.entries()) {
      const where = `${id} (seed ${SEED})`;
      expect({ where, workflow: statuses[i].workflow }).toMatchObject({ where, workflow: { state: 'succeeded', items_done: 4, items_failed: 0, finished: true } });
      expect({ where, builds: calls.build.get(id) }).toEqual({ where, builds: 1 });
      for (const item of [0, 1, 2, 3]) expect({ where, item, runs: calls.run.get(`${id}/${item}`) }).toEqual({ where, item, runs: 1 });
      const summary = JSON.parse((await stack.app.store.get(stack.app.layout.summary(id)))!.toString('utf8'));
      expect({ where, summary }).toMatchObject({ where, summary: { finished: true, items_done: 4 } });
    }
    const completions = (await drain(stack, stack.queueUrls.completions!)) as Array<{ inspection_id: string }>;
    for (const id of ids) expect({ id, seed: SEED, messages: completions.filter((m) => m.inspection_id === id).length }).toEqual({ id, seed: SEED, messages: 1 });
  }, 240_000);

  it('a result event before the summary exists, and index events racing for one item, change nothing twice', async () => {
    const id = await submit({ base: 'fedora:40', identifier: 'early event', batch_size: 2, script: 'print("ok")' });
    const index = makeIndexHandler(stack.app);
    // The notification for item 0's result, delivered before the build even ran.
    const resultKey = stack.app.layout.result(id, 0);
    const notification = (key: string): SQSEvent => ({
      Records: [{
        messageId: randomUUID(), receiptHandle: 'r', attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 's', ApproximateFirstReceiveTimestamp: '0' }, messageAttributes: {},
        md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:amun-index-events', awsRegion: 'us-east-1',
        body: JSON.stringify({ Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', awsRegion: 'us-east-1', eventTime: new Date().toISOString(), eventName: 'ObjectCreated:Put', s3: { s3SchemaVersion: '1.0', configurationId: 'c', bucket: { name: stack.config.bucket, arn: 'arn:aws:s3:::amun' }, object: { key, size: 1, eTag: 'e', sequencer: '01' } } }] }),
      }],
    });
    expect(await index(notification(resultKey), context)).toEqual({ batchItemFailures: [] });
    await finished(id);
    await stack.idle();
    await drain(stack, stack.queueUrls.completions!);
    // Now twenty index events for the last item at once, each its own message.
    const answers = await Promise.all(Array.from({ length: 20 }, () => index(notification(stack.app.layout.result(id, 1)), context)));
    for (const answer of answers) expect(answer).toEqual({ batchItemFailures: [] });
    await stack.idle();
    expect(await drain(stack, stack.queueUrls.completions!)).toEqual([]);
    const completion = JSON.parse((await stack.app.store.get(stack.app.layout.completion(id)))!.toString('utf8'));
    expect(completion).toMatchObject({ inspection_id: id, sent: true, state: 'succeeded' });
    expect(completion).not.toHaveProperty('sending');
  }, 120_000);

  it('a slow index invocation never writes its older summary over a newer one', async () => {
    const id = await submit({ base: 'fedora:40', identifier: 'stale summary', batch_size: 2, script: 'print("ok")' });
    await finished(id);
    await stack.idle();
    await drain(stack, stack.queueUrls.completions!);
    const { layout } = stack.app;
    const second = (await stack.app.store.get(layout.result(id, 1)))!;
    // Back to the moment only item 0's result was stored.
    for (const key of [layout.result(id, 1), layout.summary(id), layout.completion(id)]) await stack.app.store.delete(key);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reachedWrite!: () => void;
    const atWrite = new Promise<void>((r) => (reachedWrite = r));
    const store = Object.create(stack.app.store) as typeof stack.app.store;
    let held = false;
    store.putIf = async (key, body, condition, contentType) => {
      if (key === layout.summary(id) && !held) {
        held = true;
        reachedWrite();
        await gate;
      }
      return stack.app.store.putIf(key, body, condition, contentType);
    };
    const slow = new Pipeline({
      records: new InspectionRecords({ store, layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) }),
      clock: { now: () => new Date() }, executor: stack.app.executor, runQueue: stack.app.queues.run, completionQueue: stack.app.queues.completions, defaultDeadlineSeconds: 60,
    });
    // The slow one has computed "1 of 2 done" and is about to write it...
    const slowRun = slow.index(id, { deliveryId: 'slow' });
    await atWrite;
    // ...when item 1's result lands and a fast invocation writes "2 of 2, finished".
    await stack.app.store.put(layout.result(id, 1), second, 'application/json');
    await stack.app.pipeline.index(id, { deliveryId: 'fast' });
    release();
    await slowRun;
    await stack.idle();
    const summary = JSON.parse((await stack.app.store.get(layout.summary(id)))!.toString('utf8'));
    expect(summary).toMatchObject({ items_done: 2, finished: true, state: 'succeeded' });
    expect(((await drain(stack, stack.queueUrls.completions!)) as Array<{ inspection_id: string }>).filter((m) => m.inspection_id === id)).toHaveLength(1);
  }, 120_000);

  it('of index invocations that all find no completion marker, exactly one sends the message', async () => {
    const id = await submit({ base: 'fedora:40', identifier: 'racing index', batch_size: 1, script: 'print("ok")' });
    await finished(id);
    await stack.idle();
    const sent = (await drain(stack, stack.queueUrls.completions!)) as Array<{ inspection_id: string }>;
    expect(sent.filter((m) => m.inspection_id === id)).toHaveLength(1);
    // Forget the completion, as if no index invocation had got that far, then let 12 invocations
    // reach it together: each reads the marker only once all 12 are about to (a barrier), so every
    // one of them finds none. Only the store's create-once write can keep it to one message.
    await stack.app.store.delete(stack.app.layout.completion(id));
    const racers = 12;
    let arrived = 0;
    let open!: () => void;
    const barrier = new Promise<void>((r) => (open = r));
    const store = Object.create(stack.app.store) as typeof stack.app.store;
    store.read = async (key: string) => {
      if (key === stack.app.layout.completion(id)) {
        if (++arrived === racers) open();
        await barrier;
      }
      return stack.app.store.read(key);
    };
    const pipeline = new Pipeline({
      records: new InspectionRecords({ store, layout: stack.app.layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) }),
      clock: { now: () => new Date() }, executor: stack.app.executor, runQueue: stack.app.queues.run, completionQueue: stack.app.queues.completions, defaultDeadlineSeconds: 60,
    });
    await Promise.all(Array.from({ length: racers }, (_, n) => pipeline.index(id, { deliveryId: `racer-${n}` })));
    expect(arrived).toBe(racers);
    await stack.idle();
    const again = (await drain(stack, stack.queueUrls.completions!)) as Array<{ inspection_id: string }>;
    expect(again.filter((m) => m.inspection_id === id)).toHaveLength(1);
    expect(JSON.parse((await stack.app.store.get(stack.app.layout.completion(id)))!.toString('utf8'))).toMatchObject({ sent: true, inspection_id: id });
  }, 120_000);
});
