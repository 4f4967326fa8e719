/** schedule: `build/status` appeared → start the runs or close the inspection. */
import type { App } from '../app.js';
import { makeLogger } from '../logger.js';
import { layoutObjectHandler } from '../lib/s3-stage.js';
import type { SqsHandler } from '../lib/sqs.js';

export function makeScheduleHandler(app: Pick<App, 'pipeline' | 'layout'>): SqsHandler {
  return layoutObjectHandler(app, makeLogger('schedule'), (rest) => rest === 'build/status', async (id) => {
    await app.pipeline.schedule(id);
    return 'scheduled';
  });
}
