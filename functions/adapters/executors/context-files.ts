/** A build context written out as files (the local executors build from a directory). */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContextFile } from '../../core/ports.js';

/** Writes every file under `dir` with its mode; a path that could leave `dir` is refused. */
export async function writeContext(dir: string, context: ReadonlyArray<ContextFile>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of context) {
    if (file.path.startsWith('/') || file.path.split('/').some((s) => s === '..' || s === '')) throw new Error(`unsafe context path ${file.path}`);
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
    // The mode as given, whatever the umask took away.
    await chmod(path, file.mode ?? 0o644);
  }
}
