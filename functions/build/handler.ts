/** build: a build message → the pipeline's build stage. */
import type { App } from '../app.js';
import type { BuildMessage } from '../core/generated/types.js';
import { makeLogger } from '../logger.js';
import { queues } from '../routes.js';
import { isLastAttempt, messageBody, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeBuildHandler(app: Pick<App, 'pipeline'>): SqsHandler {
  const logger = makeLogger('build');
  return sqsHandler(logger, async (record) => {
    const { inspection_id } = messageBody<BuildMessage>(record, 'buildMessage');
    logger.appendKeys({ inspection_id });
    try {
      const outcome = await app.pipeline.build(inspection_id);
      logger.info(outcome === 'skipped' ? 'build already recorded' : 'build recorded');
    } catch (error) {
      // Nothing is retried forever: the last attempt records the failure where status shows it.
      if (!isLastAttempt(record, queues.work.maxReceiveCount)) throw error;
      logger.error('build failed on its last attempt; recording it', { error: error as Error });
      await app.pipeline.recordBuildFailure(inspection_id, `build failed ${queues.work.maxReceiveCount} times: ${(error as Error).message}`);
    } finally {
      logger.removeKeys(['inspection_id']);
    }
  });
}
