/** OpenAPI 3.1 description of our API, assembled from the same JSON Schemas that validate it. */
import { apiSchema, hwinfoSchema, resultSchema, specificationSchema, summarySchema } from '../core/generated/schemas.js';

const componentName: Record<string, string> = {
  [specificationSchema.$id]: 'InspectionSpecification',
  [resultSchema.$id]: 'RunReport',
  [hwinfoSchema.$id]: 'Hwinfo',
  [summarySchema.$id]: 'InspectionSummary',
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
      else if (value.startsWith('#/definitions/')) out.$ref = self === 'api' ? `#/components/schemas/${value.slice(14)}` : `#/components/schemas/${self}/definitions/${value.slice(14)}`;
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
const specBody = { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/InspectionSpecification' } } } };

export function openApiDocument(version: string): object {
  const definitions = (apiSchema as { definitions: Record<string, unknown> }).definitions;
  const schemas: Record<string, unknown> = Object.fromEntries(Object.entries(definitions).map(([k, v]) => [k, relink(v, 'api')]));
  for (const schema of [specificationSchema, resultSchema, hwinfoSchema, summarySchema]) {
    const name = componentName[schema.$id]!;
    schemas[name] = relink(schema, name);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Amun API', version, description: 'Builds a software stack into an image, runs a script on it on requested hardware, and records what happened.' },
    servers: [{ url: '/api/v1' }],
    paths: {
      '/version': { get: { operationId: 'getVersion', responses: ok('VersionAnswer') } },
      '/openapi.json': { get: { operationId: 'getOpenApi', responses: { '200': { description: 'This document' } } } },
      '/_debug/generate-dockerfile': { post: { operationId: 'generateDockerfile', requestBody: specBody, responses: { ...ok('DockerfileAnswer'), ...errors('400', '401', '413') } } },
      '/inspect': {
        post: { operationId: 'submitInspection', requestBody: specBody, responses: { ...ok('SubmitAnswer', '202'), ...errors('400', '401', '413') } },
        get: {
          operationId: 'listInspections',
          description: 'Newest first. `page` counts from 1; `page_token` (from parameters.next_page_token) fetches the next page in one store call.',
          parameters: [
            { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
            { name: 'page_token', in: 'query', schema: { type: 'string' } },
          ],
          responses: { ...ok('ListingAnswer'), ...errors('400') },
        },
      },
      '/inspect/{inspection_id}/build/log': { get: { operationId: 'getBuildLog', parameters: [idParam], responses: { ...ok('LogAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/job/batch-size': { get: { operationId: 'getBatchSize', parameters: [idParam], responses: { ...ok('BatchSizeAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/job/{item}/result': { get: { operationId: 'getResult', parameters: [idParam, itemParam], responses: { ...ok('ResultAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/job/{item}/log': { get: { operationId: 'getItemLog', parameters: [idParam, itemParam], responses: { ...ok('LogAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/status': { get: { operationId: 'getStatus', parameters: [idParam], responses: { ...ok('StatusAnswer'), ...errors('400', '404') } } },
      '/inspect/{inspection_id}/specification': { get: { operationId: 'getSpecification', parameters: [idParam], responses: { ...ok('SpecificationAnswer'), ...errors('400', '404') } } },
    },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
