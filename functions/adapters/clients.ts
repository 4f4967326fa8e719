/** AWS SDK clients, one per configuration, created once and reused across invocations. */
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { defaultProvider } from '@aws-sdk/credential-provider-node';

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

type Credentials = S3Client['config']['credentials'];

/**
 * The credentials of the cluster side: the AWS identity (EKS tokens, ECR, the upload role's STS
 * sessions) and the store's key for the grants pods upload with. On AWS both are the function's
 * own; with an S3-compatible endpoint (the embedded store) the store has its fixed key, and the AWS
 * identity is still the SDK's default chain, never that key.
 */
export function clusterCredentials(options: ClientOptions, s3: S3Client): { credentials: Credentials; storeCredentials?: Credentials } {
  if (!options.endpoint) return { credentials: s3.config.credentials };
  return { credentials: defaultProvider(), storeCredentials: s3.config.credentials };
}
