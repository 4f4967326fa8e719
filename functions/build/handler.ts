/** build: a build message → the pipeline's build stage. */
import type { App } from '../app.js';
import type { BuildMessage } from '../core/generated/types.js';
import { makeLogger, withLogKeys } from '../logger.js';
import { queues } from '../queues.js';
import { messageBody, recordingLastFailure, sqsHandler, type SqsHandler } from '../lib/sqs.js';

export function makeBuildHandler(app: Pick<App, 'pipeline'>): SqsHandler {
  const logger = makeLogger('build');
  return sqsHandler(logger, async (record) => {
    const { inspection_id } = messageBody<BuildMessage>(record, 'buildMessage');
    await withLogKeys({ inspection_id }, () =>
      recordingLastFailure(
        record,
        queues.work.maxReceiveCount,
        logger,
        async () => logger.info((await app.pipeline.build(inspection_id, undefined, { deliveryId: record.messageId })) === 'skipped' ? 'build recorded or claimed by another delivery' : 'build recorded'),
        (reason) => app.pipeline.recordBuildFailure(inspection_id, `the build ${reason}`),
      ),
    );
  });
}
