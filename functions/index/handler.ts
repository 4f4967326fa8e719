/** index: `results/<n>/result` appeared → summary, and the completion message when all are in. */
import type { App } from '../app.js';
import { makeLogger } from '../logger.js';
import { layoutObjectHandler } from '../lib/s3-stage.js';
import type { SqsHandler } from '../lib/sqs.js';

export function makeIndexHandler(app: Pick<App, 'pipeline' | 'layout'>): SqsHandler {
  return layoutObjectHandler(app, makeLogger('index'), {
    object: 'result',
    run: async (object, deliveryId) => {
      const outcome = await app.pipeline.index(object.id, { deliveryId, ...(object.kind === 'result' ? { item: object.item } : {}) });
      return outcome === 'skipped' ? 'result counted already' : 'summary updated';
    },
  });
}
