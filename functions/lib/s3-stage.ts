/** Stages triggered by objects of the inspection layout (build/status, results/<n>/result). */
import type { App } from '../app.js';
import type { TriggerObject } from '../core/layout.js';
import { withLogKeys, type Logger } from '../logger.js';
import { createdObjects, recordingLastFailure, sqsBatchHandler, sqsHandler, type SqsHandler } from './sqs.js';

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

export interface LayoutGroupStage {
  /** The kind of object the stage is triggered by. */
  object: TriggerObject['kind'];
  /**
   * The objects of one inspection that one batch announced, at once; `deliveryId` is the first
   * of their records' message ids. A failure fails every record that carried one of them.
   */
  runGroup: (inspectionId: string, objects: ReadonlyArray<TriggerObject>, deliveryId: string) => Promise<string>;
}

/**
 * A stage that does one thing per inspection for a whole batch of events (the index stage folds
 * several results into one summary write). Each inspection's objects are handled once, the
 * inspections side by side; a record that is not an S3 notification fails alone.
 */
export function layoutObjectGroupHandler(app: Pick<App, 'layout'>, logger: Logger, stage: LayoutGroupStage): SqsHandler {
  return sqsBatchHandler(logger, async (records) => {
    const failures: unknown[] = records.map(() => undefined);
    const groups = new Map<string, { objects: TriggerObject[]; records: Set<number>; deliveryId: string }>();
    records.forEach((record, n) => {
      try {
        for (const created of createdObjects(record)) {
          const object = app.layout.triggerObject(created.key);
          if (!object || object.kind !== stage.object) {
            logger.warn('ignoring an object outside this stage', { key: created.key });
            continue;
          }
          const group = groups.get(object.id) ?? { objects: [], records: new Set<number>(), deliveryId: record.messageId };
          groups.set(object.id, group);
          group.objects.push(object);
          group.records.add(n);
        }
      } catch (error) {
        failures[n] = error ?? new Error('record failed');
      }
    });
    await Promise.all(
      [...groups].map(async ([id, group]) => {
        try {
          await withLogKeys({ inspection_id: id }, async () => logger.info(await stage.runGroup(id, group.objects, group.deliveryId), { objects: group.objects.length }));
        } catch (error) {
          for (const n of group.records) failures[n] ??= error ?? new Error(`${id} failed`);
        }
      }),
    );
    return failures;
  });
}
