/**
 * Our API answers, collected from a real stack, against three descriptions of them:
 *   (a) our answer schemas (schemas/api.json, `validators.*Answer`);
 *   (b) the ORIGINAL service's response schemas (../shared/fixtures/amun-openapi-v1.yaml, OpenAPI
 *       3.0), converted to JSON Schema here, wherever the original is self-consistent;
 *   (c) the document we serve at GET /api/v1/openapi.json (every $ref resolves, every v1 path).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toProblems, validators, type ValidatorName } from '../../functions/core/validation.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';
import { examples, exampleDir, looseAjv, original, originalAnswerProblems, OriginalClient, originalProblems, originalResponseSchema, SELF_INCONSISTENT, toJsonSchema, type Json } from '../support/original-openapi.js';

const readExample = (...parts: string[]): string => readFileSync(join(exampleDir, ...parts), 'utf8');


describe('the original description (amun-openapi-v1.yaml)', () => {
  it('is consistent with its own examples', () => {
    const found = examples(original.components.schemas as Json, '#/components/schemas');
    expect(found.length).toBeGreaterThan(20);
    const ajv = looseAjv();
    const failing = found.filter(({ schema, example }) => !ajv.validate(schema as object, example));
    expect(failing.map((f) => f.at)).toEqual([]);
  });

  it('accepts the original service\'s real specification and build log', () => {
    const specification = JSON.parse(readExample('build', 'specification')) as unknown;
    expect(originalProblems('InspectionSpecificationResponse', { specification, parameters: {} })).toEqual([]);
    expect(originalProblems('InspectionBuildLogResponse', { log: readExample('build', 'log'), parameters: {} })).toEqual([]);
    expect(originalProblems('InspectionJobBatchSizeResponse', { batch_size: (specification as { batch_size: number }).batch_size, parameters: {} })).toEqual([]);
  });

  it('contradicts the original service\'s real result and item log (why those two are skipped)', () => {
    const result = JSON.parse(readExample('results', '0', 'result')) as Record<string, unknown>;
    const resultProblems = originalProblems('InspectionJobResultResponse', { result, parameters: {} });
    expect(resultProblems).toEqual(
      expect.arrayContaining([expect.stringContaining('"additionalProperty":"datetime"'), expect.stringContaining('"additionalProperty":"hostname"')]),
    );
    // Without the extra fields it would pass: the contradiction is exactly those two.
    const { datetime: _d, hostname: _h, ...listed } = result;
    expect(originalProblems('InspectionJobResultResponse', { result: listed, parameters: {} })).toEqual([]);

    const log = readExample('results', '0', 'log');
    expect(typeof log).toBe('string');
    expect(originalProblems('InspectionJobLogResponse', { log, parameters: {} })).toEqual([expect.stringContaining('must be object,null')]);
    expect([...SELF_INCONSISTENT].sort()).toEqual(['InspectionJobLogResponse', 'InspectionJobResultResponse']);
  });
});

// ---------------------------------------------------------------------------------------------
// Answers of a real stack
// ---------------------------------------------------------------------------------------------

interface Collected {
  what: string;
  /** Path template as both descriptions write it, without /api/v1. */
  template: string;
  method: 'get' | 'post';
  status: number;
  body: unknown;
  ours: ValidatorName;
}

const script = ['import json, platform', 'print(json.dumps({"python": platform.python_version(), "ok": True}))'].join('\n');
const spec = {
  base: 'quay.io/thoth-station/s2i-thoth-ubi8-py38:v0.32.3',
  identifier: 'contract',
  batch_size: 2,
  script,
  environment: [{ name: 'GREETING', value: 'hello' }],
  build: { requests: { cpu: '1', memory: '1Gi' } },
  send_messages: false,
};

