/**
 * Our API answers, collected from a real stack, against three descriptions of them:
 *   (a) our answer schemas (schemas/api.json, `validators.*Answer`);
 *   (b) the ORIGINAL service's response schemas (../shared/fixtures/amun-openapi-v1.yaml, OpenAPI
 *       3.0), converted to JSON Schema here, wherever the original is self-consistent;
 *   (c) the document we serve at GET /api/v1/openapi.json (every $ref resolves, every v1 path).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { toProblems, validators, type ValidatorName } from '../../functions/core/validation.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';

// ajv-formats is CommonJS; its default export arrives wrapped under some loaders (as in validation.ts).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;
/** A separate, non-strict Ajv: OpenAPI documents carry keywords JSON Schema does not know. */
const looseAjv = (): Ajv => addFormats(new Ajv({ strict: false, allErrors: true }));

const repoRoot = join(import.meta.dirname, '..', '..');
const originalYaml = join(repoRoot, '..', 'shared', 'fixtures', 'amun-openapi-v1.yaml');
const exampleDir = join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38');

// ---------------------------------------------------------------------------------------------
// The original description, converted from OpenAPI 3.0 to JSON Schema (draft-07)
// ---------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a type array (and `null` joins an enum),
 * `example` and `x-*` extensions go, `#/components/schemas/X` becomes `#/definitions/X`.
 * `underProperties` keeps a property that happens to be called `example` from being dropped.
 */
function toJsonSchema(node: Json, underProperties = false): Json {
  if (Array.isArray(node)) return node.map((n) => toJsonSchema(n));
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (!underProperties && (key === 'example' || key === 'nullable' || key.startsWith('x-'))) continue;
    if (!underProperties && key === '$ref' && typeof value === 'string') {
      out.$ref = value.replace(/^#\/components\/schemas\//, '#/definitions/');
      continue;
    }
    out[key] = toJsonSchema(value, !underProperties && key === 'properties');
  }
  if (!underProperties && node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    if (out.type === undefined && out.$ref !== undefined) return { anyOf: [{ $ref: out.$ref }, { type: 'null' }] };
  }
  return out;
}

interface OriginalDoc {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> }>>;
  components: { schemas: Record<string, Json> };
}

const original = parseYaml(readFileSync(originalYaml, 'utf8')) as OriginalDoc;
const ORIGINAL_ID = 'urn:amun:original-openapi-v1';
const originalAjv = looseAjv();
originalAjv.addSchema({ $id: ORIGINAL_ID, definitions: toJsonSchema(original.components.schemas as Json) } as object);

function originalValidator(name: string): ValidateFunction {
  const fn = originalAjv.getSchema(`${ORIGINAL_ID}#/definitions/${name}`);
  if (!fn) throw new Error(`the original description has no schema ${name}`);
  return fn;
}

function originalProblems(name: string, value: unknown): string[] {
  const fn = originalValidator(name);
  return fn(value) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** The component the original declares for an answer: the exact status, else its only 2xx answer. */
function originalResponseSchema(path: string, method: string, status: number): string | undefined {
  const responses = original.paths[path]?.[method]?.responses ?? {};
  const pick = responses[String(status)] ?? (status < 300 ? Object.entries(responses).filter(([code]) => code.startsWith('2')).map(([, r]) => r)[0] : undefined);
  const ref = pick?.content?.['application/json']?.schema?.$ref;
  return ref?.replace(/^#\/components\/schemas\//, '');
}

/** Every `example` in the original, with the schema it illustrates, for the self-consistency check. */
function examples(node: Json, at: string, out: Array<{ at: string; schema: Json; example: Json }> = []): typeof out {
  if (node === null || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    node.forEach((n, i) => examples(n, `${at}/${i}`, out));
    return out;
  }
  if ('example' in node && node.example !== undefined) out.push({ at, schema: toJsonSchema(node), example: node.example });
  for (const [key, value] of Object.entries(node)) if (key !== 'example') examples(value, `${at}/${key}`, out);
  return out;
}

const readExample = (...parts: string[]): string => readFileSync(join(exampleDir, ...parts), 'utf8');

/**
 * Original response schemas that contradict the original service's own output. Each is skipped
 * (strictly) below, and the first describe block proves that the reason still holds.
 *
 * - InspectionJobResultResponse: `result` says `additionalProperties: false` and lists 8 fields,
 *   but the original's real result (amun-example results/<n>/result) also carries `datetime` and
 *   `hostname`, so the original's own answer fails it. We check ours against the same schema with
 *   that one `additionalProperties: false` lifted: every listed field, its type and nullability.
 * - InspectionJobLogResponse: `log` is typed as an object (a copy of the result schema) while its
 *   description says "printed to stdout/stderr as a plain text", and the original's real log
 *   (results/<n>/log) is plain text. Ours is that text, as in the original service; nothing of
 *   this schema can be checked.
 */
const SELF_INCONSISTENT = new Set(['InspectionJobResultResponse', 'InspectionJobLogResponse']);

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
    await call('list: page=0', 'errorAnswer', 'get', '/inspect', '/inspect?page=0');
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

  it('match the original response schemas wherever the original is self-consistent', () => {
    let checked = 0;
    for (const a of answers) {
      const name = originalResponseSchema(a.template, a.method, a.status);
      if (!name) {
        // The original declares no answer for this status (400 on GET /inspect: it had no paging checks).
        expect({ what: a.what, status: a.status }).toEqual({ what: 'list: page=0', status: 400 });
        continue;
      }
      if (SELF_INCONSISTENT.has(name)) continue;
      expect({ what: a.what, schema: name, problems: originalProblems(name, a.body) }).toEqual({ what: a.what, schema: name, problems: [] });
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(answers.length - 3);
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

  it('compiles every component schema', () => {
    const ajv = looseAjv();
    ajv.addSchema({ ...doc, $id: 'urn:amun:served-openapi' } as object);
    for (const name of Object.keys(doc.components.schemas)) {
      expect({ name, compiled: typeof ajv.getSchema(`urn:amun:served-openapi#/components/schemas/${name}`) }).toEqual({ name, compiled: 'function' });
    }
  });
});
