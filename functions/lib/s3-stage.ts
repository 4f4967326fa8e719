/** Stages triggered by objects of the inspection layout (build/status, results/<n>/result). */
import type { App } from '../app.js';
import type { TriggerObject } from '../core/layout.js';
import { withLogKeys, type Logger } from '../logger.js';
import { createdObjects, recordingLastFailure, sqsHandler, type SqsHandler } from './sqs.js';

export interface LayoutStage {
  /** The kind of object the stage is triggered by. */
  object: TriggerObject['kind'];
  run: (object: TriggerObject, deliveryId: string) => Promise<string>;
  /**
   * On the event's last delivery (the queue's receive limit), a failure is recorded with this
   * instead of being thrown into the dead-letter queue, so that the inspection does not hang.
   */
  lastFailure?: { maxReceiveCount: number; record: (inspectionId: string, reason: string) => Promise<unknown> };
}

export function layoutObjectHandler(app: Pick<App, 'layout'>, logger: Logger, stage: LayoutStage): SqsHandler {
  return sqsHandler(logger, async (record) => {
    for (const created of createdObjects(record)) {
      const object = app.layout.triggerObject(created.key);
      if (!object || object.kind !== stage.object) {
        logger.warn('ignoring an object outside this stage', { key: created.key });
        continue;
      }
      const work = async (): Promise<void> => logger.info(await stage.run(object, record.messageId), { key: created.key });
      const last = stage.lastFailure;
      await withLogKeys({ inspection_id: object.id }, () =>
        last ? recordingLastFailure(record, last.maxReceiveCount, logger, work, (reason) => last.record(object.id, reason)) : work(),
      );
    }
  });
}
