/** Stages triggered by objects of the inspection layout (build/status, results/<n>/result). */
import type { App } from '../app.js';
import type { Logger } from '../logger.js';
import { createdObjects, sqsHandler, type SqsHandler } from './sqs.js';

export function layoutObjectHandler(
  app: Pick<App, 'layout'>,
  logger: Logger,
  accepts: (rest: string) => boolean,
  stage: (inspectionId: string, rest: string) => Promise<string>,
): SqsHandler {
  return sqsHandler(logger, async (record) => {
    for (const object of createdObjects(record)) {
      const parsed = app.layout.parse(object.key);
      if (!parsed || !accepts(parsed.rest)) {
        logger.warn('ignoring an object outside this stage', { key: object.key });
        continue;
      }
      logger.appendKeys({ inspection_id: parsed.id });
      try {
        logger.info(await stage(parsed.id, parsed.rest), { key: object.key });
      } finally {
        logger.removeKeys(['inspection_id']);
      }
    }
  });
}
