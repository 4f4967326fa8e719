/**
 * Contract of events/: every sample payload validates against the schema of its source (and, for
 * SQS, its body against the message or S3 notification schema); files under `invalid/` (or named
 * `invalid-*.json`) must fail. The folder is walked, so a new file is covered without editing this
 * test. Then one family at a time, valid fixtures go to the real handlers of a started stack.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import type { APIGatewayProxyEventV2, Context, SQSEvent } from 'aws-lambda';
import { makeApiHandler } from '../../functions/api/handler.js';
import { makeBuildHandler } from '../../functions/build/handler.js';
import { makeIndexHandler } from '../../functions/index/handler.js';
import { makeIngestHandler } from '../../functions/ingest/handler.js';
import { makeRunHandler } from '../../functions/run/handler.js';
import { makeScheduleHandler } from '../../functions/schedule/handler.js';
import { toProblems, validators, type ValidatorName } from '../../functions/core/validation.js';
import type { SqsHandler } from '../../functions/lib/sqs.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { snapshot, tempDir, waitFor } from '../support/stack.js';

const eventsDir = join(import.meta.dirname, '..', '..', 'events');

type Source = 'apigw' | 'sqs' | 's3';

interface Fixture {
  /** Path relative to events/, with '/' separators. */
  name: string;
  source: Source;
  invalid: boolean;
  event: unknown;
}

function loadFixtures(): Fixture[] {
  return (readdirSync(eventsDir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const name = file.split(sep).join('/');
      const source = name.split('/')[0] as Source;
      const invalid = name.split('/').includes('invalid') || basename(name).startsWith('invalid-');
      return { name, source, invalid, event: JSON.parse(readFileSync(join(eventsDir, file), 'utf8')) as unknown };
    });
}

const fixtures = loadFixtures();
const fixture = <T>(name: string): T => {
  const found = fixtures.find((f) => f.name === name);
  if (!found) throw new Error(`no fixture events/${name}`);
  return structuredClone(found.event) as T;
};

/** Every schema problem of a fixture ([] when it is valid), each prefixed with where it was found. */
function problemsOf(f: Fixture): string[] {
  const check = (validator: ValidatorName, value: unknown, where: string): string[] => {
    const fn = validators[validator];
    return fn(value) ? [] : toProblems(fn.errors).map((p) => `${where}${p.path || '/'} ${p.message}`);
  };
  if (f.source === 'apigw') return check('httpApiEvent', f.event, '');
  const envelope = check('sqsEvent', f.event, '');
  if (envelope.length) return envelope;
  const records = (f.event as SQSEvent).Records;
  return records.flatMap((record, i) => {
    const where = `/Records/${i}/body`;
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch (error) {
      return [`${where} is not JSON: ${(error as Error).message}`];
    }
    if (f.source === 's3') return check('s3Notification', body, where);
    const type = (body as { type?: unknown } | null)?.type;
    if (type === 'build') return check('buildMessage', body, where);
    if (type === 'run') return check('runMessage', body, where);
    return [`${where}/type is neither "build" nor "run"`];
  });
}

describe('events/ fixtures', () => {
  it('has valid and invalid variants for every source', () => {
    for (const source of ['apigw', 'sqs', 's3'] as const) {
      expect({ source, valid: fixtures.some((f) => f.source === source && !f.invalid) }).toEqual({ source, valid: true });
      expect({ source, invalid: fixtures.some((f) => f.source === source && f.invalid) }).toEqual({ source, invalid: true });
    }
    expect(fixtures.filter((f) => !['apigw', 'sqs', 's3'].includes(f.source)).map((f) => f.name)).toEqual([]);
  });

  describe.each(fixtures.filter((f) => !f.invalid).map((f) => [f.name, f] as const))('%s', (_name, f) => {
    it('matches its schema', () => {
      expect(problemsOf(f)).toEqual([]);
    });
  });

  describe.each(fixtures.filter((f) => f.invalid).map((f) => [f.name, f] as const))('%s', (_name, f) => {
    it('is refused by its schema', () => {
      expect(problemsOf(f).length).toBeGreaterThan(0);
    });
  });
});

