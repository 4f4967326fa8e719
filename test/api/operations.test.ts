/**
 * The operations endpoints the original served beside the v1 API, over real HTTP on the embedded
 * stack: /readiness and /liveness, /metrics (Prometheus text, parsed back), /api/v1 (the path
 * list), /api/v1/ui/ (Swagger UI served by the API itself), X-Amun-Version on every answer, CORS
 * for listed origins only, and service_version. Every JSON answer is checked against its schema in
 * schemas/api.json and against the OpenAPI document the API serves.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { makeSqsClient } from '../../functions/adapters/clients.js';
import { makeApiHandler } from '../../functions/api/handler.js';
import { InspectionCensus } from '../../functions/api/metrics.js';
import { SERVICE_VERSION, settingsFromEnv, type Config } from '../../functions/config.js';
import { makeApp } from '../../functions/app.js';
import { allSchemas, apiSchema } from '../../functions/core/generated/schemas.js';
import { startEmulator, type Emulator } from '../../local/emulator.js';
import { startHttpServer, type HttpServer } from '../../local/http-server.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, raw, tempDir, waitFor } from '../support/stack.js';

// ajv-formats is CommonJS; its default export arrives wrapped under some loaders (as in validation.ts).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;

const V1 = '/api/v1';
const SERVICE = `${SERVICE_VERSION}+store-layout.1`;

// ---------------------------------------------------------------------------------------------
// Answers against schemas/api.json and against the served OpenAPI document
// ---------------------------------------------------------------------------------------------

const schemaAjv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(schemaAjv);
schemaAjv.addKeyword({ keyword: 'tsType', schemaType: 'string' });
for (const schema of allSchemas) schemaAjv.addSchema(schema as object);

function ours(definition: string): ValidateFunction {
  const fn = schemaAjv.getSchema(`${apiSchema.$id}#/definitions/${definition}`);
  if (!fn) throw new Error(`schemas/api.json has no ${definition}`);
  return fn;
}

interface Doc {
  paths: Record<string, Record<string, any> & { servers?: Array<{ url: string }> }>;
  security?: unknown;
  components: { securitySchemes: Record<string, unknown> };
}

/** The document's path template for a request path (`/readiness` is a root path item, `/api/v1/x` is `/x`). */
function templateOf(doc: Doc, path: string): string | undefined {
  for (const [template, item] of Object.entries(doc.paths)) {
    const base = item.servers?.[0]?.url.replace(/\/$/, '') ?? V1;
    const pattern = new RegExp(`^${(base + template).replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(path) || pattern.test(`${path}/`)) return template;
  }
  return undefined;
}

/** The answer matches our schema and the schema the served document declares for its path, method and status. */
function expectDeclared(doc: Doc, path: string, status: number, body: unknown, definition: string): void {
  const fn = ours(definition);
  expect({ path, status, definition, valid: fn(body), errors: fn.errors ?? null }).toEqual({ path, status, definition, valid: true, errors: null });
  const template = templateOf(doc, path);
  expect({ path, template }).toEqual({ path, template: expect.any(String) });
  const schema = doc.paths[template!]!.get?.responses?.[String(status)]?.content?.['application/json']?.schema;
  expect({ path, status, declared: schema }).toEqual({ path, status, declared: { $ref: `#/components/schemas/${definition}` } });
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition, parsed back
// ---------------------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

/** A strict reader of the text format (0.0.4): every line a comment, a HELP/TYPE line or a sample; every sample of a declared family. */
function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        expect({ family: meta[2], declaredTwice: types.has(meta[2]!) }).toEqual({ family: meta[2], declaredTwice: false });
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = sampleLine.exec(line);
    expect({ line, sample: !!m }).toEqual({ line, sample: true });
    const labels: Record<string, string> = {};
    let rest = m![2] ?? '';
    while (rest !== '') {
      const l = label.exec(rest);
      expect({ line, labels: rest, parsed: !!l }).toEqual({ line, labels: rest, parsed: true });
      labels[l![1]!] = l![2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l![0].length);
    }
    const value = m![3] === '+Inf' ? Infinity : m![3] === '-Inf' ? -Infinity : Number(m![3]);
    expect({ line, value: Number.isNaN(value) && m![3] !== 'NaN' ? 'not a number' : 'ok' }).toEqual({ line, value: 'ok' });
    const family = m![1]!.replace(/_(bucket|sum|count|total|created)$/, '');
    expect({ line, typed: types.has(m![1]!) || types.has(family) }).toEqual({ line, typed: true });
    samples.push({ name: m![1]!, labels, value });
  }
  // Histograms: cumulative buckets ending in +Inf, which equals _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const values = buckets.map((b) => b.value);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      expect(buckets.at(-1)!.labels.le).toBe('+Inf');
      const total = samples.find((x) => x.name === `${family}_count` && JSON.stringify(x.labels) === key);
      expect(total?.value).toBe(buckets.at(-1)!.value);
    }
  }
  return { types, samples };
}

