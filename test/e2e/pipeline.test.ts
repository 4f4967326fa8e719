/**
 * The whole pipeline on the real embedded stack: HTTP API → S3 + SQS (fauxqs over HTTP) →
 * build → schedule → run (process executor, real harness) → index → completion message.
 */
import type { Context, SQSEvent } from 'aws-lambda';
import type { SqsHandler } from '../../functions/lib/sqs.js';
import type { FunctionName } from '../../functions/routes.js';
import { makeBuildHandler } from '../../functions/build/handler.js';
import { makeIndexHandler } from '../../functions/index/handler.js';
import { makeIngestHandler } from '../../functions/ingest/handler.js';
import { makeRunHandler } from '../../functions/run/handler.js';
import { makeScheduleHandler } from '../../functions/schedule/handler.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { SEED, generator, shuffled } from '../support/random.js';
import { api, drain, snapshot, tempDir, waitFor } from '../support/stack.js';

const script = [
  'import json, os, time',
  't = time.time()',
  'n = 0',
  'while time.time() - t < 0.05: n += 1',
  'print(json.dumps({"loops": n, "item": os.environ.get("AMUN_ITEM"), "greeting": os.environ.get("GREETING")}))',
].join('\n');

const spec = { base: 'localhost/debian:bookworm', identifier: 'Pipeline Test!', batch_size: 3, script, environment: [{ name: 'GREETING', value: 'hello "world" $HOME' }] };

describe('pipeline on the embedded stack', () => {
  const dir = tempDir();
  const deliveries: Array<{ name: FunctionName; event: SQSEvent }> = [];
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      executor: 'process',
      waitTimeSeconds: 1,
      overrides: { logIntervalMs: 50 },
      wrapHandler: (name, handler): SqsHandler => async (event, context) => {
        deliveries.push({ name, event: structuredClone(event) });
        return handler(event, context);
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  let inspectionId = '';

  it('runs a batch of three from an HTTP submission to one completion message', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', spec);
    expect(submitted.status).toBe(202);
    inspectionId = submitted.body.inspection_id;
    expect(inspectionId).toMatch(/^inspection-pipeline-test-[0-9a-f]{8}$/);
    expect(submitted.body.parameters).toMatchObject({ batch_size: 3, package_manager: 'micropipenv', build: { requests: { cpu: '500m', memory: '256Mi' } } });

    const status = await waitFor('the inspection to finish', async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${inspectionId}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    });
    expect(status.workflow).toMatchObject({ state: 'succeeded', items_done: 3, items_failed: 0, batch_size: 3 });
    expect(status.build).toMatchObject({ state: 'terminated', exit_code: 0, reason: null });
    expect(status.data_stored).toBe(true);

    for (const item of [0, 1, 2]) {
      const r = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${inspectionId}/job/${item}/result`);
      expect(r.status).toBe(200);
      expect(r.body.result).toMatchObject({ exit_code: 0, executor: 'process', reason: null, item });
      expect(r.body.result.stdout).toMatchObject({ item: String(item), greeting: 'hello "world" $HOME' });
      expect(r.body.result.usage.ru_utime).toBeGreaterThan(0);
    }
    const log = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${inspectionId}/build/log`);
    expect(log.body.log).toContain('process executor');

    await stack.idle();
    const completions = await drain(stack, stack.queueUrls.completions!);
    expect(completions).toEqual([expect.objectContaining({ type: 'inspection_completed', inspection_id: inspectionId, state: 'succeeded', batch_size: 3 })]);
  });

  it(`leaves byte-identical state and no second completion when every event is delivered twice, out of order (seed ${SEED})`, async () => {
    await stack.idle();
    const before = await snapshot(stack);
    const context = { awsRequestId: 'replay', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
    const handlers: Partial<Record<FunctionName, SqsHandler>> = {
      ingest: makeIngestHandler(stack.app),
      build: makeBuildHandler(stack.app),
      schedule: makeScheduleHandler(stack.app),
      run: makeRunHandler(stack.app),
      index: makeIndexHandler(stack.app),
    };
    expect(deliveries.map((d) => d.name)).toEqual(expect.arrayContaining(['build', 'schedule', 'run', 'index']));
    const replay = [...deliveries].reverse();
    const random = generator();
    for (const round of [1, 2]) {
      for (const d of round === 1 ? replay : shuffled(replay, random)) {
        const answer = await handlers[d.name]!(d.event, context);
        expect({ seed: SEED, failures: answer.batchItemFailures }).toEqual({ seed: SEED, failures: [] });
      }
    }
    await stack.idle();
    const after = await snapshot(stack);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [key, value] of before) expect({ key, value: after.get(key) }).toEqual({ key, value });
    expect(await drain(stack, stack.queueUrls.completions!)).toEqual([]);
  });
});
