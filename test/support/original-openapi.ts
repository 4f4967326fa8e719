/**
 * The ORIGINAL service's OpenAPI description (../shared/fixtures/amun-openapi-v1.yaml, OpenAPI
 * 3.0), converted to JSON Schema, and a client written from it: what the original's generated
 * clients would send and accept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

// ajv-formats is CommonJS; its default export arrives wrapped under some loaders (as in validation.ts).
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;
/** A separate, non-strict Ajv: OpenAPI documents carry keywords JSON Schema does not know. */
export const looseAjv = (): Ajv => addFormats(new Ajv({ strict: false, allErrors: true }));

export const repoRoot = join(import.meta.dirname, '..', '..');
export const originalYaml = join(repoRoot, '..', 'shared', 'fixtures', 'amun-openapi-v1.yaml');
export const exampleDir = join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38');

// ---------------------------------------------------------------------------------------------
// The original description, converted from OpenAPI 3.0 to JSON Schema (draft-07)
// ---------------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a type array (and `null` joins an enum),
 * `example` and `x-*` extensions go, `#/components/schemas/X` becomes `#/definitions/X`.
 * `underProperties` keeps a property that happens to be called `example` from being dropped.
 */
export function toJsonSchema(node: Json, underProperties = false): Json {
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

export interface OriginalDoc {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> }>>;
  components: { schemas: Record<string, Json> };
}

export const original = parseYaml(readFileSync(originalYaml, 'utf8')) as OriginalDoc;
const ORIGINAL_ID = 'urn:amun:original-openapi-v1';
const originalAjv = looseAjv();
originalAjv.addSchema({ $id: ORIGINAL_ID, definitions: toJsonSchema(original.components.schemas as Json) } as object);

export function originalValidator(name: string): ValidateFunction {
  const fn = originalAjv.getSchema(`${ORIGINAL_ID}#/definitions/${name}`);
  if (!fn) throw new Error(`the original description has no schema ${name}`);
  return fn;
}

export function originalProblems(name: string, value: unknown): string[] {
  const fn = originalValidator(name);
  return fn(value) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** The component the original declares for an answer: the exact status, else its only 2xx answer. */
export function originalResponseSchema(path: string, method: string, status: number): string | undefined {
  const responses = original.paths[path]?.[method]?.responses ?? {};
  const pick = responses[String(status)] ?? (status < 300 ? Object.entries(responses).filter(([code]) => code.startsWith('2')).map(([, r]) => r)[0] : undefined);
  const ref = pick?.content?.['application/json']?.schema?.$ref;
  return ref?.replace(/^#\/components\/schemas\//, '');
}

/** Every `example` in the original, with the schema it illustrates, for the self-consistency check. */
export function examples(node: Json, at: string, out: Array<{ at: string; schema: Json; example: Json }> = []): typeof out {
  if (node === null || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    node.forEach((n, i) => examples(n, `${at}/${i}`, out));
    return out;
  }
  if ('example' in node && node.example !== undefined) out.push({ at, schema: toJsonSchema(node), example: node.example });
  for (const [key, value] of Object.entries(node)) if (key !== 'example') examples(value, `${at}/${key}`, out);
  return out;
}


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
export const SELF_INCONSISTENT = new Set(['InspectionJobResultResponse', 'InspectionJobLogResponse']);

/** Problems of an answer against the response schema the original declares, as its clients read it. */
export function originalAnswerProblems(name: string, body: unknown): string[] {
  if (name === 'InspectionJobResultResponse') {
    // Its `result` lists 8 fields but forbids the original's own `datetime` and `hostname`: every
    // listed field, type and nullability is checked, extra fields are allowed.
    const converted = toJsonSchema(original.components.schemas.InspectionJobResultResponse as Json) as { properties: { result: Record<string, Json> } };
    delete converted.properties.result.additionalProperties;
    const ajv = looseAjv();
    return ajv.validate(converted as object, body) ? [] : (ajv.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
  }
  if (name === 'InspectionJobLogResponse') {
    // Its `log` is typed as an object, the original service answered the text: the text it is.
    const b = body as { log?: unknown; parameters?: unknown };
    return typeof b?.log === 'string' && typeof b.parameters === 'object' && b.parameters !== null ? [] : ['/log must be the log text'];
  }
  if (name === 'InspectionGenerateDockerfileResponse') {
    // Ours adds the build context beside the original's two fields (the original's client
    // ignores fields it does not know); the rest is checked as declared.
    const { context, ...rest } = body as Record<string, unknown>;
    const problems = originalProblems(name, rest);
    return Array.isArray((context as { files?: unknown } | undefined)?.files) ? problems : [...problems, '/context must be the build context'];
  }
  return originalProblems(name, body);
}

/** An answer the original's description does not allow: what its generated clients raise on. */
export class OriginalApiError extends Error {
  constructor(
    readonly operationId: string,
    readonly status: number,
    readonly problems: string[],
    readonly body: unknown,
  ) {
    super(`${operationId} answered ${status}: ${problems.join('; ')}`);
  }
}

/**
 * A client written from the original's description alone, as its generated clients behave: each
 * operation by its operationId, the path from the description under its server URL (/api/v1/),
 * path parameters substituted and query parameters added; an answer whose status the operation
 * does not declare, or whose body fails the declared schema, throws (OriginalApiError). 4xx answers
 * that are declared come back as they are, so a test can look at them.
 */
export class OriginalClient {
  readonly calls: Array<{ operationId: string; status: number; schema: string }> = [];
  constructor(private readonly baseUrl: string) {}

  private operation(operationId: string): { method: string; path: string; responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> } {
    for (const [path, methods] of Object.entries(original.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if ((op as { operationId?: string }).operationId === operationId) return { method, path, responses: op.responses };
      }
    }
    throw new Error(`the original description has no operation ${operationId}`);
  }

  async call(operationId: string, params: { path?: Record<string, string | number>; query?: Record<string, string | number>; body?: unknown } = {}): Promise<{ status: number; body: any }> {
    const { method, path, responses } = this.operation(operationId);
    const server = ((original as unknown as { servers: Array<{ url: string }> }).servers[0]?.url ?? '/').replace(/\/$/, '');
    const filled = path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = params.path?.[name];
      if (value === undefined) throw new Error(`${operationId} needs ${name}`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams(Object.entries(params.query ?? {}).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const res = await fetch(`${this.baseUrl}${server}${filled}${query ? `?${query}` : ''}`, {
      method: method.toUpperCase(),
      headers: { accept: 'application/json', ...(params.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(params.body !== undefined ? { body: JSON.stringify(params.body) } : {}),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new OriginalApiError(operationId, res.status, ['the answer is not JSON'], text);
    }
    // The status as declared; a success the original declared as another 2xx (202 for the
    // debug endpoint, which its service answered with 200) reads as that one.
    const declared = responses[String(res.status)] ?? (res.status < 300 ? Object.entries(responses).find(([code]) => code.startsWith('2'))?.[1] : undefined);
    const schema = declared?.content?.['application/json']?.schema?.$ref?.replace(/^#\/components\/schemas\//, '');
    if (!schema) throw new OriginalApiError(operationId, res.status, [`status ${res.status} is not declared`], body);
    const problems = originalAnswerProblems(schema, body);
    if (problems.length > 0) throw new OriginalApiError(operationId, res.status, problems, body);
    this.calls.push({ operationId, status: res.status, schema });
    return { status: res.status, body };
  }
}
