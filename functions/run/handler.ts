/** run: a run message → one item with a local executor. */
import type { App } from '../app.js';
import type { RunMessage } from '../core/generated/types.js';
import { makeLogger, withLogKeys } from '../logger.js';
import { queues } from '../queues.js';
import { messageBody, recordingLastFailure, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeRunHandler(app: Pick<App, 'pipeline'>): SqsHandler {
  const logger = makeLogger('run');
  return sqsHandler(logger, async (record) => {
    const { inspection_id, item } = messageBody<RunMessage>(record, 'runMessage');
    await withLogKeys({ inspection_id, item }, () =>
      recordingLastFailure(
        record,
        queues.run.maxReceiveCount,
        logger,
        async () => logger.info((await app.pipeline.runItem(inspection_id, item)) === 'skipped' ? 'item already has a result' : 'item ran'),
        (reason) => app.pipeline.recordRunFailure(inspection_id, item, `the run ${reason}`),
      ),
    );
  });
}
