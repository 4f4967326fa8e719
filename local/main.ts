/**
 * `npm start`: the embedded local stack in the foreground. PORT (default 8080) and AMUN_DATA_DIR
 * (default .amun/) configure it; SIGTERM or SIGINT stop polling, let running handlers finish and
 * persist state before exit.
 */
import { startLocalStack } from './stack.js';
import { makeLogger } from '../functions/logger.js';

const logger = makeLogger('local');
const port = Number(process.env.PORT ?? 8080);
const executor = (process.env.AMUN_EXECUTOR ?? 'auto') as 'auto';
const stack = await startLocalStack({
  dataDir: process.env.AMUN_DATA_DIR ?? '.amun',
  port,
  executor,
  apiToken: process.env.AMUN_API_TOKEN || undefined,
  ...(process.env.AMUN_STORAGE_PORT ? { storagePort: Number(process.env.AMUN_STORAGE_PORT) } : {}),
  ...(process.env.AMUN_WAIT_SECONDS ? { waitTimeSeconds: Number(process.env.AMUN_WAIT_SECONDS) } : {}),
});
logger.info('amun is listening', { api: `${stack.apiUrl}/api/v1`, storage: stack.storageEndpoint, completions: stack.queueUrls.completions, executor: stack.app.executor.kind, dataDir: stack.config.dataDir });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping: letting running handlers finish', { signal });
    stack.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('stop failed', { error: error as Error });
        process.exit(1);
      },
    );
  });
}
