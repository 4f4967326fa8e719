/** OpenAPI 3.1 description of our API, assembled from the same JSON Schemas that validate it. */
import { apiSchema, buildContextSchema, explorerSchema, hwinfoSchema, resultSchema, specificationSchema, summarySchema } from '../core/generated/schemas.js';

const componentName: Record<string, string> = {
  [specificationSchema.$id]: 'InspectionSpecification',
  [resultSchema.$id]: 'RunReport',
  [hwinfoSchema.$id]: 'Hwinfo',
  [summarySchema.$id]: 'InspectionSummary',
  [buildContextSchema.$id]: 'BuildContext',
};

/** Rewrites `urn:amun:schema:x` and `#/definitions/y` references into component references. */
function relink(node: unknown, self: string): unknown {
  if (Array.isArray(node)) return node.map((n) => relink(n, self));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === '$id' || key === 'tsType') continue;
    if (key === '$ref' && typeof value === 'string') {
      if (componentName[value]) out.$ref = `#/components/schemas/${componentName[value]}`;
      // The explorer's definitions are components of their own, like the API's.
      else if (value.startsWith(`${explorerSchema.$id}#/definitions/`)) out.$ref = `#/components/schemas/${value.slice(explorerSchema.$id.length + 14)}`;
      else if (value.startsWith('#/definitions/')) out.$ref = self === 'api' || self === 'explorer' ? `#/components/schemas/${value.slice(14)}` : `#/components/schemas/${self}/definitions/${value.slice(14)}`;
      else out.$ref = value;
      continue;
    }
    out[key] = relink(value, self);
  }
  return out;
}

