/**
 * Schema validation: every schema of schemas/ registered at module load, each compiled once on first use.
 * Errors come back as {path, message} with JSON Pointer paths, all of them (allErrors).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import {
  allSchemas,
  apiSchema,
  buildContextSchema,
  buildStatusSchema,
  eventsSchema,
  explorerSchema,
  hwinfoSchema,
  messagesSchema,
  resultSchema,
  specificationSchema,
  summarySchema,
} from './generated/schemas.js';
import type { Problem } from './errors.js';
import { CorruptDataError, SpecificationError } from './errors.js';

// ajv-formats is CommonJS; its default export arrives wrapped under some loaders.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => Ajv;

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
// `tsType` tells the type generator what an unconstrained value is; it carries no validation.
ajv.addKeyword({ keyword: 'tsType', schemaType: 'string' });
// Checking our own schemas against the JSON Schema meta-schema compiles the meta-schema: about a
// third of a function's cold start on Lambda, for files every test run has already checked.
const checkSchemas = process.env.AWS_LAMBDA_FUNCTION_NAME === undefined;
for (const schema of allSchemas) ajv.addSchema(schema as object, undefined, undefined, checkSchemas);

function compile<T>(ref: string): ValidateFunction<T> {
  const fn = ajv.getSchema<T>(ref);
  if (!fn) throw new Error(`schema ${ref} is not registered`);
  return fn;
}

const ids = {
  specification: specificationSchema.$id,
  result: resultSchema.$id,
  hwinfo: hwinfoSchema.$id,
  buildStatus: buildStatusSchema.$id,
  summary: summarySchema.$id,
  buildContext: buildContextSchema.$id,
} as const;

/** Schema references by validator name. */
const refs = {
  specification: ids.specification,
  result: ids.result,
  hwinfo: ids.hwinfo,
  buildStatus: ids.buildStatus,
  summary: ids.summary,
  buildContext: ids.buildContext,
  storedBuildContext: `${buildContextSchema.$id}#/definitions/StoredBuildContext`,
  buildMessage: `${messagesSchema.$id}#/definitions/BuildMessage`,
  runMessage: `${messagesSchema.$id}#/definitions/RunMessage`,
  completionMessage: `${messagesSchema.$id}#/definitions/CompletionMessage`,
  httpApiEvent: `${eventsSchema.$id}#/definitions/HttpApiEvent`,
  sqsEvent: `${eventsSchema.$id}#/definitions/SqsEvent`,
  s3Notification: `${eventsSchema.$id}#/definitions/S3Notification`,
  errorAnswer: `${apiSchema.$id}#/definitions/ErrorAnswer`,
  versionAnswer: `${apiSchema.$id}#/definitions/VersionAnswer`,
  dockerfileAnswer: `${apiSchema.$id}#/definitions/DockerfileAnswer`,
  submitAnswer: `${apiSchema.$id}#/definitions/SubmitAnswer`,
  listingAnswer: `${apiSchema.$id}#/definitions/ListingAnswer`,
  logAnswer: `${apiSchema.$id}#/definitions/LogAnswer`,
  batchSizeAnswer: `${apiSchema.$id}#/definitions/BatchSizeAnswer`,
  resultAnswer: `${apiSchema.$id}#/definitions/ResultAnswer`,
  specificationAnswer: `${apiSchema.$id}#/definitions/SpecificationAnswer`,
  statusAnswer: `${apiSchema.$id}#/definitions/StatusAnswer`,
  metricsAnswer: `${explorerSchema.$id}#/definitions/MetricsAnswer`,
  compareAnswer: `${explorerSchema.$id}#/definitions/CompareAnswer`,
  historyAnswer: `${explorerSchema.$id}#/definitions/HistoryAnswer`,
} as const;

/**
 * One validator per schema, compiled once on first use: compiling all of them at module load took
 * more than half of a function's cold start, and each function uses only a few.
 */
export const validators = {} as { readonly [K in keyof typeof refs]: ValidateFunction<unknown> };
for (const [name, ref] of Object.entries(refs)) {
  let fn: ValidateFunction<unknown> | undefined;
  Object.defineProperty(validators, name, { enumerable: true, get: () => (fn ??= compile(ref)) });
}

export type ValidatorName = keyof typeof validators;

/** Turns ajv errors into problems a person can act on. */
export function toProblems(errors: ErrorObject[] | null | undefined): Problem[] {
  return (errors ?? []).map((e) => {
    let path = e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      path = `${path}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      path = `${path}/${missing}`;
      message = 'is required';
    } else if (e.keyword === 'pattern') {
      message = `does not match the allowed pattern ${(e.params as { pattern: string }).pattern}`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    return { path, message };
  });
}

/** Validates caller input: a SpecificationError (400) with every problem when it does not match. */
export function assertInput<T>(name: ValidatorName, value: unknown, what = 'request'): T {
  const fn = validators[name] as ValidateFunction<T>;
  if (!fn(value)) throw new SpecificationError(`invalid ${what}`, toProblems(fn.errors));
  return value;
}

/** Validates stored data or our own output: a CorruptDataError (500) when it does not match. */
export function assertStored<T>(name: ValidatorName, value: unknown, what: string): T {
  const fn = validators[name] as ValidateFunction<T>;
  if (!fn(value)) {
    const detail = toProblems(fn.errors).map((p) => `${p.path || '/'} ${p.message}`).join('; ');
    throw new CorruptDataError(`${what} does not match its schema: ${detail}`);
  }
  return value;
}