describe('answers of a running stack', () => {
  const dir = tempDir();
  let stack: LocalStack;
  const answers: Collected[] = [];

  const call = async (what: string, ours: ValidatorName, method: 'get' | 'post', template: string, path: string, body?: unknown): Promise<any> => {
    const res = await api(stack.apiUrl, method.toUpperCase(), `/api/v1${path}`, body);
    answers.push({ what, template, method, status: res.status, body: res.body, ours });
    return res;
  };

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
    const T = '/inspect/{inspection_id}';
    await call('version', 'versionAnswer', 'get', '/version', '/version');
    await call('generate-dockerfile', 'dockerfileAnswer', 'post', '/_debug/generate-dockerfile', '/_debug/generate-dockerfile', spec);
    const submitted = await call('submit', 'submitAnswer', 'post', '/inspect', '/inspect', spec);
    const id = submitted.body.inspection_id as string;
    await call('status (just submitted)', 'statusAnswer', 'get', `${T}/status`, `/inspect/${id}/status`);
    await waitFor('the inspection to finish', async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? true : undefined;
    });
    await call('list', 'listingAnswer', 'get', '/inspect', '/inspect?page=1&limit=10');
    await call('status (finished)', 'statusAnswer', 'get', `${T}/status`, `/inspect/${id}/status`);
    await call('specification', 'specificationAnswer', 'get', `${T}/specification`, `/inspect/${id}/specification`);
    await call('batch-size', 'batchSizeAnswer', 'get', `${T}/job/batch-size`, `/inspect/${id}/job/batch-size`);
    await call('build log', 'logAnswer', 'get', `${T}/build/log`, `/inspect/${id}/build/log`);
    await call('result', 'resultAnswer', 'get', `${T}/job/{item}/result`, `/inspect/${id}/job/1/result`);
    await call('item log', 'logAnswer', 'get', `${T}/job/{item}/log`, `/inspect/${id}/job/0/log`);
    // Errors
    await call('submit: unknown field', 'errorAnswer', 'post', '/inspect', '/inspect', { ...spec, colour: 'blue' });
    await call('submit: not JSON', 'errorAnswer', 'post', '/inspect', '/inspect', '{"base": ');
    await call('generate-dockerfile: hostile base', 'errorAnswer', 'post', '/_debug/generate-dockerfile', '/_debug/generate-dockerfile', { base: 'fedora\nRUN rm -rf /' });
    await call('list: page=abc', 'errorAnswer', 'get', '/inspect', '/inspect?page=abc');
    await call('status: unknown id', 'errorAnswer', 'get', `${T}/status`, '/inspect/inspection-nothing-00000000/status');
    await call('status: malformed id', 'errorAnswer', 'get', `${T}/status`, '/inspect/Inspection-UPPER/status');
    await call('specification: unknown id', 'errorAnswer', 'get', `${T}/specification`, '/inspect/inspection-nothing-00000000/specification');
    await call('batch-size: unknown id', 'errorAnswer', 'get', `${T}/job/batch-size`, '/inspect/inspection-nothing-00000000/job/batch-size');
    await call('build log: unknown id', 'errorAnswer', 'get', `${T}/build/log`, '/inspect/inspection-nothing-00000000/build/log');
    await call('result: item outside the batch', 'errorAnswer', 'get', `${T}/job/{item}/result`, `/inspect/${id}/job/2/result`);
    await call('result: item not a number', 'errorAnswer', 'get', `${T}/job/{item}/result`, `/inspect/${id}/job/x/result`);
    await call('item log: unknown id', 'errorAnswer', 'get', `${T}/job/{item}/log`, '/inspect/inspection-nothing-00000000/job/0/log');
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('covers every endpoint of the brief, with successes and 400/404 errors', () => {
    const seen = new Set(answers.map((a) => `${a.method} ${a.template} ${a.status}`));
    for (const expected of [
      'get /version 200',
      'post /_debug/generate-dockerfile 200',
      'post /_debug/generate-dockerfile 400',
      'post /inspect 202',
      'post /inspect 400',
      'get /inspect 200',
      'get /inspect 400',
      'get /inspect/{inspection_id}/status 200',
      'get /inspect/{inspection_id}/status 404',
      'get /inspect/{inspection_id}/status 400',
      'get /inspect/{inspection_id}/specification 200',
      'get /inspect/{inspection_id}/specification 404',
      'get /inspect/{inspection_id}/job/batch-size 200',
      'get /inspect/{inspection_id}/job/batch-size 404',
      'get /inspect/{inspection_id}/build/log 200',
      'get /inspect/{inspection_id}/build/log 404',
      'get /inspect/{inspection_id}/job/{item}/result 200',
      'get /inspect/{inspection_id}/job/{item}/result 404',
      'get /inspect/{inspection_id}/job/{item}/result 400',
      'get /inspect/{inspection_id}/job/{item}/log 200',
      'get /inspect/{inspection_id}/job/{item}/log 404',
    ]) {
      expect({ expected, seen: seen.has(expected) }).toEqual({ expected, seen: true });
    }
  });

  it('match our own answer schemas', () => {
    for (const a of answers) {
      const fn = validators[a.ours];
      expect({ what: a.what, status: a.status, valid: fn(a.body), problems: toProblems(fn.errors) }).toEqual({
        what: a.what,
        status: a.status,
        valid: true,
        problems: [],
      });
    }
  });

  it('match the original response schemas (strictly where the original is self-consistent)', () => {
    let strict = 0;
    for (const a of answers) {
      const name = originalResponseSchema(a.template, a.method, a.status);
      if (!name) {
        // The original declares no answer for this status (400 on GET /inspect: it had no paging checks).
        expect({ what: a.what, status: a.status }).toEqual({ what: 'list: page=abc', status: 400 });
        continue;
      }
      expect({ what: a.what, schema: name, problems: originalAnswerProblems(name, a.body) }).toEqual({ what: a.what, schema: name, problems: [] });
      if (!SELF_INCONSISTENT.has(name) && name !== 'InspectionGenerateDockerfileResponse') {
        expect({ what: a.what, schema: name, problems: originalProblems(name, a.body) }).toEqual({ what: a.what, schema: name, problems: [] });
        strict++;
      }
    }
    expect(strict).toBeGreaterThanOrEqual(answers.length - 4);
  });

  it('answer the debug endpoint as the original did, plus the build context', () => {
    const a = answers.find((x) => x.what === 'generate-dockerfile')!;
    const body = a.body as { dockerfile: string; parameters: { specification: Record<string, unknown> }; context: { files: Array<{ path: string }> } };
    expect(Object.keys(body).sort()).toEqual(['context', 'dockerfile', 'parameters']);
    expect(Object.keys(body.parameters)).toEqual(['specification']);
    expect(body.parameters.specification).toMatchObject({ base: spec.base, batch_size: 2, identifier: 'contract' });
    // Every file a COPY line of the Dockerfile names is in the context.
    const copied = [...body.dockerfile.matchAll(/^COPY (\[.*\])$/gm)].flatMap((m) => (JSON.parse(m[1]!) as string[]).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['amun/harness/', 'amun/script']));
    const paths = body.context.files.map((f) => f.path);
    for (const source of copied) expect({ source, inContext: paths.some((p) => p === source || p.startsWith(`${source.replace(/\/$/, '')}/`)) }).toEqual({ source, inContext: true });
  });

  it('match the original result schema apart from the extra fields its own service sent too', () => {
    const a = answers.find((x) => x.what === 'result')!;
    expect(originalResponseSchema(a.template, a.method, a.status)).toBe('InspectionJobResultResponse');
    const converted = toJsonSchema(original.components.schemas.InspectionJobResultResponse as Json) as { properties: { result: Record<string, Json> } };
    delete converted.properties.result.additionalProperties;
    const ajv = looseAjv();
    const valid = ajv.validate(converted as object, a.body);
    expect({ valid, errors: ajv.errors ?? null }).toEqual({ valid: true, errors: null });
    // The fields the original's schema lists are all there, with the original's types.
    expect(a.body).toMatchObject({ result: { exit_code: 0, stdout: { ok: true }, script_sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  });

  it('match the document served at /api/v1/openapi.json', async () => {
    const res = await api(stack.apiUrl, 'GET', '/api/v1/openapi.json');
    const doc = res.body as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: object }> }> }>> };
    const ajv = looseAjv();
    ajv.addSchema({ ...doc, $id: 'urn:amun:served-openapi' } as object);
    for (const a of answers) {
      const response = doc.paths[a.template]?.[a.method]?.responses[String(a.status)];
      expect({ what: a.what, status: a.status, declared: !!response?.content?.['application/json']?.schema }).toEqual({ what: a.what, status: a.status, declared: true });
      const pointer = `#/paths/${a.template.replace(/~/g, '~0').replace(/\//g, '~1')}/${a.method}/responses/${a.status}/content/application~1json/schema`;
      const fn = ajv.getSchema(`urn:amun:served-openapi${pointer}`)!;
      expect({ what: a.what, valid: fn(a.body), errors: fn.errors ?? null }).toEqual({ what: a.what, valid: true, errors: null });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A client of the original, from its description alone
// ---------------------------------------------------------------------------------------------

describe('a client written from the original description', () => {
  const dir = tempDir();
  let stack: LocalStack;
  let client: OriginalClient;
  // Each run sleeps a little, so that the client sees results arrive one by one.
  const slow = { ...spec, identifier: 'original-client', batch_size: 3, script: ['import json, time', 'time.sleep(0.3)', 'print(json.dumps({"ok": True}))'].join('\n') };

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
    client = new OriginalClient(stack.apiUrl);
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('submits, polls batch-size up to the batch size, then reads every result and log, the status, the listing and the specification', async () => {
    const version = await client.call('get_version');
    expect(version.body.version).toEqual(expect.any(String));

    const debug = await client.call('post_generate_dockerfile', { body: slow });
    expect(debug.body.dockerfile).toContain('FROM ');
    expect(debug.body.parameters.specification).toMatchObject({ identifier: 'original-client', batch_size: 3 });

    const submitted = await client.call('post_inspection', { body: slow });
    expect(submitted.status).toBe(202);
    const id = submitted.body.inspection_id as string;
    const path = { inspection_id: id };

    // As the original's clients wait: batch-size is the number of results stored so far.
    const counts: number[] = [];
    const statuses: any[] = [];
    for (const until = Date.now() + 120_000; ; ) {
      const [count, status] = await Promise.all([client.call('get_inspection_job_batch_size', { path }), client.call('get_inspection_status', { path })]);
      counts.push(count.body.batch_size);
      statuses.push(status.body.status);
      if (count.body.batch_size >= slow.batch_size) break;
      if (Date.now() > until) throw new Error(`batch-size stayed at ${counts.at(-1)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(counts[0]).toBe(0);
    expect(counts.at(-1)).toBe(3);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(new Set(counts).size).toBeGreaterThanOrEqual(3);
    // data_stored from the first poll on; the Argo fields all along.
    for (const status of statuses) {
      expect(status.data_stored).toBe(true);
      expect(status.workflow).toMatchObject({ phase: expect.stringMatching(/^(Pending|Running|Succeeded)$/), progress: expect.stringMatching(/^[0-4]\/4$/), startedAt: expect.any(String) });
      expect(['scheduling', 'waiting', 'running', 'terminated']).toContain(status.build.state);
    }
    const progress = statuses.map((s) => Number(String(s.workflow.progress).split('/')[0]));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    // Every result exists once batch-size says so.
    for (let item = 0; item < slow.batch_size; item++) {
      const result = await client.call('get_inspection_job_result', { path: { ...path, item } });
      expect(result.body.result).toMatchObject({ exit_code: 0, stdout: { ok: true }, start_datetime: expect.any(String), end_datetime: expect.any(String) });
      expect(result.body.result.end_datetime >= result.body.result.start_datetime).toBe(true);
      const log = await client.call('get_inspection_job_log', { path: { ...path, item } });
      expect(log.body.log).toContain('"ok": true');
    }
    const buildLog = await client.call('get_inspection_build_log', { path });
    expect(buildLog.body.log.length).toBeGreaterThan(0);

    const done = await waitFor('the workflow to finish', async () => {
      const s = await client.call('get_inspection_status', { path });
      return s.body.status.workflow.finishedAt ? s.body.status : undefined;
    });
    expect(done).toMatchObject({ data_stored: true, build: { state: 'terminated', exit_code: 0 }, workflow: { phase: 'Succeeded', progress: '4/4' } });

    const listing = await client.call('get_inspection', { query: { page: 1, limit: 10 } });
    expect(listing.body.inspections).toContain(id);
    const clamped = await client.call('get_inspection', { query: { page: 0, limit: 0 } });
    expect(clamped.body.inspections).toContain(id);

    const stored = await client.call('get_inspection_specification', { path });
    expect(stored.body.specification).toMatchObject({ identifier: 'original-client', batch_size: 3, '@created': expect.any(String) });
    // A stored specification re-submits as it is.
    expect((await client.call('post_inspection', { body: stored.body.specification })).status).toBe(202);

    // Declared errors come back in the declared shape.
    expect((await client.call('get_inspection_status', { path: { inspection_id: 'inspection-nothing-00000000' } })).status).toBe(404);
    expect((await client.call('get_inspection_job_result', { path: { ...path, item: 3 } })).status).toBe(404);
    expect((await client.call('post_inspection', { body: { ...slow, colour: 'blue' } })).status).toBe(400);

    const used = new Set(client.calls.map((c) => c.operationId));
    const declared = Object.values(original.paths).flatMap((methods) => Object.values(methods).map((op) => (op as unknown as { operationId: string }).operationId));
    expect([...used].sort()).toEqual([...declared].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// The document we serve
// ---------------------------------------------------------------------------------------------

describe('GET /api/v1/openapi.json', () => {
  const dir = tempDir();
  let stack: LocalStack;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
    const res = await api(stack.apiUrl, 'GET', '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body;
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('is OpenAPI 3.1 with every path of the brief\'s table', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    const table: Array<[string, string]> = [
      ['get', '/version'],
      ['post', '/_debug/generate-dockerfile'],
      ['post', '/inspect'],
      ['get', '/inspect'],
      ['get', '/inspect/{inspection_id}/build/log'],
      ['get', '/inspect/{inspection_id}/job/batch-size'],
      ['get', '/inspect/{inspection_id}/job/{item}/result'],
      ['get', '/inspect/{inspection_id}/job/{item}/log'],
      ['get', '/inspect/{inspection_id}/status'],
      ['get', '/inspect/{inspection_id}/specification'],
    ];
    for (const [method, path] of table) expect({ method, path, present: doc.paths[path]?.[method] !== undefined }).toEqual({ method, path, present: true });
    // Every path of the original is one of ours too.
    for (const [path, methods] of Object.entries(original.paths)) {
      for (const method of Object.keys(methods)) expect({ method, path, present: doc.paths[path]?.[method] !== undefined }).toEqual({ method, path, present: true });
    }
  });

  it('resolves every $ref inside the document', () => {
    const refs: Array<{ at: string; ref: string }> = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}/${i}`));
      if (node === null || typeof node !== 'object') return;
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') refs.push({ at, ref: value });
        else walk(value, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      }
    };
    walk(doc, '#');
    expect(refs.length).toBeGreaterThan(20);
    const resolve = (ref: string): unknown => {
      if (!ref.startsWith('#/')) return undefined;
      let node: unknown = doc;
      for (const raw of ref.slice(2).split('/')) {
        const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        if (node === null || typeof node !== 'object' || !(segment in node)) return undefined;
        node = (node as Record<string, unknown>)[segment];
      }
      return node;
    };
    expect(refs.filter(({ ref }) => resolve(ref) === undefined)).toEqual([]);
  });

  it('names every operation once (generated clients make one method of each)', () => {
    const names = Object.values(doc.paths).flatMap((item) => Object.values(item).flatMap((op) => (op && typeof op === 'object' && 'operationId' in op ? [(op as { operationId: string }).operationId] : [])));
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('compiles every component schema', () => {
    const ajv = looseAjv();
    ajv.addSchema({ ...doc, $id: 'urn:amun:served-openapi' } as object);
    for (const name of Object.keys(doc.components.schemas)) {
      expect({ name, compiled: typeof ajv.getSchema(`urn:amun:served-openapi#/components/schemas/${name}`) }).toEqual({ name, compiled: 'function' });
    }
  });
});
