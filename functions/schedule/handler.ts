/** schedule: `build/status` appeared → start the runs or close the inspection. */
import type { App } from '../app.js';
import { makeLogger } from '../logger.js';
import { queues } from '../queues.js';
import { layoutObjectHandler } from '../lib/s3-stage.js';
import type { SqsHandler } from '../lib/sqs.js';

export function makeScheduleHandler(app: Pick<App, 'pipeline' | 'layout'>): SqsHandler {
  return layoutObjectHandler(app, makeLogger('schedule'), {
    object: 'build-status',
    run: async ({ id }, deliveryId) => {
      await app.pipeline.schedule(id, { deliveryId });
      return 'scheduled';
    },
    // Runs that could not be started (a cluster or registry that stays unreachable) are recorded
    // as failed items, and the inspection closes, instead of hanging in the dead-letter queue.
    lastFailure: { maxReceiveCount: queues.scheduleEvents.maxReceiveCount, record: (id, reason) => app.pipeline.recordScheduleFailure(id, `scheduling ${reason}`) },
  });
}
