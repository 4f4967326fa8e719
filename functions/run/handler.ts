/** run: a run message → one item with a local executor. */
import type { App } from '../app.js';
import type { RunMessage } from '../core/generated/types.js';
import { makeLogger } from '../logger.js';
import { queues } from '../routes.js';
import { isLastAttempt, messageBody, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeRunHandler(app: Pick<App, 'pipeline'>): SqsHandler {
  const logger = makeLogger('run');
  return sqsHandler(logger, async (record) => {
    const { inspection_id, item } = messageBody<RunMessage>(record, 'runMessage');
    logger.appendKeys({ inspection_id, item });
    try {
      const outcome = await app.pipeline.runItem(inspection_id, item);
      logger.info(outcome === 'skipped' ? 'item already has a result' : 'item ran');
    } catch (error) {
      // Nothing is retried forever: the last attempt gives the item a result that says why.
      if (!isLastAttempt(record, queues.run.maxReceiveCount)) throw error;
      logger.error('item failed on its last attempt; recording it', { error: error as Error });
      await app.pipeline.recordRunFailure(inspection_id, item, `the run failed ${queues.run.maxReceiveCount} times: ${(error as Error).message}`);
    } finally {
      logger.removeKeys(['inspection_id', 'item']);
    }
  });
}
