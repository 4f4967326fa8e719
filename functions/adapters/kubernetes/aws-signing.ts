/**
 * AWS Signature Version 4 for the four things the Kubernetes executor signs, all by the AWS SDK's
 * own signer (@smithy/signature-v4 with the SDK's SHA-256):
 *   - presigned S3 PUT URLs (the build's report step uploads the build log and status),
 *   - presigned S3 POST policies (a run pod uploads under its inspection's results/ prefix only):
 *     the policy document is ours, its signature the signer's string signature,
 *   - the EKS bearer token: `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL
 *     that signs the `x-k8s-aws-id: <cluster>` header, valid 60 s (what `aws eks get-token` does),
 *   - header-signed AWS JSON API calls (ECR GetAuthorizationToken, registry.ts).
 * The tests check them against the published SigV4 examples.
 */
import { Sha256 } from '@smithy/core/checksum';
import { buildQueryString, escapeUriPath } from '@smithy/core/protocols';
import { ALGORITHM_IDENTIFIER, createScope, MAX_PRESIGNED_TTL, SHA256_HEADER, SIGNATURE_QUERY_PARAM, SignatureV4, UNSIGNED_PAYLOAD } from '@smithy/signature-v4';

export { UNSIGNED_PAYLOAD };

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When temporary credentials stop working (the AWS SDK's providers say so when they know). */
  expiration?: Date | undefined;
}

/** The shape of the AWS SDK's credential providers (`s3Client.config.credentials`). */
export type CredentialsProvider = () => Promise<AwsCredentials>;

/** SigV4 presigned URLs live at most a week. */
export const MAX_PRESIGN_SECONDS = MAX_PRESIGNED_TTL;

/** An S3 key as a URL path: each segment RFC 3986-encoded, slashes kept. */
export function encodeKeyPath(key: string): string {
  return `/${escapeUriPath(key)}`;
}

/** Paths reach the signer encoded already (encodeKeyPath), as the S3 client's do: it must not encode them again. */
function signer(service: string, region: string, credentials: AwsCredentials): SignatureV4 {
  return new SignatureV4({ service, region, credentials, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
}

const ONLY_FOR_THE_PAYLOAD_HASH = new Set([SHA256_HEADER]);

export interface PresignInput {
  method: 'GET' | 'PUT' | 'POST' | 'HEAD';
  protocol: 'https' | 'http';
  /** Host with port when not the default one. */
  host: string;
  /** Already encoded path (encodeKeyPath for S3 keys). */
  path: string;
  query?: Record<string, string>;
  /** Extra headers to sign besides host. */
  headers?: Record<string, string>;
  service: string;
  region: string;
  credentials: AwsCredentials;
  date: Date;
  expiresSeconds: number;
  /** UNSIGNED-PAYLOAD for S3; the hash of the empty body otherwise. */
  payloadHash?: string;
}

/** A presigned URL (query-string authentication), the signature last as in the SigV4 examples. */
export async function presignUrl(input: PresignInput): Promise<string> {
  const expiresIn = Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(input.expiresSeconds)));
  const presigned = await signer(input.service, input.region, input.credentials).presign(
    {
      method: input.method,
      protocol: `${input.protocol}:`,
      hostname: input.host,
      path: input.path,
      query: { ...input.query },
      // The payload hash travels as a header the signer reads but neither signs nor moves into the URL.
      headers: { ...input.headers, host: input.host, ...(input.payloadHash ? { [SHA256_HEADER]: input.payloadHash } : {}) },
    },
    { signingDate: input.date, expiresIn, unsignableHeaders: ONLY_FOR_THE_PAYLOAD_HASH, unhoistableHeaders: ONLY_FOR_THE_PAYLOAD_HASH },
  );
  const { [SIGNATURE_QUERY_PARAM]: signature, ...query } = presigned.query ?? {};
  return `${input.protocol}://${input.host}${input.path}?${buildQueryString(query)}&${SIGNATURE_QUERY_PARAM}=${String(signature)}`;
}

export type PostPolicyCondition = Record<string, string> | [string, string, string | number] | [string, number, number];

export interface PostPolicyInput {
  bucket: string;
  /** Every key must start with this. */
  keyPrefix: string;
  region: string;
  credentials: AwsCredentials;
  date: Date;
  expiresAt: Date;
  maxBytes: number;
}

export interface PostPolicy {
  /** The decoded policy document, for review and tests. */
  document: { expiration: string; conditions: PostPolicyCondition[] };
  /** Form fields to send before `key`, `Content-Type` and `file`. */
  fields: Record<string, string>;
}

/**
 * A browser-based upload policy (SigV4 POST): keys under `keyPrefix` only, any Content-Type, at most
 * `maxBytes` per object, until `expiresAt`. The form must carry exactly the fields returned, plus
 * `key`, `Content-Type` and the file.
 */
export async function postPolicy(input: PostPolicyInput): Promise<PostPolicy> {
  // The policy names the signing date and scope itself: 20250301T100000Z, 20250301/<region>/s3/aws4_request.
  const longDate = input.date.toISOString().replace(/[-:]|\.[0-9]{3}/g, '');
  const credential = `${input.credentials.accessKeyId}/${createScope(longDate.slice(0, 8), input.region, 's3')}`;
  const token: Record<string, string> = input.credentials.sessionToken ? { 'x-amz-security-token': input.credentials.sessionToken } : {};
  const signed = { 'x-amz-algorithm': ALGORITHM_IDENTIFIER, 'x-amz-credential': credential, 'x-amz-date': longDate, ...token };
  const conditions: PostPolicyCondition[] = [
    { bucket: input.bucket },
    ['starts-with', '$key', input.keyPrefix],
    ['starts-with', '$Content-Type', ''],
    ['content-length-range', 0, input.maxBytes],
    ...Object.entries(signed).map(([name, value]) => ({ [name]: value })),
  ];
  const document = { expiration: input.expiresAt.toISOString(), conditions };
  const policy = Buffer.from(JSON.stringify(document), 'utf8').toString('base64');
  const signature = await signer('s3', input.region, input.credentials).sign(policy, { signingDate: input.date });
  return { document, fields: { ...signed, policy, 'x-amz-signature': signature } };
}

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';

/** An EKS bearer token for `clusterName`, valid about 60 seconds after `date` for the API server to verify. */
export async function eksToken(clusterName: string, region: string, credentials: AwsCredentials, date: Date): Promise<string> {
  const url = await presignUrl({
    method: 'GET',
    protocol: 'https',
    host: `sts.${region}.amazonaws.com`,
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { 'x-k8s-aws-id': clusterName },
    service: 'sts',
    region,
    credentials,
    date,
    expiresSeconds: 60,
  });
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

export interface SignRequestInput {
  method: string;
  host: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  service: string;
  region: string;
  credentials: AwsCredentials;
  date: Date;
}

/** Header authentication for an AWS JSON API call: the headers to send, Authorization included. */
export async function signRequest(input: SignRequestInput): Promise<Record<string, string>> {
  const signed = await signer(input.service, input.region, input.credentials).sign(
    { method: input.method, protocol: 'https:', hostname: input.host, path: input.path, query: {}, headers: { ...input.headers, host: input.host }, body: input.body },
    { signingDate: input.date },
  );
  return signed.headers;
}
