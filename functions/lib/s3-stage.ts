/** Stages triggered by objects of the inspection layout (build/status, results/<n>/result). */
import type { App } from '../app.js';
import { withLogKeys, type Logger } from '../logger.js';
import { createdObjects, recordingLastFailure, sqsHandler, type SqsHandler } from './sqs.js';

export interface LayoutStage {
  accepts: (rest: string) => boolean;
  run: (inspectionId: string, rest: string, deliveryId: string) => Promise<string>;
  /**
   * On the event's last delivery (the queue's receive limit), a failure is recorded with this
   * instead of being thrown into the dead-letter queue, so that the inspection does not hang.
   */
  lastFailure?: { maxReceiveCount: number; record: (inspectionId: string, reason: string) => Promise<unknown> };
}

export function layoutObjectHandler(app: Pick<App, 'layout'>, logger: Logger, stage: LayoutStage): SqsHandler {
  return sqsHandler(logger, async (record) => {
    for (const object of createdObjects(record)) {
      const parsed = app.layout.parse(object.key);
      if (!parsed || !stage.accepts(parsed.rest)) {
        logger.warn('ignoring an object outside this stage', { key: object.key });
        continue;
      }
      const work = async (): Promise<void> => logger.info(await stage.run(parsed.id, parsed.rest, record.messageId), { key: object.key });
      const last = stage.lastFailure;
      await withLogKeys({ inspection_id: parsed.id }, () =>
        last ? recordingLastFailure(record, last.maxReceiveCount, logger, work, (reason) => last.record(parsed.id, reason)) : work(),
      );
    }
  });
}
