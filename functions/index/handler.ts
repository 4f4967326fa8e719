/** index: `results/<n>/result` appeared → summary, and the completion message when all are in. */
import type { App } from '../app.js';
import { makeLogger } from '../logger.js';
import { layoutObjectGroupHandler } from '../lib/s3-stage.js';
import type { SqsHandler } from '../lib/sqs.js';

/** A batch's results of one inspection fold into its summary at once: one summary read and write for them all. */
export function makeIndexHandler(app: Pick<App, 'pipeline' | 'layout'>): SqsHandler {
  return layoutObjectGroupHandler(app, makeLogger('index'), {
    object: 'result',
    runGroup: async (id, objects, deliveryId) => {
      const items = objects.flatMap((o) => (o.kind === 'result' ? [o.item] : []));
      const outcome = await app.pipeline.index(id, { deliveryId, items });
      return outcome === 'skipped' ? `results counted already (${items.length})` : `summary updated (${items.length} results)`;
    },
  });
}
