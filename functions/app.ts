/**
 * The object graph every handler uses, built once per process from configuration: store, queues,
 * executor, and the domain services on top. Lambda entries build it at module load; the local
 * stack builds one per stack (so tests can run several).
 */
import type { Config } from './config.js';
import { clusterCredentials, makeS3Client, makeSqsClient } from './adapters/clients.js';
import { S3ObjectStore } from './adapters/s3-store.js';
import { SqsMessageQueue } from './adapters/sqs-queue.js';
import { StoreLogSink } from './adapters/store-log-sink.js';
import { fetchScript, isScriptUrl } from './adapters/script-fetcher.js';
import { selectExecutor } from './adapters/executors/select.js';
import { makeKubernetesCluster, type KubernetesCluster } from './adapters/kubernetes/cluster.js';
import { checkPlacement } from './adapters/kubernetes/manifests/placement.js';
import { InspectionService } from './core/inspections.js';
import { Layout } from './core/layout.js';
import { Pipeline } from './core/pipeline.js';
import { InspectionRecords } from './core/records.js';
import { ResultsExplorer } from './core/explorer-service.js';
import { systemClock, type Clock, type Executor } from './core/ports.js';
import type { Specification } from './core/specification.js';

export interface App {
  config: Config;
  store: S3ObjectStore;
  layout: Layout;
  /** The one reader and writer of an inspection's objects. */
  records: InspectionRecords;
  inspections: InspectionService;
  /** Metrics, comparisons, history and the detailed listing (the results explorer's reads). */
  explorer: ResultsExplorer;
  pipeline: Pipeline;
  executor: Executor;
  queues: { work: SqsMessageQueue; run: SqsMessageQueue | undefined; completions: SqsMessageQueue };
  /** With AMUN_EXECUTOR=kubernetes: the cluster API, the executor, the live status (the reconciler uses them). */
  cluster: KubernetesCluster | undefined;
}

export interface AppOverrides {
  executor?: Executor;
  clock?: Clock;
  logIntervalMs?: number;
  /** A Kubernetes cluster built by the caller (tests point one at a fake API server). */
  cluster?: KubernetesCluster;
  /** Fetches script URLs instead of the configured fetcher (tests answer URLs without a network). */
  fetchScript?: (url: string) => Promise<string>;
}

export function makeApp(config: Config, overrides: AppOverrides = {}): App {
  const s3 = makeS3Client(config);
  const sqs = makeSqsClient(config);
  const store = new S3ObjectStore(s3, config.bucket);
  const layout = new Layout(config.storePrefix);
  const clock = overrides.clock ?? systemClock;
  const queues = {
    work: new SqsMessageQueue(sqs, config.queueUrls.work),
    run: config.queueUrls.run ? new SqsMessageQueue(sqs, config.queueUrls.run) : undefined,
    completions: new SqsMessageQueue(sqs, config.queueUrls.completions),
  };
  const records = new InspectionRecords({ store, layout, logSink: (key) => new StoreLogSink(store, key, { intervalMs: overrides.logIntervalMs ?? 1000 }) });
  const cluster =
    overrides.cluster ??
    (config.executor === 'kubernetes' && !overrides.executor ? makeKubernetesCluster(config, { store, records, clock, ...clusterCredentials(config, s3) }) : undefined);
  const executor = overrides.executor ?? selectExecutor(config, cluster);
  const inspections = new InspectionService({
    records,
    workQueue: queues.work,
    clock,
    version: config.serviceVersion,
    fetchScript: overrides.fetchScript ?? ((url) => fetchScript(url, config.scriptFetch)),
    isScriptUrl,
    // A cluster refuses at submit what its node labels cannot place (400), not in a failed build.
    ...(cluster ? { admit: (spec: Specification) => checkPlacement(spec, cluster.settings.labels) } : {}),
    liveStatus: cluster?.liveStatus,
  });
  const pipeline = new Pipeline({
    records,
    clock,
    executor,
    runQueue: queues.run,
    completionQueue: queues.completions,
    defaultDeadlineSeconds: 3600,
  });
  const explorer = new ResultsExplorer(records);
  return { config, store, layout, records, inspections, explorer, pipeline, executor, queues, cluster };
}