describe('events/ fixtures on the real handlers', () => {
  const dir = tempDir();
  let stack: LocalStack;
  const context = { awsRequestId: 'fixture', functionName: 'fixture', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
  const handlers = (): Record<'ingest' | 'build' | 'schedule' | 'run' | 'index', SqsHandler> => ({
    ingest: makeIngestHandler(stack.app),
    build: makeBuildHandler(stack.app),
    schedule: makeScheduleHandler(stack.app),
    run: makeRunHandler(stack.app),
    index: makeIndexHandler(stack.app),
  });

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  describe('apigw → api', () => {
    /** What each fixture must get; a fixture not listed here must still get a non-5xx answer of the error shape or a 2xx. */
    const expected: Record<string, { status: number; answer?: ValidatorName; check?: (body: any) => void }> = {
      'apigw/get-version.json': { status: 200, answer: 'versionAnswer' },
      'apigw/get-openapi.json': { status: 200, check: (b) => expect(b.openapi).toBe('3.1.0') },
      'apigw/submit-valid.json': { status: 202, answer: 'submitAnswer', check: (b) => expect(b.inspection_id).toMatch(/^inspection-fixture-[0-9a-f]{8}$/) },
      'apigw/submit-with-script.json': { status: 202, answer: 'submitAnswer', check: (b) => expect(b.parameters.batch_size).toBe(2) },
      'apigw/submit-with-token.json': { status: 202, answer: 'submitAnswer' },
      'apigw/submit-invalid-json.json': { status: 400, answer: 'errorAnswer', check: (b) => expect(b.problems[0].path).toBe('') },
      'apigw/submit-unknown-field.json': { status: 400, answer: 'errorAnswer', check: (b) => expect(b.problems).toContainEqual({ path: '/colour', message: 'is not a known field' }) },
      'apigw/submit-hostile-base.json': { status: 400, answer: 'errorAnswer', check: (b) => expect(b.problems.map((p: { path: string }) => p.path)).toContain('/base') },
      'apigw/generate-dockerfile.json': { status: 200, answer: 'dockerfileAnswer', check: (b) => expect(b.dockerfile).toContain('FROM quay.io/thoth-station/s2i-thoth-ubi8-py38:v0.32.3') },
      'apigw/list-first-page.json': { status: 200, answer: 'listingAnswer', check: (b) => expect(b.parameters).toMatchObject({ page: 1, limit: 100 }) },
      'apigw/list-page-2.json': { status: 200, answer: 'listingAnswer', check: (b) => expect(b.parameters).toMatchObject({ page: 2, limit: 3 }) },
      // As the original clamped: page 0 reads as the first page.
      'apigw/list-page-0.json': { status: 200, answer: 'listingAnswer', check: (b) => expect(b.parameters).toMatchObject({ page: 1, limit: 100 }) },
      'apigw/get-liveness.json': { status: 200, check: (b) => expect(b.status).toBe('ready') },
      'apigw/get-readiness.json': { status: 200, check: (b) => expect(b.status).toBe('ready') },
      'apigw/get-paths.json': { status: 200, check: (b) => expect(b.paths).toContain('/api/v1/inspect/{inspection_id}/job/batch-size') },
      'apigw/preflight-foreign-origin.json': { status: 403, answer: 'errorAnswer' },
      'apigw/get-status.json': { status: 404, answer: 'errorAnswer', check: (b) => expect(b.parameters).toEqual({ inspection_id: 'inspection-fixture-00000000' }) },
      'apigw/get-status-uppercase-id.json': { status: 400, answer: 'errorAnswer', check: (b) => expect(b.problems[0].path).toBe('/inspection_id') },
      'apigw/get-specification.json': { status: 404, answer: 'errorAnswer' },
      'apigw/get-build-log.json': { status: 404, answer: 'errorAnswer' },
      'apigw/get-batch-size.json': { status: 404, answer: 'errorAnswer' },
      'apigw/get-result.json': { status: 404, answer: 'errorAnswer', check: (b) => expect(b.parameters).toEqual({ inspection_id: 'inspection-fixture-00000000', item: '0' }) },
      // As deployed: the gateway's `ANY /api/v1/{proxy+}` route adds its own `proxy` path parameter, which no answer echoes.
      'apigw/get-result-behind-proxy-route.json': { status: 404, answer: 'errorAnswer', check: (b) => expect(b.parameters).toEqual({ inspection_id: 'inspection-fixture-00000000', item: '0' }) },
      'apigw/get-item-log.json': { status: 404, answer: 'errorAnswer' },
    };

    it.each(fixtures.filter((f) => f.source === 'apigw' && !f.invalid).map((f) => [f.name] as const))('%s gets the answer it is meant to get', async (name) => {
      const api = makeApiHandler(stack.app);
      const answer = await api(fixture<APIGatewayProxyEventV2>(name), context);
      const body = JSON.parse(answer.body ?? 'null') as unknown;
      const want = expected[name];
      if (!want) {
        expect(answer.statusCode).toBeLessThan(500);
        if ((answer.statusCode ?? 0) >= 400) expect({ valid: validators.errorAnswer(body), errors: validators.errorAnswer.errors ?? null }).toEqual({ valid: true, errors: null });
        return;
      }
      expect({ name, status: answer.statusCode }).toEqual({ name, status: want.status });
      expect(answer.headers).toMatchObject({ 'content-type': 'application/json' });
      if (want.answer) {
        const fn = validators[want.answer];
        expect({ valid: fn(body), problems: toProblems(fn.errors) }).toEqual({ valid: true, problems: [] });
      }
      want.check?.(body);
    });
  });

  describe('sqs → build, run', () => {
    it('reports a message about an inspection that does not exist as failed (retried, then dead-lettered) and writes nothing', async () => {
      await stack.idle();
      const before = await snapshot(stack);
      const { build, run } = handlers();
      const buildEvent = fixture<SQSEvent>('sqs/build-message.json');
      expect(await build(buildEvent, context)).toEqual({ batchItemFailures: [{ itemIdentifier: buildEvent.Records[0]!.messageId }] });
      const runEvent = fixture<SQSEvent>('sqs/run-messages-batch.json');
      expect(await run(runEvent, context)).toEqual({ batchItemFailures: runEvent.Records.map((r) => ({ itemIdentifier: r.messageId })) });
      expect([...(await snapshot(stack)).keys()]).toEqual([...before.keys()]);
    });

    it('reports only the record with a body that breaks the message schema', async () => {
      const { build, run } = handlers();
      for (const f of fixtures.filter((x) => x.source === 'sqs' && x.invalid && validators.sqsEvent(x.event))) {
        const event = structuredClone(f.event) as SQSEvent;
        const handler = basename(f.name).startsWith('run-') ? run : build;
        const answer = await handler(event, context);
        expect({ name: f.name, answer }).toEqual({ name: f.name, answer: { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) } });
      }
    });
  });

  describe('s3 → ingest, schedule, index', () => {
    it('ingests a dropped spec whose key arrives with "+" for a space, once however often the event comes', async () => {
      const key = 'specs/nightly numpy check.json';
      await stack.app.store.put(key, JSON.stringify({ base: 'fedora:39', identifier: 'nightly numpy' }), 'application/json');
      // The put also notified the stack's own ingest (with the real eTag); let that settle first.
      await waitFor('the stack to ingest the drop', async () => ((await stack.app.store.get('specs/nightly numpy check.consumed.json')) ? true : undefined));
      await stack.idle();

      const { ingest } = handlers();
      const event = fixture<SQSEvent>('s3/spec-dropped.json');
      expect(await ingest(event, context)).toEqual({ batchItemFailures: [] });
      const marker = JSON.parse((await stack.app.store.get('specs/nightly numpy check.consumed.json'))!.toString('utf8')) as { key: string; inspection_id: string };
      expect(marker.key).toBe(key);
      expect(marker.inspection_id).toMatch(/^inspection-nightly-numpy-[0-9a-f]{8}$/);
      const spec = await stack.app.inspections.specification(marker.inspection_id);
      // The creation time is the event's, so a redelivery would write the same bytes.
      expect(spec['@created']).toBe(`${(JSON.parse(event.Records[0]!.body) as { Records: Array<{ eventTime: string }> }).Records[0]!.eventTime.replace(/Z$/, '')}000`);

      await stack.idle();
      const before = await snapshot(stack);
      expect(await ingest(fixture<SQSEvent>('s3/spec-dropped.json'), context)).toEqual({ batchItemFailures: [] });
      await stack.idle();
      expect(await snapshot(stack)).toEqual(before);
    });

    it('accepts the s3:TestEvent and writes nothing', async () => {
      await stack.idle();
      const before = await snapshot(stack);
      expect(await handlers().ingest(fixture<SQSEvent>('s3/s3-test-event.json'), context)).toEqual({ batchItemFailures: [] });
      expect(await snapshot(stack)).toEqual(before);
    });

    it('fails build-status and result events of an inspection that does not exist, and notifications that break the schema', async () => {
      await stack.idle();
      const before = await snapshot(stack);
      const { schedule, index, ingest } = handlers();
      const failed = (event: SQSEvent) => ({ batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) });
      const status = fixture<SQSEvent>('s3/build-status-created.json');
      expect(await schedule(status, context)).toEqual(failed(status));
      const result = fixture<SQSEvent>('s3/result-created.json');
      expect(await index(result, context)).toEqual(failed(result));
      for (const f of fixtures.filter((x) => x.source === 's3' && x.invalid && validators.sqsEvent(x.event))) {
        const event = structuredClone(f.event) as SQSEvent;
        expect({ name: f.name, answer: await ingest(event, context) }).toEqual({ name: f.name, answer: failed(event) });
      }
      expect(await snapshot(stack)).toEqual(before);
    });
  });
});
