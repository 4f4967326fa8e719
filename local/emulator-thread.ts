/**
 * Runs the emulator on its own thread. The S3/SQS server, its persistence and its notifications
 * then use the second core while the API, the dispatcher and the handlers use the first; both
 * threads die with the process, so a crash behaves as before (the journal is written before a
 * request is answered). Options cross the thread boundary as data, so hooks stay in-process only.
 */
import { Worker } from 'node:worker_threads';
import type { QueueName } from '../functions/routes.js';
import type { EmulatorOptions } from './emulator.js';

export type ThreadEmulatorOptions = Omit<EmulatorOptions, 'warn' | 'routes'>;

export interface ThreadEmulator {
  endpoint: string;
  region: string;
  bucket: string;
  queueUrls: Record<QueueName, string>;
  dlqUrls: Record<QueueName, string>;
  stop(): Promise<void>;
}

type Reply =
  | { kind: 'started'; endpoint: string; region: string; bucket: string; queueUrls: Record<QueueName, string>; dlqUrls: Record<QueueName, string> }
  | { kind: 'stopped' }
  | { kind: 'error'; message: string; stack?: string };

/** The worker entry: TypeScript is loaded through tsx in the worker as in the main thread. */
const entry = new URL('./emulator-worker.ts', import.meta.url);

export function startEmulatorThread(options: ThreadEmulatorOptions): Promise<ThreadEmulator> {
  const worker = new Worker(entry, { workerData: options, execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    let stopping: Promise<void> | undefined;
    worker.once('error', reject);
    worker.once('message', (reply: Reply) => {
      if (reply.kind === 'error') {
        void worker.terminate();
        reject(Object.assign(new Error(reply.message), { stack: reply.stack }));
        return;
      }
      if (reply.kind !== 'started') return;
      worker.off('error', reject);
      worker.on('error', () => undefined);
      resolve({
        endpoint: reply.endpoint,
        region: reply.region,
        bucket: reply.bucket,
        queueUrls: reply.queueUrls,
        dlqUrls: reply.dlqUrls,
        stop: () => {
          stopping ??= new Promise<void>((done) => {
            worker.once('exit', () => done());
            worker.on('message', (m: Reply) => {
              if (m.kind === 'stopped' || m.kind === 'error') void worker.terminate();
            });
            worker.postMessage('stop');
          });
          return stopping;
        },
      });
    });
  });
}
