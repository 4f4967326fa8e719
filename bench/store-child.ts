/**
 * One store backend in a process of its own, for bench/store.ts (which loads it over loopback
 * and kills it with SIGKILL). Prints one JSON line when ready; answers `mem` on stdin with its
 * memory after a full GC; stops cleanly on SIGTERM.
 * Usage: node --expose-gc --import tsx bench/store-child.ts <journal|sqlite|sqlite-normal|sqlite+files|memory> <dir>
 */
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { QueueName } from '../functions/routes.js';
import type { QueueOverride } from '../local/emulator.js';

export type Backend = 'journal' | 'sqlite' | 'sqlite-normal' | 'sqlite+files' | 'memory';
export const BACKENDS: Backend[] = ['journal', 'sqlite', 'sqlite-normal', 'sqlite+files', 'memory'];

export const BUCKET = 'amun-bench';
export const STORE_PREFIX = 'inspections';
export const REGION = 'us-east-1';
/** Short visibility so that what was in flight at a kill is visible again soon; `run` sends to its DLQ on the 2nd receive. */
export const QUEUE_ATTRIBUTES: Partial<Record<QueueName, QueueOverride>> = {
  work: { visibilityTimeoutSeconds: 2, maxReceiveCount: 1000 },
  run: { visibilityTimeoutSeconds: 0, maxReceiveCount: 1 },
};

export interface Ready {
  endpoint: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  pid: number;
  /** Time the backend took to open its data and listen (restore included). */
  startMs: number;
}

async function main(): Promise<void> {
  const [backend, dir] = process.argv.slice(2) as [Backend | undefined, string | undefined];
  if (!backend || !dir || !BACKENDS.includes(backend)) {
    process.stderr.write('usage: store-child.ts <journal|sqlite|sqlite-normal|sqlite+files|memory> <dir>\n');
    process.exit(2);
  }
  const base = { bucket: BUCKET, storePrefix: STORE_PREFIX, specsPrefix: 'specs/', region: REGION, queueAttributes: QUEUE_ATTRIBUTES };
  const t0 = performance.now();
  let stack: { endpoint: string; queueUrls: Record<QueueName, string>; dlqUrls: Record<QueueName, string>; stop(): Promise<void> };
  if (backend === 'journal') {
    const { startEmulator } = await import('../local/emulator.js');
    stack = await startEmulator({ ...base, dataDir: dir, warn: (m) => process.stderr.write(`${m}\n`) });
  } else {
    const { startNative } = await import('./store-fauxqs.js');
    stack = await startNative({ ...base, mode: backend, dataDir: dir });
  }
  const startMs = performance.now() - t0;
  const ready: Ready = { endpoint: stack.endpoint, queueUrls: stack.queueUrls, dlqUrls: stack.dlqUrls, pid: process.pid, startMs };
  process.stdout.write(`${JSON.stringify(ready)}\n`);

  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'mem') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    process.stdout.write(`${JSON.stringify({ mem: process.memoryUsage() })}\n`);
  });
  process.once('SIGTERM', () => {
    void stack.stop().then(() => process.exit(0));
  });
}

// Run as a script (the benchmark also imports the constants above).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