/** The value of one sample (0 when absent: a labelled counter appears with its first increment). */
function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return found.reduce((sum, s) => sum + s.value, 0);
}

async function scrape(base: string, headers: Record<string, string> = {}): Promise<{ exposition: Exposition; text: string; contentType: string }> {
  const res = await fetch(`${base}/metrics`, { headers });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { exposition: parsePrometheus(text), text, contentType: res.headers.get('content-type') ?? '' };
}

const okScript = ['import json', 'print(json.dumps({"ok": True}))'].join('\n');
const failScript = ['import sys', 'sys.exit(3)'].join('\n');
const spec = (script: string, batch = 2) => ({ base: 'quay.io/thoth-station/s2i-thoth-ubi8-py38:v0.32.3', identifier: 'ops', batch_size: batch, script, send_messages: false });

async function finished(stack: LocalStack, id: string): Promise<void> {
  await waitFor(`${id} to finish`, async () => {
    const s = await api(stack.apiUrl, 'GET', `${V1}/inspect/${id}/status`);
    return s.body?.status?.workflow?.finished ? true : undefined;
  });
}

// ---------------------------------------------------------------------------------------------

describe('operations endpoints on the embedded stack (no token, CORS off)', () => {
  const dir = tempDir('amun-ops-');
  let stack: LocalStack;
  let doc: Doc;

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1, settings: { metrics: { refreshSeconds: 0, maxReads: 1000 } } });
    doc = (await api(stack.apiUrl, 'GET', `${V1}/openapi.json`)).body as Doc;
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('GET /liveness: 200 {status: ready, version} as the original, without touching the store', async () => {
    await stack.idle();
    const before = { ...stack.app.store.stats };
    const res = await api(stack.apiUrl, 'GET', '/liveness');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', version: SERVICE });
    expect(stack.app.store.stats).toEqual(before);
    expectDeclared(doc, '/liveness', 200, res.body, 'HealthAnswer');
  });

  it('GET /readiness: 200 once the store and the work queue answer, at the cost of one store request', async () => {
    const before = { ...stack.app.store.stats };
    const res = await api(stack.apiUrl, 'GET', '/readiness');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'ready',
      version: SERVICE,
      checks: { store: { ok: true, ms: expect.any(Number) }, work_queue: { ok: true, ms: expect.any(Number) } },
    });
    expect(stack.app.store.stats).toEqual({ ...before, list: before.list + 1 });
    expectDeclared(doc, '/readiness', 200, res.body, 'HealthAnswer');
  });

  it('GET /api/v1/version: version, and service_version naming Amun and its store layout', async () => {
    const res = await api(stack.apiUrl, 'GET', `${V1}/version`);
    expect(res.body).toEqual({ version: SERVICE_VERSION, service_version: SERVICE });
    expect(res.body.service_version).toMatch(/^\d+\.\d+\.\d+\+store-layout\.\d+$/);
    expectDeclared(doc, `${V1}/version`, 200, res.body, 'VersionAnswer');
  });

  it('GET /api/v1 lists every path of the v1 API: those the OpenAPI document describes, and each of the original', async () => {
    const res = await api(stack.apiUrl, 'GET', V1);
    expect(res.status).toBe(200);
    expectDeclared(doc, V1, 200, res.body, 'PathsAnswer');
    const listed: string[] = res.body.paths;
    expect(listed).toEqual([...listed].sort());
    const documented = Object.entries(doc.paths)
      .filter(([, item]) => item.servers === undefined)
      .map(([template]) => `${V1}${template}`.replace(/\/$/, ''));
    for (const path of documented) expect({ path, listed: listed.includes(path) }).toEqual({ path, listed: true });
    for (const path of ['/inspect', '/inspect/{inspection_id}/status', '/inspect/{inspection_id}/job/{item}/result', '/version', '/_debug/generate-dockerfile']) {
      expect(listed).toContain(`${V1}${path}`);
    }
    expect(listed.every((p) => p === V1 || p.startsWith(`${V1}/`))).toBe(true);
    // Every listed path is documented, and answers its documented GET (POST-only ones are the debug and submit endpoints).
    for (const path of listed) expect({ path, documented: templateOf(doc, path) !== undefined }).toEqual({ path, documented: true });
    for (const path of listed.filter((p) => !p.includes('{') && doc.paths[templateOf(doc, p)!]!.get)) {
      const answer = await raw(stack.apiUrl, 'GET', path);
      expect({ path, status: answer.status === 404 && answer.body?.error === 'no such endpoint' ? 'missing' : 'routed' }).toEqual({ path, status: 'routed' });
    }
  });

  it('the OpenAPI document lists the operations endpoints, at the root for health and metrics', () => {
    for (const path of ['/', '/readiness', '/liveness', '/metrics', '/ui/']) expect({ path, get: !!doc.paths[path]?.get }).toEqual({ path, get: true });
    for (const path of ['/readiness', '/liveness', '/metrics']) expect(doc.paths[path]!.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.paths['/metrics']!.get.responses['200'].content).toHaveProperty(['text/plain; version=0.0.4']);
    expect(doc.paths['/readiness']!.get.responses['503'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/HealthAnswer' });
  });

  it('X-Amun-Version is on every answer, errors included', async () => {
    const port = new URL(stack.apiUrl).port;
    const cases: Array<[string, string, string, Record<string, string>, string | undefined, number]> = [
      ['version', 'GET', `${V1}/version`, {}, undefined, 200],
      ['metrics', 'GET', '/metrics', {}, undefined, 200],
      ['ui page', 'GET', `${V1}/ui/`, {}, undefined, 200],
      ['ui redirect', 'GET', `${V1}/ui`, {}, undefined, 308],
      ['not an endpoint', 'GET', '/nothing/here', {}, undefined, 404],
      ['unknown inspection', 'GET', `${V1}/inspect/inspection-nothing-00000000/status`, {}, undefined, 404],
      ['bad input', 'POST', `${V1}/inspect`, { 'content-type': 'application/json' }, '{"base": ', 400],
      ['wrong content type', 'POST', `${V1}/inspect`, { 'content-type': 'text/plain' }, '{}', 415],
      ['foreign origin', 'GET', `${V1}/version`, { origin: 'https://evil.example' }, undefined, 403],
      ['preflight with CORS off', 'OPTIONS', `${V1}/inspect`, { origin: 'https://evil.example', 'access-control-request-method': 'POST' }, undefined, 403],
      ['unknown host (the server itself)', 'GET', `${V1}/version`, { host: `evil.example:${port}` }, undefined, 403],
      ['body too large (the server itself)', 'POST', `${V1}/inspect`, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }, '', 413],
    ];
    for (const [what, method, path, headers, body, status] of cases) {
      const res = await raw(stack.apiUrl, method, path, body, headers);
      expect({ what, status: res.status, version: res.headers['x-amun-version'] }).toEqual({ what, status, version: SERVICE });
      // CORS is off: no CORS header on any answer.
      expect({ what, acao: res.headers['access-control-allow-origin'] }).toEqual({ what, acao: undefined });
    }
  });

  it('GET /metrics is Prometheus text: inspections by state, builds and runs by outcome with histograms, queues and dead letters; its numbers move as inspections finish', async () => {
    const first = await scrape(stack.apiUrl);
    expect(first.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const e0 = first.exposition;
    expect(e0.types.get('amun_inspections')).toBe('gauge');
    expect(e0.types.get('amun_builds_total') ?? e0.types.get('amun_builds')).toBe('counter');
    expect(e0.types.get('amun_runs_total') ?? e0.types.get('amun_runs')).toBe('counter');
    expect(e0.types.get('amun_build_duration_seconds')).toBe('histogram');
    expect(e0.types.get('amun_run_duration_seconds')).toBe('histogram');
    expect(e0.types.get('amun_queue_messages')).toBe('gauge');
    expect(e0.types.get('amun_queue_dead_letter_messages')).toBe('gauge');
    expect(value(e0, 'amun_api_info', { version: SERVICE_VERSION, service_version: SERVICE, store_layout: '1' })).toBe(1);
    for (const state of ['pending', 'building', 'running', 'succeeded', 'failed']) expect(e0.samples.some((s) => s.name === 'amun_inspections' && s.labels.state === state)).toBe(true);
    // Every queue of the embedded stack, with its dead-letter queue.
    for (const queue of ['work', 'run', 'completions', 'ingestEvents', 'scheduleEvents', 'indexEvents']) {
      for (const state of ['visible', 'in_flight', 'delayed']) expect({ queue, state, present: e0.samples.some((s) => s.name === 'amun_queue_messages' && s.labels.queue === queue && s.labels.state === state) }).toEqual({ queue, state, present: true });
      expect(value(e0, 'amun_queue_dead_letter_messages', { queue })).toBe(0);
      expect(value(e0, 'amun_metrics_queue_up', { queue })).toBe(1);
    }
    expect(value(e0, 'amun_metrics_store_up')).toBe(1);

    const good = await api(stack.apiUrl, 'POST', `${V1}/inspect`, spec(okScript, 2));
    const bad = await api(stack.apiUrl, 'POST', `${V1}/inspect`, spec(failScript, 1));
    expect([good.status, bad.status]).toEqual([202, 202]);
    await finished(stack, good.body.inspection_id);
    await finished(stack, bad.body.inspection_id);

    const e1 = (await scrape(stack.apiUrl)).exposition;
    const delta = (name: string, labels: Record<string, string> = {}) => value(e1, name, labels) - value(e0, name, labels);
    expect(delta('amun_inspections', { state: 'succeeded' })).toBe(1);
    expect(delta('amun_inspections', { state: 'failed' })).toBe(1);
    expect(value(e1, 'amun_inspections', { state: 'running' }) + value(e1, 'amun_inspections', { state: 'pending' })).toBe(0);
    expect(delta('amun_builds_total', { outcome: 'succeeded' }) + delta('amun_builds_total', { outcome: 'cached' })).toBe(2);
    expect(delta('amun_build_duration_seconds_count')).toBe(2);
    expect(delta('amun_runs_total', { outcome: 'succeeded' })).toBe(2);
    expect(delta('amun_runs_total', { outcome: 'failed' })).toBe(1);
    expect(delta('amun_run_duration_seconds_count', { outcome: 'succeeded' })).toBe(2);
    expect(delta('amun_run_duration_seconds_count', { outcome: 'failed' })).toBe(1);
    expect(value(e1, 'amun_run_duration_seconds_sum', { outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(value(e1, 'amun_inspections_unread')).toBe(0);

    // A dead letter in the work queue's dead-letter queue shows.
    const sqs = makeSqsClient({ region: 'us-east-1', endpoint: stack.storageEndpoint });
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.dlqUrls.work!, MessageBody: '{"type":"build","inspection_id":"inspection-dead-00000000"}' }));
    const e2 = (await scrape(stack.apiUrl)).exposition;
    expect(value(e2, 'amun_queue_dead_letter_messages', { queue: 'work' })).toBe(1);
    // Counts do not double when nothing changed.
    expect(value(e2, 'amun_runs_total')).toBe(value(e1, 'amun_runs_total'));
    expect(value(e2, 'amun_builds_total')).toBe(value(e1, 'amun_builds_total'));
  });

  it('a scrape reads finished inspections no more: one LIST of the index, no GET, no HEAD', async () => {
    // Nothing of the pipeline is left to run (late events of the inspections above), and every
    // inspection is finished and read.
    await stack.idle();
    await scrape(stack.apiUrl);
    const before = { ...stack.app.store.stats };
    const e = (await scrape(stack.apiUrl)).exposition;
    expect(stack.app.store.stats).toEqual({ ...before, list: before.list + 1 });
    expect(value(e, 'amun_inspections')).toBe(2);
  });

  it('a refresh reads at most AMUN_METRICS_MAX_READS inspections; the others are unread until a later one, and nothing is counted twice', async () => {
    const seen: string[] = [];
    const census = new InspectionCensus({ records: stack.app.records, maxReads: 1, sink: { build: (o) => seen.push(`build:${o}`), run: (o) => seen.push(`run:${o}`) } });
    await census.refresh();
    expect(census.counts()).toMatchObject({ unread: 1, failedReads: 0 });
    await census.refresh();
    const counts = census.counts();
    expect(counts).toMatchObject({ unread: 0, states: { succeeded: 1, failed: 1, pending: 0, building: 0, running: 0 } });
    const requests = counts.requests;
    await census.refresh();
    expect(census.counts().requests).toBe(requests + 1); // the listing only
    expect(seen.filter((x) => x.startsWith('build:'))).toHaveLength(2);
    expect(seen.filter((x) => x.startsWith('run:')).sort()).toEqual(['run:failed', 'run:succeeded', 'run:succeeded']);
  });

  it('GET /api/v1/ui/ is Swagger UI served by the API itself: every file it loads comes from here, no external URL', async () => {
    const redirect = await raw(stack.apiUrl, 'GET', `${V1}/ui`);
    expect(redirect.status).toBe(308);
    expect(new URL(String(redirect.headers.location), `${stack.apiUrl}${V1}/ui`).pathname).toBe(`${V1}/ui/`);

    const page = await fetch(`${stack.apiUrl}${V1}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/https?:|\*/);
    expect(csp).not.toContain('unsafe-eval');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script (the CSP would block it)
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);

    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs).toEqual(expect.arrayContaining(['swagger-ui.css', 'swagger-ui-bundle.js', 'amun-ui.js']));
    for (const ref of refs) {
      const url = new URL(ref, `${stack.apiUrl}${V1}/ui/`);
      expect(url.origin).toBe(new URL(stack.apiUrl).origin);
      const res = await fetch(url);
      expect({ ref, status: res.status }).toEqual({ ref, status: 200 });
      const type = res.headers.get('content-type') ?? '';
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBeGreaterThan(0);
      if (ref.endsWith('.js')) expect(type).toMatch(/^text\/javascript/);
      if (ref.endsWith('.css')) {
        expect(type).toMatch(/^text\/css/);
        expect(body.toString('utf8')).not.toMatch(/url\(\s*['"]?(https?:)?\/\//); // no font or image from elsewhere
      }
      if (ref.endsWith('.png')) expect(body.subarray(1, 4).toString('latin1')).toBe('PNG');
    }
    // The initializer points Swagger UI at this API's document, without the outside validator or a spec URL from the query string.
    const init = await (await fetch(`${stack.apiUrl}${V1}/ui/amun-ui.js`)).text();
    expect(init).toContain("new URL('../openapi.json', window.location.href)");
    expect(init).toContain('validatorUrl: null');
    expect(init).toContain('queryConfigEnabled: false');
    expect(new URL('../openapi.json', `${stack.apiUrl}${V1}/ui/`).pathname).toBe(`${V1}/openapi.json`);
    // Compressed when asked, with validators for caching.
    const gz = await raw(stack.apiUrl, 'GET', `${V1}/ui/swagger-ui-bundle.js`, undefined, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    const again = await raw(stack.apiUrl, 'GET', `${V1}/ui/swagger-ui-bundle.js`, undefined, { 'if-none-match': String(gz.headers.etag) });
    expect(again.status).toBe(304);
    // Only the page's own files: nothing else of the package, no path tricks.
    for (const path of [`${V1}/ui/index.html`, `${V1}/ui/swagger-ui-bundle.js.map`, `${V1}/ui/package.json`, `${V1}/ui/..%2F..%2Fpackage.json`, `${V1}/ui/oauth2-redirect.html`]) {
      expect({ path, status: (await raw(stack.apiUrl, 'GET', path)).status }).toEqual({ path, status: 404 });
    }
  });
});

describe('with a token and listed origins (CORS on)', () => {
  const dir = tempDir('amun-ops-cors-');
  const TOKEN = 'ops-test-token';
  const APP = 'https://app.example.test';
  let stack: LocalStack;
  let host: string;

  beforeAll(async () => {
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      executor: 'process',
      waitTimeSeconds: 1,
      apiToken: TOKEN,
      settings: { http: { allowedHosts: [], allowedOrigins: [APP] }, metrics: { refreshSeconds: 0, maxReads: 1000 } },
    });
    host = new URL(stack.apiUrl).host;
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('health, version, the OpenAPI document and the UI answer without the token; /metrics and /api/v1 need it', async () => {
    for (const path of ['/readiness', '/liveness', `${V1}/version`, `${V1}/openapi.json`, `${V1}/ui/`, `${V1}/ui/swagger-ui-bundle.js`, `${V1}/ui/amun-ui.js`]) {
      expect({ path, status: (await raw(stack.apiUrl, 'GET', path)).status }).toEqual({ path, status: 200 });
    }
    for (const path of ['/metrics', V1, `${V1}/inspect`]) {
      const res = await raw(stack.apiUrl, 'GET', path);
      expect({ path, status: res.status, auth: res.headers['www-authenticate'] }).toEqual({ path, status: 401, auth: 'Bearer' });
      expect((await raw(stack.apiUrl, 'GET', path, undefined, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    }
  });

  it('the OpenAPI document declares the bearer scheme for Swagger UI\'s Authorize, and the public operations as open', async () => {
    const doc = (await api(stack.apiUrl, 'GET', `${V1}/openapi.json`)).body as Doc;
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    for (const path of ['/version', '/readiness', '/liveness', '/openapi.json', '/ui/']) expect({ path, security: doc.paths[path]!.get.security }).toEqual({ path, security: [] });
    expect(doc.paths['/metrics']!.get.security).toBeUndefined();
  });

  it('a browser\'s preflight from a listed origin, then its request: allowed for that exact origin, with the token', async () => {
    const preflight = await raw(stack.apiUrl, 'OPTIONS', `${V1}/inspect`, undefined, {
      host,
      origin: APP,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
      'sec-fetch-mode': 'cors',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(APP);
    expect(String(preflight.headers['access-control-allow-methods']).split(/,\s*/)).toEqual(expect.arrayContaining(['GET', 'POST']));
    expect(String(preflight.headers['access-control-allow-headers']).split(/,\s*/)).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(String(preflight.headers.vary)).toMatch(/\bOrigin\b/);
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    expect(preflight.headers['x-amun-version']).toBe(SERVICE);

    const request = await raw(stack.apiUrl, 'POST', `${V1}/_debug/generate-dockerfile`, JSON.stringify({ base: 'fedora:40' }), {
      host,
      origin: APP,
      'content-type': 'application/json',
      authorization: `Bearer ${TOKEN}`,
    });
    expect(request.status).toBe(200);
    expect(request.headers['access-control-allow-origin']).toBe(APP);
    expect(request.headers['access-control-expose-headers']).toBe('x-amun-version');
    expect(String(request.headers.vary)).toMatch(/\bOrigin\b/);

    const metrics = await raw(stack.apiUrl, 'GET', '/metrics', undefined, { host, origin: APP, authorization: `Bearer ${TOKEN}` });
    expect(metrics.status).toBe(200);
    expect(metrics.headers['access-control-allow-origin']).toBe(APP);
  });

  it('the same sequence from an origin not listed is refused at the preflight, and so is its request', async () => {
    const evil = 'https://evil.example.test';
    const preflight = await raw(stack.apiUrl, 'OPTIONS', `${V1}/inspect`, undefined, { host, origin: evil, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['x-amun-version']).toBe(SERVICE);
    const request = await raw(stack.apiUrl, 'POST', `${V1}/inspect`, JSON.stringify(spec(okScript, 1)), { host, origin: evil, 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` });
    expect(request.status).toBe(403);
    expect(request.headers['access-control-allow-origin']).toBeUndefined();
    // A look-alike of the listed origin is not it.
    for (const origin of [`${APP}.evil.test`, APP.replace('https:', 'http:'), `${APP}:8443`, 'null']) {
      const res = await raw(stack.apiUrl, 'OPTIONS', `${V1}/inspect`, undefined, { host, origin, 'access-control-request-method': 'POST' });
      expect({ origin, status: res.status, acao: res.headers['access-control-allow-origin'] }).toEqual({ origin, status: 403, acao: undefined });
    }
    // Nothing was submitted.
    const listing = await api(stack.apiUrl, 'GET', `${V1}/inspect`, undefined, { authorization: `Bearer ${TOKEN}` });
    expect(listing.body.inspections).toEqual([]);
  });
});

