/**
 * AWS Signature Version 4 with node:crypto, for the three things the Kubernetes executor signs:
 *   - presigned S3 PUT URLs (the build's report step uploads the build log and status),
 *   - presigned S3 POST policies (a run pod uploads under its inspection's results/ prefix only),
 *   - the EKS bearer token: `k8s-aws-v1.` + base64url of a presigned STS GetCallerIdentity URL
 *     that signs the `x-k8s-aws-id: <cluster>` header, valid 60 s (what `aws eks get-token` does).
 * Query presigning and POST signing follow the SigV4 documentation; the tests check them against
 * its published examples.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** The shape of the AWS SDK's credential providers (`s3Client.config.credentials`). */
export type CredentialsProvider = () => Promise<AwsCredentials>;

const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
/** SigV4 presigned URLs live at most a week. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
export function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An S3 key as a URL path: each segment encoded, slashes kept. */
export function encodeKeyPath(key: string): string {
  return `/${key.split('/').map(rfc3986).join('/')}`;
}

export function amzDate(date: Date): { long: string; short: string } {
  const long = date.toISOString().replace(/[-:]/g, '').replace(/\.[0-9]{3}/, '');
  return { long, short: long.slice(0, 8) };
}

export function signingKey(secretAccessKey: string, shortDate: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(shortDate).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

export interface PresignInput {
  method: 'GET' | 'PUT' | 'POST' | 'HEAD';
  protocol: 'https' | 'http';
  /** Host with port when not the default one. */
  host: string;
  /** Already encoded path (encodeKeyPath for S3 keys). */
  path: string;
  query?: Record<string, string>;
  /** Extra headers to sign besides host (lower-case names). */
  headers?: Record<string, string>;
  service: string;
  region: string;
  credentials: AwsCredentials;
  date: Date;
  expiresSeconds: number;
  /** UNSIGNED-PAYLOAD for S3; the hash of the empty body otherwise. */
  payloadHash?: string;
}

/** A presigned URL (query-string authentication). */
export function presignUrl(input: PresignInput): string {
  const { long, short } = amzDate(input.date);
  const scope = `${short}/${input.region}/${input.service}/aws4_request`;
  const headers: Record<string, string> = { host: input.host, ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])) };
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');
  const expires = Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(input.expiresSeconds)));
  const query: Record<string, string> = {
    ...(input.query ?? {}),
    'X-Amz-Algorithm': ALGORITHM,
    'X-Amz-Credential': `${input.credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': long,
    'X-Amz-Expires': String(expires),
    'X-Amz-SignedHeaders': signedHeaders,
    ...(input.credentials.sessionToken ? { 'X-Amz-Security-Token': input.credentials.sessionToken } : {}),
  };
  const canonicalQuery = Object.entries(query)
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = names.map((n) => `${n}:${(headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [input.method, input.path, canonicalQuery, canonicalHeaders, signedHeaders, input.payloadHash ?? EMPTY_SHA256].join('\n');
  const stringToSign = [ALGORITHM, long, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const signature = createHmac('sha256', signingKey(input.credentials.secretAccessKey, short, input.region, input.service)).update(stringToSign).digest('hex');
  return `${input.protocol}://${input.host}${input.path}?${canonicalQuery}&X-Amz-Signature=${signature}`;
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
export function postPolicy(input: PostPolicyInput): PostPolicy {
  const { long, short } = amzDate(input.date);
  const credential = `${input.credentials.accessKeyId}/${short}/${input.region}/s3/aws4_request`;
  const conditions: PostPolicyCondition[] = [
    { bucket: input.bucket },
    ['starts-with', '$key', input.keyPrefix],
    ['starts-with', '$Content-Type', ''],
    ['content-length-range', 0, input.maxBytes],
    { 'x-amz-algorithm': ALGORITHM },
    { 'x-amz-credential': credential },
    { 'x-amz-date': long },
    ...(input.credentials.sessionToken ? [{ 'x-amz-security-token': input.credentials.sessionToken }] : []),
  ];
  const document = { expiration: input.expiresAt.toISOString(), conditions };
  const policy = Buffer.from(JSON.stringify(document), 'utf8').toString('base64');
  const signature = createHmac('sha256', signingKey(input.credentials.secretAccessKey, short, input.region, 's3')).update(policy).digest('hex');
  return {
    document,
    fields: {
      'x-amz-algorithm': ALGORITHM,
      'x-amz-credential': credential,
      'x-amz-date': long,
      ...(input.credentials.sessionToken ? { 'x-amz-security-token': input.credentials.sessionToken } : {}),
      policy,
      'x-amz-signature': signature,
    },
  };
}

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';

/** An EKS bearer token for `clusterName`, valid about 60 seconds after `date` for the API server to verify. */
export function eksToken(clusterName: string, region: string, credentials: AwsCredentials, date: Date): string {
  const url = presignUrl({
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
export function signRequest(input: SignRequestInput): Record<string, string> {
  const { long, short } = amzDate(input.date);
  const scope = `${short}/${input.region}/${input.service}/aws4_request`;
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v])),
    host: input.host,
    'x-amz-date': long,
    ...(input.credentials.sessionToken ? { 'x-amz-security-token': input.credentials.sessionToken } : {}),
  };
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');
  const canonicalHeaders = names.map((n) => `${n}:${(headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const payloadHash = createHash('sha256').update(input.body).digest('hex');
  const canonicalRequest = [input.method, input.path, '', canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const stringToSign = [ALGORITHM, long, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const signature = createHmac('sha256', signingKey(input.credentials.secretAccessKey, short, input.region, input.service)).update(stringToSign).digest('hex');
  return { ...headers, authorization: `${ALGORITHM} Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
}
