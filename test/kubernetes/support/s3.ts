/**
 * The embedded S3 for the Kubernetes tests: the project's emulator (fauxqs over real HTTP on
 * loopback, local/emulator.ts) with the real S3ObjectStore and AWS SDK client the functions use,
 * so listings page as S3 pages them (at most 1000 keys) and presigned grants are real requests.
 */
import { makeS3Client } from '../../../functions/adapters/clients.js';
import { S3ObjectStore } from '../../../functions/adapters/s3-store.js';
import { S3UploadSigner } from '../../../functions/adapters/kubernetes/upload-signer.js';
import { StoreLogSink } from '../../../functions/adapters/store-log-sink.js';
import { Layout } from '../../../functions/core/layout.js';
import type { Clock } from '../../../functions/core/ports.js';
import { InspectionRecords } from '../../../functions/core/records.js';
import { startEmulator, type Emulator } from '../../../local/emulator.js';

export const BUCKET = 'amun-k8s';
export const REGION = 'us-east-1';

export interface EmbeddedS3 {
  emulator: Emulator;
  endpoint: string;
  store: S3ObjectStore;
  /** The inspections' records on it (prefix `inspections`), as the functions have them. */
  records: InspectionRecords;
  /** Signs presigned PUT URLs and POST policies for this endpoint, as the executor does. */
  signer(clock?: Clock): S3UploadSigner;
  text(key: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export async function startEmbeddedS3(dataDir: string): Promise<EmbeddedS3> {
  // No routes: nothing here consumes S3 notifications.
  const emulator = await startEmulator({ dataDir, bucket: BUCKET, storePrefix: 'inspections', specsPrefix: 'specs/', region: REGION, routes: [] });
  const client = makeS3Client({ region: REGION, endpoint: emulator.endpoint });
  const store = new S3ObjectStore(client, BUCKET);
  return {
    emulator,
    endpoint: emulator.endpoint,
    store,
    records: new InspectionRecords({ store, layout: new Layout('inspections'), logSink: (key) => new StoreLogSink(store, key, { intervalMs: 50 }) }),
    signer: (clock: Clock = { now: () => new Date() }) =>
      new S3UploadSigner({ bucket: BUCKET, region: REGION, endpoint: emulator.endpoint, credentials: async () => ({ accessKeyId: 'amun-local', secretAccessKey: 'amun-local' }), clock }),
    text: async (key) => (await store.get(key))?.toString('utf8'),
    stop: async () => {
      client.destroy();
      await emulator.stop();
    },
  };
}
