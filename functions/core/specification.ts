/** Specification handling: validation, defaults exactly as the original fills them, inspection ids. */
import { createHash, randomBytes } from 'node:crypto';
import type { InspectionSpecification } from './generated/types.js';
import { SpecificationError } from './errors.js';
import { MAX_INPUT_DEPTH, tooDeep } from './json.js';
import { MAX_INSPECTION_ID_LENGTH } from './layout.js';
import { assertInput } from './validation.js';

export const DEFAULT_REQUESTS = { cpu: '500m', memory: '256Mi' } as const;

/**
 * A specification as the pipeline uses it: normalized once, its defaults filled, so that nothing
 * downstream re-applies them (`batch_size` is always there).
 */
export type Specification = InspectionSpecification & { batch_size: number };

/**
 * A stored specification (ours, or one the original wrote, which may lack defaults it filled in
 * later versions) with the defaults the pipeline relies on.
 */
export function storedSpecification(value: unknown): Specification {
  const spec = (value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {}) as InspectionSpecification;
  return { ...spec, batch_size: spec.batch_size ?? 1, package_manager: spec.package_manager ?? 'micropipenv' };
}

/** The original's timestamp style: local-less ISO with microseconds, no zone ("2020-08-05T14:41:01.756319"). */
export function originalTimestamp(date: Date): string {
  return date.toISOString().replace(/Z$/, '000');
}

/**
 * Validates a caller's specification (SpecificationError with every problem) and fills the defaults:
 * batch_size 1, package_manager micropipenv, cpu 500m and memory 256Mi for build and run, `@created`
 * and the service version. Fields the caller did not send stay absent, as in the original.
 */
export function normalizeSpecification(input: unknown, options: { now: Date; version: string }): Specification {
  const deep = tooDeep(input);
  if (deep !== undefined) throw new SpecificationError('invalid specification', [{ path: deep, message: `nested more than ${MAX_INPUT_DEPTH} levels deep` }]);
  const spec = assertInput<InspectionSpecification>('specification', input, 'specification');
  const { ['@created']: _c, ['@amun_version']: _v, ['@script_url']: _u, ...given } = spec;
  const out = structuredClone(given) as Specification;
  out.batch_size ??= 1;
  out.package_manager ??= 'micropipenv';
  out.build = { ...out.build, requests: { ...DEFAULT_REQUESTS, ...out.build?.requests } };
  out.run = { ...out.run, requests: { ...DEFAULT_REQUESTS, ...out.run?.requests } };
  out['@created'] = originalTimestamp(options.now);
  out['@amun_version'] = options.version;
  return out;
}

const ID_PREFIX = 'inspection-';
const SUFFIX_LENGTH = 8;

/** Lower-case DNS-1123 label text from free text: other characters become '-', runs collapse. */
export function sanitizeIdentifier(identifier: string | undefined): string {
  const cleaned = (identifier ?? '')
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const room = MAX_INSPECTION_ID_LENGTH - ID_PREFIX.length - 1 - SUFFIX_LENGTH;
  return cleaned.slice(0, room).replace(/-+$/, '');
}

/**
 * `inspection-<identifier>-<8 hex>`: a valid Kubernetes object name (DNS-1123, ≤ 63 characters).
 * `seed` makes the id deterministic (a redelivered event mints the same id); else it is random.
 */
export function mintInspectionId(identifier: string | undefined, seed?: string): string {
  const suffix = seed === undefined ? randomBytes(4).toString('hex') : createHash('sha256').update(seed).digest('hex').slice(0, SUFFIX_LENGTH);
  const middle = sanitizeIdentifier(identifier);
  return middle ? `${ID_PREFIX}${middle}-${suffix}` : `${ID_PREFIX}${suffix}`;
}
