/** ingest: a spec file dropped under `specs/` → submitted, or an error file beside it. */
import type { App } from '../app.js';
import { ingestDrop } from '../core/ingest.js';
import { makeLogger } from '../logger.js';
import { createdObjects, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeIngestHandler(app: Pick<App, 'store' | 'inspections' | 'config'>): SqsHandler {
  const logger = makeLogger('ingest');
  return sqsHandler(logger, async (record) => {
    for (const object of createdObjects(record)) {
      if (!object.key.startsWith(app.config.specsPrefix)) {
        logger.warn('ignoring an object outside the specs prefix', { key: object.key });
        continue;
      }
      const outcome = await ingestDrop(object, app);
      if (outcome.kind === 'submitted') logger.info('spec submitted', { key: object.key, inspection_id: outcome.inspectionId, created: outcome.created });
      else if (outcome.kind === 'rejected') logger.warn('spec rejected', { key: object.key, problems: outcome.problems });
      else logger.debug('ignored', { key: object.key, why: outcome.why });
    }
  });
}
