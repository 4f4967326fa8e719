/** reconcile: a schedule tick → one reconciler pass over Amun's Jobs and pods in the namespace. */
import type { ScheduledEvent } from 'aws-lambda';
import { Reconciler, type ReconcilePolicy, type ReconcileReport } from '../adapters/kubernetes/reconciler.js';
import type { App } from '../app.js';
import { ConfigError } from '../config.js';
import { makeLogger } from '../logger.js';

export type ReconcileHandler = (event?: ScheduledEvent) => Promise<ReconcileReport>;

export function makeReconcileHandler(app: Pick<App, 'records' | 'cluster'>, policy?: Partial<ReconcilePolicy>): ReconcileHandler {
  const { cluster } = app;
  if (!cluster) throw new ConfigError('AMUN_EXECUTOR', 'must be kubernetes for the reconcile function');
  const logger = makeLogger('reconcile');
  const reconciler = new Reconciler({
    api: cluster.api,
    records: app.records,
    clock: cluster.clock,
    images: cluster.images,
    grants: cluster.grants,
    ...(policy ? { policy } : {}),
    onError: (job, error) => logger.error('job not reconciled; the next pass tries again', { job, error: error as Error }),
  });
  return async () => {
    const report = await reconciler.run();
    logger.info('reconciled', { ...report });
    return report;
  };
}
