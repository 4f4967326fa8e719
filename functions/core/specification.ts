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
  // The original sent batch_size to its workflow as a string, and some of its records kept it so.
  const size = Number(spec.batch_size ?? 1);
  return { ...spec, batch_size: Number.isInteger(size) && size > 0 ? size : 1, package_manager: spec.package_manager ?? 'micropipenv' };
}

/** The original's timestamp style: local-less ISO with microseconds, no zone ("2020-08-05T14:41:01.756319"). */
export function originalTimestamp(date: Date): string {
  return date.toISOString().replace(/Z$/, '000');
}

/** An original zone-less UTC timestamp (or an RFC 3339 one) as epoch milliseconds; NaN when it is none. */
export function parseTimestamp(value: unknown): number {
  if (typeof value !== 'string') return Number.NaN;
  return Date.parse(/[zZ]$|[+-][0-9]{2}:?[0-9]{2}$/.test(value) ? value : `${value}Z`);
}

/**
 * The '@' fields this service fills. A caller's values for them (a stored specification sent again)
 * are dropped before validation and filled anew: `@script_fetched` in particular is only ever what
 * this service fetched. Every other '@' field (the original's `@amun_service_version`, …) is kept.
 */
export const SERVICE_FIELDS = ['@created', '@amun_version', '@script_url', '@script_fetched'] as const;

/**
 * Validates a caller's specification (SpecificationError with every problem) and fills the defaults:
 * batch_size 1, package_manager micropipenv, cpu 500m and memory 256Mi for build and run, `@created`
 * and the service version. Fields the caller did not send stay absent, as in the original; '@'
 * fields (the original's annotations) are kept as given, except the ones this service fills.
 */
export function normalizeSpecification(input: unknown, options: { now: Date; version: string }): Specification {
  const deep = tooDeep(input);
  if (deep !== undefined) throw new SpecificationError('invalid specification', [{ path: deep, message: `nested more than ${MAX_INPUT_DEPTH} levels deep` }]);
  let given: unknown = input;
  if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
    const copy: Record<string, unknown> = { ...(given as Record<string, unknown>) };
    for (const field of SERVICE_FIELDS) delete copy[field];
    given = copy;
  }
  const spec = assertInput<InspectionSpecification>('specification', given, 'specification');
  const out = structuredClone(spec) as Specification;
  out.batch_size ??= 1;
  out.package_manager ??= 'micropipenv';
  out.build = { ...out.build, requests: { ...DEFAULT_REQUESTS, ...out.build?.requests } };
  out.run = { ...out.run, requests: { ...DEFAULT_REQUESTS, ...out.run?.requests } };
  out['@created'] = originalTimestamp(options.now);
  out['@amun_version'] = options.version;
  return out;
}

type PythonSection = NonNullable<InspectionSpecification['python']>;

const isEmptyObject = (value: unknown): boolean =>
  value === undefined || (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);

/**
 * The Python stack to install, or undefined when there is none: no `python` section, or the
 * original's way of saying none, `{requirements: {}, requirements_locked: {}}` (an empty Pipfile
 * and no lock or an empty one). Its `constraints` still apply to python_packages then.
 */
export function pythonStack(spec: Pick<InspectionSpecification, 'python'>): PythonSection | undefined {
  const python = spec.python;
  if (python === undefined) return undefined;
  return isEmptyObject(python.requirements) && isEmptyObject(python.requirements_locked) ? undefined : python;
}

/** The stack's Pipfile.lock, when it has one: an empty object is no lock. */
export function lockOf(python: PythonSection): NonNullable<PythonSection['requirements_locked']> | undefined {
  return isEmptyObject(python.requirements_locked) ? undefined : python.requirements_locked;
}

/**
 * The script as the run reports identify it (their `script_sha256`): the text, or, when `script`
 * is a URL this service fetched, the sha256 of what was fetched (the text itself travels in the
 * build context, not in the specification).
 */
export function reportedScript(spec: Pick<InspectionSpecification, 'script' | '@script_fetched'>): string | { sha256: string } {
  const fetched = spec['@script_fetched'];
  return fetched !== undefined ? { sha256: fetched.sha256 } : (spec.script ?? '');
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
