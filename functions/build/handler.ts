/** build: a build message → the pipeline's build stage. */
import type { App } from '../app.js';
import type { BuildMessage } from '../core/generated/types.js';
import { makeLogger } from '../logger.js';
import { messageBody, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeBuildHandler(app: Pick<App, 'pipeline'>): SqsHandler {
  const logger = makeLogger('build');
  return sqsHandler(logger, async (record) => {
    const { inspection_id } = messageBody<BuildMessage>(record, 'buildMessage');
    logger.appendKeys({ inspection_id });
    try {
      const outcome = await app.pipeline.build(inspection_id);
      logger.info(outcome === 'skipped' ? 'build already recorded' : 'build recorded');
    } finally {
      logger.removeKeys(['inspection_id']);
    }
  });
}
