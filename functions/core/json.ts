import { SpecificationError } from './errors.js';

/** JSON as the original wrote it: keys sorted at every level, two-space indent. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2);
}

export function parseJson(text: string): unknown {
  return JSON.parse(text) as unknown;
}

/** Byte offset of the first byte that is not part of well-formed UTF-8, or -1. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    if (i + need >= n) return i;
    let code = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Bytes as UTF-8 text, refusing anything else: input is never silently altered (no U+FFFD for
 * bytes that are not UTF-8). The error names the byte offset of the first bad byte.
 */
export function decodeUtf8(bytes: Uint8Array, path: string, what = 'the request body'): string {
  const offset = invalidUtf8Offset(bytes);
  if (offset >= 0) throw new SpecificationError(`${what} is not valid UTF-8`, [{ path, message: `not valid UTF-8 at byte offset ${offset}` }]);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Nesting depth allowed in input documents: far beyond any real specification, far below the stack. */
export const MAX_INPUT_DEPTH = 64;

/**
 * JSON Pointer of the first value nested deeper than `max` levels, or undefined. Iterative: a
 * document nested thousands deep must yield a clear 400, not a stack overflow in a recursive
 * reader (structuredClone, sortKeys, validation).
 */
export function tooDeep(value: unknown, max = MAX_INPUT_DEPTH): string | undefined {
  const stack: Array<{ value: unknown; depth: number; path: string }> = [{ value, depth: 0, path: '' }];
  while (stack.length > 0) {
    const { value: v, depth, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return path;
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v as Record<string, unknown>);
    for (const [key, child] of entries) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: depth + 1, path: `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}` });
    }
  }
  return undefined;
}
