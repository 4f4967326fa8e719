/**
 * The index stage does constant store work per result, however large the batch: each result event
 * reads the summary and that one result (the specification once per process) and swaps the
 * summary in; a redelivered event reads only the summary; the last result recomputes the summary
 * from every stored object once, writes the metrics and sends the completion message. Counted on
 * the embedded S3 (real HTTP, the store's own operation counters), with no routes consuming its
 * events, so every operation counted is the stage's. A batch of events folds its results in one
 * summary read and write.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { Layout } from '../../functions/core/layout.js';
import { makeIndexHandler } from '../../functions/index/handler.js';
import { Pipeline } from '../../functions/core/pipeline.js';
import type { Executor, MessageQueue } from '../../functions/core/ports.js';
import { syntheticResult } from '../../functions/core/results.js';
import type { BuildStatus, InspectionSummary } from '../../functions/core/generated/types.js';
import { startEmbeddedS3, type EmbeddedS3 } from '../kubernetes/support/s3.js';
import { tempDir } from '../support/stack.js';

const ID = 'inspection-index-cost-0123abcd';
const BATCH = 60;

describe('index: constant store work per result', () => {
  const dir = tempDir('amun-index-cost-');
  let s3: EmbeddedS3;
  let pipeline: Pipeline;
  const sent: unknown[] = [];

  beforeAll(async () => {
    s3 = await startEmbeddedS3(join(dir.path, 's3'));
    const completions: MessageQueue = { send: async (message) => void sent.push(message) } as MessageQueue;
    pipeline = new Pipeline({ records: s3.records, clock: { now: () => new Date() }, executor: { kind: 'process' } as Executor, completionQueue: completions, defaultDeadlineSeconds: 60 });
    const specification = { base: 'localhost/amun-test/debian:bookworm', batch_size: BATCH, script: 'print(1)\n', '@created': '2026-12-01T00:00:00.000000' };
    expect(await s3.records.create(ID, { specification, dockerfile: 'FROM scratch\n', context: [], createdAt: new Date() }, { claim: false })).toBe(true);
    const build: BuildStatus = { inspection_id: ID, state: 'succeeded', started_at: null, finished_at: '2026-12-01T00:00:01.000Z', exit_code: 0, reason: null, executor: 'process', image: '/w', image_digest: null, cached: false };
    await s3.records.writeBuildStatus(ID, build);
    await pipeline.refresh(ID);
  }, 60_000);
  afterAll(async () => {
    await s3?.stop();
    dir.remove();
  });

  const ops = (): number => Object.values(s3.store.stats).reduce((a, b) => a + b, 0);
  const summary = async (): Promise<InspectionSummary> => (await s3.records.summary(ID))!.summary;
  const write = async (item: number): Promise<void> => {
    const now = new Date();
    const report = syntheticResult({ inspectionId: ID, item, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)\n', startedAt: now, finishedAt: now });
    await s3.records.writeItem(ID, item, { report: { ...report, reason: null, message: null, exit_code: item % 7 === 3 ? 1 : 0 } });
  };

  it('costs the same few operations for the 1st result as for the 59th, counts each once, and the last closes the inspection', async () => {
    expect(await summary()).toMatchObject({ state: 'running', items_done: 0 });
    // Out of order, as S3 events come.
    const order = Array.from({ length: BATCH }, (_, i) => (i * 37) % BATCH);
    const perEvent: number[] = [];
    for (const [at, item] of order.entries()) {
      await write(item);
      const before = ops();
      expect(await pipeline.index(ID, { deliveryId: `d-${item}`, item })).toBe('done');
      perEvent.push(ops() - before);
      if (at < BATCH - 1) expect(await summary()).toMatchObject({ state: 'running', items_done: at + 1, finished: false });
    }
    const last = perEvent.pop()!;
    // Summary GET, result GET, summary PUT (the specification came from the cache after the first).
    expect(Math.max(...perEvent.slice(1))).toBe(3);
    expect(perEvent[0]).toBe(4);
    // The last: its own fold attempt, then one recompute over every result (a list, BATCH reads), metrics, completion.
    expect(last).toBeGreaterThan(BATCH);
    expect(last).toBeLessThan(BATCH + 20);
    const final = await summary();
    expect(final).toMatchObject({ state: 'failed', finished: true, items_done: BATCH, items_failed: order.filter((i) => i % 7 === 3).length });
    expect(final.items.map((i) => i.item)).toEqual(Array.from({ length: BATCH }, (_, i) => i));
    expect(sent).toEqual([expect.objectContaining({ type: 'inspection_completed', inspection_id: ID, batch_size: BATCH })]);
    expect(await s3.records.metrics(ID)).toBeDefined();
  });

  it('a redelivered event reads the summary and the completion marker, and changes nothing', async () => {
    const text = (await s3.records.summary(ID))!.text;
    const before = ops();
    expect(await pipeline.index(ID, { deliveryId: 'again', item: 5 })).toBe('skipped');
    expect(ops() - before).toBe(2);
    expect((await s3.records.summary(ID))!.text).toBe(text);
    expect(sent).toHaveLength(1);
  });

  it('a batch of events folds its results in one summary read and write; one counted already is left alone', async () => {
    const id = 'inspection-index-batch-0123abcd';
    const batch = 25;
    const specification = { base: 'localhost/amun-test/debian:bookworm', batch_size: batch, script: 'print(1)\n', '@created': '2026-12-01T00:00:00.000000' };
    expect(await s3.records.create(id, { specification, dockerfile: 'FROM scratch\n', context: [], createdAt: new Date() }, { claim: false })).toBe(true);
    await s3.records.writeBuildStatus(id, { inspection_id: id, state: 'succeeded', started_at: null, finished_at: '2026-12-01T00:00:01.000Z', exit_code: 0, reason: null, executor: 'process', image: '/w', image_digest: null, cached: false });
    await pipeline.refresh(id);
    const now = new Date();
    const writeItem = (item: number) => s3.records.writeItem(id, item, { report: { ...syntheticResult({ inspectionId: id, item, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)\n', startedAt: now, finishedAt: now }), reason: null, message: null, exit_code: 0 } });
    const itemsDone = async (): Promise<number> => (await s3.records.summary(id))!.summary.items_done;
    for (let item = 0; item < batch; item++) await writeItem(item);

    // Ten new results: the summary, ten results (the specification once, the first time), the summary swapped in.
    let before = ops();
    expect(await pipeline.index(id, { deliveryId: 'b-1', items: [3, 1, 4, 0, 5, 9, 2, 6, 8, 7] })).toBe('done');
    expect(ops() - before).toBe(1 + 10 + 1 + 1);
    expect(await itemsDone()).toBe(10);
    // Counted already, with five new: only the new ones are read.
    before = ops();
    expect(await pipeline.index(id, { deliveryId: 'b-2', items: [4, 10, 11, 12, 13, 14] })).toBe('done');
    expect(ops() - before).toBe(1 + 5 + 1);
    expect(await itemsDone()).toBe(15);
    // All counted: the summary read only.
    before = ops();
    expect(await pipeline.index(id, { deliveryId: 'b-3', items: [0, 14] })).toBe('skipped');
    expect(ops() - before).toBe(1);
    // The last ten close the inspection (one recompute), and every item is counted once.
    expect(await pipeline.index(id, { deliveryId: 'b-4', items: Array.from({ length: 10 }, (_, i) => 15 + i) })).toBe('done');
    const final = (await s3.records.summary(id))!.summary;
    expect(final).toMatchObject({ state: 'succeeded', finished: true, items_done: batch, items_failed: 0 });
    expect(final.items.map((i) => i.item)).toEqual(Array.from({ length: batch }, (_, i) => i));
    expect(sent).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'inspection_completed', inspection_id: id, batch_size: batch })]));
  });

  it('the index handler folds a batch per inspection: one summary write each; a record that is no S3 notification fails alone', async () => {
    const ids = ['inspection-handler-a-0123abcd', 'inspection-handler-b-0123abcd'];
    const now = new Date();
    for (const id of ids) {
      const specification = { base: 'localhost/amun-test/debian:bookworm', batch_size: 10, script: 'print(1)\n', '@created': '2026-12-01T00:00:00.000000' };
      await s3.records.create(id, { specification, dockerfile: 'FROM scratch\n', context: [], createdAt: now }, { claim: false });
      await s3.records.writeBuildStatus(id, { inspection_id: id, state: 'succeeded', started_at: null, finished_at: '2026-12-01T00:00:01.000Z', exit_code: 0, reason: null, executor: 'process', image: '/w', image_digest: null, cached: false });
      await pipeline.refresh(id);
      for (const item of [0, 1, 2, 3]) await s3.records.writeItem(id, item, { report: { ...syntheticResult({ inspectionId: id, item, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)\n', startedAt: now, finishedAt: now }), reason: null, message: null, exit_code: 0 } });
    }
    // The fixture's record, pointed at each result in turn (keys as S3 sends them).
    const template = (JSON.parse(readFileSync(join('events', 's3', 'result-created.json'), 'utf8')) as SQSEvent).Records[0]!;
    const record = (id: string, item: number, n: number) => {
      const body = JSON.parse(template.body) as { Records: Array<{ s3: { object: { key: string } } }> };
      body.Records[0]!.s3.object.key = `inspections/${id}/results/${item}/result`;
      return { ...template, messageId: `m-${n}`, body: JSON.stringify(body) };
    };
    const records = [record(ids[0]!, 0, 0), record(ids[1]!, 0, 1), record(ids[0]!, 1, 2), { ...template, messageId: 'broken', body: '{"Records": 7}' }, record(ids[0]!, 2, 3), record(ids[1]!, 3, 4), record(ids[0]!, 3, 5)];
    const puts = s3.store.stats.put;
    const handler = makeIndexHandler({ pipeline, layout: new Layout('inspections') });
    const answer = await handler({ Records: records }, { awsRequestId: 'batch', getRemainingTimeInMillis: () => 60_000 } as unknown as Context);
    expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: 'broken' }] });
    // One summary write per inspection.
    expect(s3.store.stats.put - puts).toBe(2);
    expect((await s3.records.summary(ids[0]!))!.summary).toMatchObject({ items_done: 4, state: 'running' });
    expect((await s3.records.summary(ids[1]!))!.summary.items.map((i) => i.item)).toEqual([0, 3]);
  });
});
