/** AWS SDK clients, one per configuration, created once and reused across invocations. */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface ClientOptions {
  region: string;
  endpoint?: string | undefined;
}

const localCredentials = { accessKeyId: 'amun-local', secretAccessKey: 'amun-local' };

export function makeS3Client({ region, endpoint }: ClientOptions): S3Client {
  return new S3Client({
    region,
    // Locally, skip the optional CRC checksums on every put and get: the loopback server is ours.
    ...(endpoint ? { endpoint, forcePathStyle: true, credentials: localCredentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
  });
}

export function makeSqsClient({ region, endpoint }: ClientOptions): SQSClient {
  return new SQSClient({
    region,
    ...(endpoint ? { endpoint, credentials: localCredentials } : {}),
  });
}
