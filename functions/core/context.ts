/**
 * The build context as one stored object (build/context.json): every file with its mode, text as
 * UTF-8 and anything else as base64, so the bytes and modes an executor gets back are exactly
 * those the generator produced. One object per inspection keeps submit to a few store calls.
 */
import type { BuildContext } from './generated/types.js';
import { stableJson } from './json.js';
import type { ContextFile } from './ports.js';
import { assertStored } from './validation.js';

const DEFAULT_MODE = 0o644;

export function encodeContext(files: ReadonlyArray<ContextFile>): string {
  const entries = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((file) => {
      const bytes = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : file.content;
      const text = bytes.toString('utf8');
      const utf8 = Buffer.from(text, 'utf8').equals(bytes);
      return { path: file.path, mode: file.mode ?? DEFAULT_MODE, encoding: utf8 ? ('utf8' as const) : ('base64' as const), content: utf8 ? text : bytes.toString('base64') };
    });
  const context: BuildContext = { files: entries };
  return stableJson(context);
}

export function decodeContext(raw: Buffer, what: string): ContextFile[] {
  const context = assertStored<BuildContext>('buildContext', JSON.parse(raw.toString('utf8')), what);
  return context.files.map((file) => ({
    path: file.path,
    mode: file.mode,
    content: file.encoding === 'utf8' ? Buffer.from(file.content, 'utf8') : Buffer.from(file.content, 'base64'),
  }));
}