describe('readiness when the store is gone', () => {
  const dir = tempDir('amun-ops-down-');
  let emulator: Emulator;
  let server: HttpServer;
  let doc: Doc;

  beforeAll(async () => {
    emulator = await startEmulator({ dataDir: dir.path, bucket: 'amun', storePrefix: 'inspections', specsPrefix: 'specs/' });
    const settings = settingsFromEnv({});
    const config: Config = {
      ...settings,
      executor: 'process',
      dataDir: dir.path,
      metrics: { refreshSeconds: 0, maxReads: 100 },
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      bucket: 'amun',
      queueUrls: { work: emulator.queueUrls.work, run: emulator.queueUrls.run, completions: emulator.queueUrls.completions },
      serviceVersion: SERVICE_VERSION,
    };
    server = await startHttpServer(makeApiHandler(makeApp(config)), { port: 0 });
    doc = (await api(server.url, 'GET', `${V1}/openapi.json`)).body as Doc;
  });
  afterAll(async () => {
    await server?.close();
    await emulator?.stop();
    dir.remove();
  });

  it('answers 503 with the reason once the store stops, while liveness still answers 200', async () => {
    expect((await api(server.url, 'GET', '/readiness')).status).toBe(200);
    await emulator.stop();
    const started = Date.now();
    const res = await api(server.url, 'GET', '/readiness');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ status: 'not ready', version: SERVICE, checks: { store: { ok: false }, work_queue: { ok: false } } });
    expect(res.body.error).toMatch(/^store: .+; work_queue: .+$/);
    // The reason names the kind of failure, never an address.
    expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1|localhost|:\d{4,5}\b/);
    expectDeclared(doc, '/readiness', 503, res.body, 'HealthAnswer');
    expect((await api(server.url, 'GET', '/liveness')).status).toBe(200);
    // The metrics say the same, and still answer.
    const e = (await scrape(server.url)).exposition;
    expect(value(e, 'amun_metrics_store_up')).toBe(0);
    expect(value(e, 'amun_metrics_queue_up', { queue: 'work' })).toBe(0);
    expect(e.samples.some((s) => s.name === 'amun_queue_messages' && s.labels.queue === 'work')).toBe(false);
  }, 30_000);
});
