/**
 * A deterministic ustar + gzip writer for build contexts: same files, same bytes (mtime 0, uid and
 * gid 0, entries in path order, directories first where they appear), so a redelivered build
 * uploads an identical tarball. Paths up to 255 bytes (prefix + name); nothing else is needed for
 * the context the Dockerfile generator produces.
 */
import { gzipSync } from 'node:zlib';
import type { ContextFile } from '../../core/ports.js';

const BLOCK = 512;

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function splitPath(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  // A directory's trailing '/' stays with its name.
  for (let i = path.endsWith('/') ? path.length - 2 : path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new Error(`tar: path too long for ustar: ${path}`);
}

function header(path: string, size: number, mode: number, type: '0' | '5'): Buffer {
  const block = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitPath(path);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(mode & 0o7777, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(0, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write(type, 156, 'ascii');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  block.write('root', 265, 'ascii');
  block.write('root', 297, 'ascii');
  block.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function checkPath(path: string): void {
  if (path === '' || path.startsWith('/') || path.split('/').some((s) => s === '' || s === '.' || s === '..') || /[\0\\]/.test(path)) {
    throw new Error(`tar: unsafe path ${JSON.stringify(path)}`);
  }
}

/** An uncompressed tar of `files` (paths relative, '/'-separated). */
export function tar(files: ReadonlyArray<ContextFile>): Buffer {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const file of sorted) {
    checkPath(file.path);
    const segments = file.path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = `${segments.slice(0, i).join('/')}/`;
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      parts.push(header(dir, 0, 0o755, '5'));
    }
    const bytes = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : file.content;
    parts.push(header(file.path, bytes.length, file.mode ?? 0o644, '0'), bytes);
    const pad = (BLOCK - (bytes.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(2 * BLOCK, 0));
  return Buffer.concat(parts);
}

/** tar + gzip, byte-for-byte reproducible. */
export function tarGz(files: ReadonlyArray<ContextFile>): Buffer {
  return gzipSync(tar(files), { level: 9 });
}
