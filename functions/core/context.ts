/**
 * The build context as stored (build/context.json) and as answered (the debug endpoint): every
 * file with its mode, text as UTF-8 and anything else as base64, so the bytes and modes an
 * executor gets back are exactly those the generator produced.
 *
 * Stored, a file every inspection of a version shares (the harness, the generator's own scripts:
 * isUnchangingContextPath) is not copied in: it is named by the sha256 of its bytes, and those
 * bytes are stored once as a blob (InspectionRecords writes and reads them). A script-only
 * inspection's context is then about 1 KB instead of 44 KB. Contexts stored before blobs carry
 * every file inline and read as they did.
 */
import { createHash } from 'node:crypto';
import type { BlobContextFile, BuildContext, InlineContextFile, StoredBuildContext } from './generated/types.js';
import { isUnchangingContextPath } from './dockerfile.js';
import { stableJson } from './json.js';
import type { ContextFile } from './ports.js';
import { assertStored } from './validation.js';

const DEFAULT_MODE = 0o644;

/** A file stored apart from the context, once: its bytes and their sha256 (hex). */
export interface ContextBlob {
  sha256: string;
  content: Buffer;
}

/** A stored context's file as read: inline (content given) or named by its blob (content to fetch). */
export type StoredContextFile = ContextFile | BlobReference;

export interface BlobReference {
  path: string;
  mode: number;
  sha256: string;
  size: number;
}

const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

const bytesOf = (content: string | Buffer): Buffer => (typeof content === 'string' ? Buffer.from(content, 'utf8') : content);

function inline(file: ContextFile): InlineContextFile {
  const bytes = bytesOf(file.content);
  const text = bytes.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(bytes);
  return { path: file.path, mode: file.mode ?? DEFAULT_MODE, encoding: utf8 ? 'utf8' : 'base64', content: utf8 ? text : bytes.toString('base64') };
}

function contentOf(file: InlineContextFile): Buffer {
  return file.encoding === 'utf8' ? Buffer.from(file.content, 'utf8') : Buffer.from(file.content, 'base64');
}

/** The full form, every file inline (what the debug endpoint answers). */
export function encodeContext(files: ReadonlyArray<ContextFile>): string {
  const context: BuildContext = { files: [...files].sort(byPath).map(inline) };
  return stableJson(context);
}

/** Reads the full form (every file inline): the debug endpoint's answer. */
export function decodeContext(raw: Buffer, what: string): ContextFile[] {
  const context = assertStored<BuildContext>('buildContext', JSON.parse(raw.toString('utf8')), what);
  return context.files.map((file) => ({ path: file.path, mode: file.mode, content: contentOf(file) }));
}

/**
 * Digests of the shared files' contents, by content: the same strings arrive with every submit
 * (the harness is one module constant), so each is hashed once per process. Bounded, since a
 * content that is not a module constant could come by.
 */
const digests = new Map<string | Buffer, ContextBlob>();
const MAX_DIGESTS = 64;

function blobOf(content: string | Buffer): ContextBlob {
  let blob = digests.get(content);
  if (!blob) {
    const bytes = bytesOf(content);
    blob = { sha256: createHash('sha256').update(bytes).digest('hex'), content: bytes };
    if (digests.size >= MAX_DIGESTS) digests.clear();
    digests.set(content, blob);
  }
  return blob;
}

/**
 * What an inspection stores: the context object (the shared files named by digest, the rest
 * inline) and the blobs it names, which must be stored before the context is read.
 */
export function encodeStoredContext(files: ReadonlyArray<ContextFile>, shared: (path: string) => boolean = isUnchangingContextPath): { text: string; blobs: ContextBlob[] } {
  const blobs = new Map<string, ContextBlob>();
  const entries = [...files].sort(byPath).map((file): InlineContextFile | BlobContextFile => {
    if (!shared(file.path)) return inline(file);
    const blob = blobOf(file.content);
    blobs.set(blob.sha256, blob);
    return { path: file.path, mode: file.mode ?? DEFAULT_MODE, sha256: blob.sha256, size: blob.content.length };
  });
  const context: StoredBuildContext = { files: entries };
  return { text: stableJson(context), blobs: [...blobs.values()] };
}

/** Reads a stored context (with blob references, or every file inline as older ones are). */
export function decodeStoredContext(raw: Buffer, what: string): StoredContextFile[] {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    value = undefined;
  }
  const context = assertStored<StoredBuildContext>('storedBuildContext', value, what);
  return context.files.map((file) =>
    'sha256' in file ? { path: file.path, mode: file.mode, sha256: file.sha256, size: file.size } : { path: file.path, mode: file.mode, content: contentOf(file) },
  );
}

export function isBlobReference(file: StoredContextFile): file is BlobReference {
  return 'sha256' in file;
}

/** Whether `bytes` are the blob `reference` names (its size and sha256). */
export function matchesBlob(reference: Pick<BlobReference, 'sha256' | 'size'>, bytes: Buffer): boolean {
  return bytes.length === reference.size && createHash('sha256').update(bytes).digest('hex') === reference.sha256;
}