const idParam = { name: 'inspection_id', in: 'path', required: true, schema: { type: 'string', pattern: '^inspection-[a-z0-9]([a-z0-9-]*[a-z0-9])?$', maxLength: 63 } };
const itemParam = { name: 'item', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } };
const ok = (schema: string, status = '200') => ({ [status]: { description: 'OK', content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } } });
const errors = (...codes: string[]) =>
  Object.fromEntries(codes.map((c) => [c, { description: c === '400' ? 'Invalid input: every problem with its JSON path' : c === '404' ? 'Not found' : c === '401' ? 'Bearer token required' : 'Body larger than 1 MiB', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorAnswer' } } } }]));
/** Answers without the token: overrides the document's bearer requirement. */
const open = { security: [] as unknown[] };
/** The operations endpoints live at the root, outside the v1 base path: their path items name their own server. */
const atRoot = { servers: [{ url: '/', description: 'The API host itself: health and metrics sit beside /api/v1, as in the original' }] };
const health = (what: string, description: string, ready: boolean) => ({
  ...atRoot,
  get: {
    operationId: what,
    tags: ['Operations'],
    description,
    ...open,
    responses: {
      ...ok('HealthAnswer'),
      ...(ready ? { '503': { description: 'Not ready: `error` names the checks that failed and why', content: { 'application/json': { schema: { $ref: '#/components/schemas/HealthAnswer' } } } } } : {}),
    },
  },
});

const specBody = { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/InspectionSpecification' } } } };

export function openApiDocument(version: string): object {
  const definitions = (apiSchema as { definitions: Record<string, unknown> }).definitions;
  const schemas: Record<string, unknown> = Object.fromEntries(Object.entries(definitions).map(([k, v]) => [k, relink(v, 'api')]));
  for (const [k, v] of Object.entries((explorerSchema as { definitions: Record<string, unknown> }).definitions)) schemas[k] = relink(v, 'explorer');
  for (const schema of [specificationSchema, resultSchema, hwinfoSchema, summarySchema, buildContextSchema]) {
    const name = componentName[schema.$id]!;
    schemas[name] = relink(schema, name);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Amun API', version, description: 'Builds a software stack into an image, runs a script on it on requested hardware, and records what happened.' },
    servers: [{ url: '/api/v1' }],
    // With AMUN_API_TOKEN set every operation needs it but those that say `security: []`; without one the header is ignored.
    security: [{ bearer: [] }],
    paths: {
      '/': { get: { operationId: 'listPaths', tags: ['Operations'], description: 'Every path of the v1 API, as the original\'s root listed them.', responses: { ...ok('PathsAnswer'), ...errors('401') } } },
      '/version': { get: { operationId: 'getVersion', description: '`service_version` names the versions of Amun and of its store layout that answer, e.g. `1.0.0+store-layout.1`; every answer carries it as `X-Amun-Version`.', ...open, responses: ok('VersionAnswer') } },
      '/openapi.json': { get: { operationId: 'getOpenApi', ...open, responses: { '200': { description: 'This document' } } } },
      '/ui/': { get: { operationId: 'getUi', tags: ['Operations'], description: 'This document in Swagger UI, every file served by the API itself.', ...open, responses: { '200': { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } } } } },
      '/ui/{file}': {
        get: {
          operationId: 'getUiFile',
          tags: ['Operations'],
          description: 'A file of the documentation page (Swagger UI from swagger-ui-dist, and its initializer).',
          ...open,
          parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'The file' }, ...errors('404') },
        },
      },
      '/readiness': health('getReadiness', 'Ready when the store and the work queue each answer a cheap request (within 3 s); 503 with the reason otherwise.', true),
      '/liveness': health('getLiveness', 'The process runs (no I/O).', false),
      '/metrics': {
        ...atRoot,
        get: {
          operationId: 'getMetrics',
          tags: ['Operations'],
          description:
            'Prometheus text exposition: inspections by state, builds and runs by outcome with duration histograms, queue depths and dead-letter counts, the scrape\'s own store cost. Read from the store with a cached, bounded refresh (AMUN_METRICS_REFRESH_SECONDS, AMUN_METRICS_MAX_READS). Needs the token when one is set.',
          responses: { '200': { description: 'Metrics', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } }, ...errors('401') },
        },
      },
      '/_debug/generate-dockerfile': { post: { operationId: 'generateDockerfile', requestBody: specBody, responses: { ...ok('DockerfileAnswer'), ...errors('400', '401', '413') } } },
      '/inspect': {
        post: { operationId: 'submitInspection', requestBody: specBody, responses: { ...ok('SubmitAnswer', '202'), ...errors('400', '401', '413') } },
        get: {
          operationId: 'listInspections',
          description:
            'Newest first. `page` counts from 1; `page_token` (from parameters.next_page_token) fetches the next page in one store call. As the original clamped: a page at or below 0 reads as 1, a limit at or below 0 or above 1000 as 100.',
          parameters: [
            { name: 'page', in: 'query', schema: { type: 'integer' } },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
            { name: 'page_token', in: 'query', schema: { type: 'string' } },
            { name: 'details', in: 'query', description: 'Add `details` (identifier, state, runs done and failed, created) for up to 100 inspections.', schema: { type: 'boolean' } },
            { name: 'identifier', in: 'query', description: 'Only this identifier (a walk of the listing; answers with details).', schema: { type: 'string', maxLength: 256 } },
            { name: 'state', in: 'query', description: 'Only inspections in this state (a walk of the listing; answers with details).', schema: { type: 'string', enum: ['pending', 'building', 'running', 'succeeded', 'failed'] } },
          ],
          responses: { ...ok('ListingAnswer'), ...errors('400') },
        },
      },
      '/inspect/{inspection_id}/build/log': { get: { operationId: 'getBuildLog', parameters: [idParam], responses: { ...ok('LogAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/job/batch-size': { get: { operationId: 'getBatchSize', parameters: [idParam], responses: { ...ok('BatchSizeAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/job/{item}/result': {
        get: {
          operationId: 'getResult',
          description: "A client generated from the original's description (User-Agent OpenAPI-Generator/… or Swagger-Codegen/…) gets 404 for a run that never ran (no exit code), as the original answered for a missing result: its models refuse a result without one.",
          parameters: [idParam, itemParam],
          responses: { ...ok('ResultAnswer'), ...errors('400', '404') },
        },
      },
      '/inspect/{inspection_id}/job/{item}/log': {
        get: {
          operationId: 'getItemLog',
          description: "The run's log as text, as the original answered. A client generated from the original's description (User-Agent OpenAPI-Generator/… or Swagger-Codegen/…) gets `log` as the description declares it: the run's result document.",
          parameters: [idParam, itemParam],
          responses: { ...ok('LogAnswer'), ...errors('400', '404') },
        },
      },
      '/inspect/{inspection_id}/status': { get: { operationId: 'getStatus', parameters: [idParam], responses: { ...ok('StatusAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/metrics': {
        get: {
          operationId: 'getInspectionMetrics',
          tags: ['Results'],
          description: "Every metric of the inspection's runs: the numbers of stdout's `@result` (nested keys joined with dots) and the harness's own (wall_time, usage.*), each with n, median, mean, min, max, stdev, cv and the values by item; and the runs.",
          parameters: [idParam],
          responses: { ...ok('MetricsAnswer'), ...errors('400', '404') },
        },
      },
      '/compare': {
        get: {
          operationId: 'compareInspections',
          tags: ['Results'],
          description: 'Every other inspection against the first, on every metric both have: medians, the ratio with its 95 % bootstrap interval, a two-sided Mann-Whitney U p-value and a verdict; warnings for different hardware, too few runs, failed runs.',
          parameters: [{ name: 'ids', in: 'query', required: true, description: '2 to 10 inspection ids, separated by commas; the first is the baseline.', schema: { type: 'string' } }],
          responses: { ...ok('CompareAnswer'), ...errors('400', '404') },
        },
      },
      '/identifiers/{identifier}/history': {
        get: {
          operationId: 'getHistory',
          tags: ['Results'],
          description: "The metric's median and spread per inspection of the identifier (the newest `limit`, oldest first), hardware changes marked, each compared with the latest earlier one on the same hardware.",
          parameters: [
            { name: 'identifier', in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 256 } },
            { name: 'metric', in: 'query', description: 'Default: the first @result metric of the newest inspection, else wall_time.', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
          ],
          responses: { ...ok('HistoryAnswer'), ...errors('400', '404') },
        },
      },
      '/inspect/{inspection_id}/specification': { get: { operationId: 'getSpecification', parameters: [idParam], responses: { ...ok('SpecificationAnswer'), ...errors('400', '404') } } },
    },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
