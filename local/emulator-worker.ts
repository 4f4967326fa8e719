/** Worker-thread side of local/emulator-thread.ts. */
import { parentPort, workerData } from 'node:worker_threads';
import { startEmulator } from './emulator.js';
import type { ThreadEmulatorOptions } from './emulator-thread.js';

const port = parentPort!;
try {
  const emulator = await startEmulator(workerData as ThreadEmulatorOptions);
  port.on('message', (message: unknown) => {
    if (message !== 'stop') return;
    emulator.stop().then(
      () => port.postMessage({ kind: 'stopped' }),
      (error: unknown) => port.postMessage({ kind: 'error', message: String(error) }),
    );
  });
  port.postMessage({ kind: 'started', endpoint: emulator.endpoint, region: emulator.region, bucket: emulator.bucket, queueUrls: emulator.queueUrls, dlqUrls: emulator.dlqUrls });
} catch (error) {
  port.postMessage({ kind: 'error', message: (error as Error).message, stack: (error as Error).stack });
}
