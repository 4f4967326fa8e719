/**
 * Upload grants and cluster credentials: SigV4 query presigning and header signing against the
 * published AWS examples, the POST policy's content (only the inspection's results/ prefix, its
 * expiry, its fields), the EKS token, the S3 URLs for AWS and S3-compatible stores, and the
 * kubeconfig built in code for EKS.
 */
import { createHmac } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { getSigningKey } from '@smithy/signature-v4';
import { eksToken, encodeKeyPath, postPolicy, presignUrl, signRequest, UNSIGNED_PAYLOAD } from '../../functions/adapters/kubernetes/aws-signing.js';
import { eksConfig } from '../../functions/adapters/kubernetes/kube-api.js';
import { ASSUMED_SESSION_SECONDS, S3UploadSigner } from '../../functions/adapters/kubernetes/upload-signer.js';

const EXAMPLE = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const clock = (iso: string) => ({ now: () => new Date(iso) });
/** The SigV4 signing key, as the signer derives it (by secret, day, region and service). */
const signingKey = async (secretAccessKey: string, shortDate: string, region: string, service: string): Promise<Buffer> =>
  Buffer.from(await getSigningKey(Sha256, { accessKeyId: EXAMPLE.accessKeyId, secretAccessKey }, shortDate, region, service));

describe('SigV4 against the AWS documentation examples', () => {
  it('derives the signing key of the "deriving a signing key" example', async () => {
    expect((await signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam')).toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
  });

  it('presigns the S3 "GET object with query parameters" example URL', async () => {
    const url = await presignUrl({
      method: 'GET',
      protocol: 'https',
      host: 'examplebucket.s3.amazonaws.com',
      path: encodeKeyPath('test.txt'),
      service: 's3',
      region: 'us-east-1',
      credentials: EXAMPLE,
      date: new Date('2013-05-24T00:00:00Z'),
      expiresSeconds: 86400,
      payloadHash: UNSIGNED_PAYLOAD,
    });
    expect(url).toBe(
      'https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });

  it('signs the "get-vanilla" request of the SigV4 test suite', async () => {
    const headers = await signRequest({ method: 'GET', host: 'example.amazonaws.com', path: '/', headers: {}, body: '', service: 'service', region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, date: new Date('2015-08-30T12:36:00Z') });
    expect(headers.authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });

  it('encodes keys segment by segment', () => {
    expect(encodeKeyPath('inspections/inspection-a-1/build/status')).toBe('/inspections/inspection-a-1/build/status');
    expect(encodeKeyPath("a b/c+d/(e)'")).toBe('/a%20b/c%2Bd/%28e%29%27');
  });
});

describe('the results POST policy', () => {
  const input = {
    bucket: 'amun-bucket',
    keyPrefix: 'inspections/inspection-x-0123abcd/results/',
    region: 'eu-west-1',
    credentials: { ...EXAMPLE, sessionToken: 'session-token' },
    date: new Date('2025-03-01T10:00:00Z'),
    expiresAt: new Date('2025-03-01T13:21:00Z'),
    maxBytes: 1024,
  };

  it('allows only keys under the inspection’s results/ prefix, until the deadline, with bounded size', async () => {
    const { document, fields } = await postPolicy(input);
    expect(document).toEqual({
      expiration: '2025-03-01T13:21:00.000Z',
      conditions: [
        { bucket: 'amun-bucket' },
        ['starts-with', '$key', 'inspections/inspection-x-0123abcd/results/'],
        ['starts-with', '$Content-Type', ''],
        ['content-length-range', 0, 1024],
        { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
        { 'x-amz-credential': 'AKIAIOSFODNN7EXAMPLE/20250301/eu-west-1/s3/aws4_request' },
        { 'x-amz-date': '20250301T100000Z' },
        { 'x-amz-security-token': 'session-token' },
      ],
    });
    expect(JSON.parse(Buffer.from(fields.policy!, 'base64').toString('utf8'))).toEqual(document);
    expect(Object.keys(fields)).toEqual(['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-security-token', 'policy', 'x-amz-signature']);
    // The signature is HMAC-SHA256 of the base64 policy with the SigV4 signing key of that day.
    expect(fields['x-amz-signature']).toBe(createHmac('sha256', await signingKey(EXAMPLE.secretAccessKey, '20250301', 'eu-west-1', 's3')).update(fields.policy!).digest('hex'));
  });

  it('without a session token has no token condition or field', async () => {
    const { document, fields } = await postPolicy({ ...input, credentials: EXAMPLE });
    expect(JSON.stringify(document)).not.toContain('security-token');
    expect(fields).not.toHaveProperty(['x-amz-security-token']);
  });
});

describe('S3 upload signer', () => {
  it('uses virtual-hosted URLs on AWS and path-style ones for an S3-compatible endpoint', async () => {
    const aws = new S3UploadSigner({ bucket: 'amun-bucket', region: 'eu-west-1', credentials: async () => EXAMPLE, clock: clock('2025-03-01T10:00:00Z') });
    const put = new URL((await aws.presignPut('inspections/i/build/status', 7200)).url);
    expect(put.origin + put.pathname).toBe('https://amun-bucket.s3.eu-west-1.amazonaws.com/inspections/i/build/status');
    expect(put.searchParams.get('X-Amz-Expires')).toBe('7200');
    expect((await aws.presignPost('inspections/i/results/', new Date('2025-03-02T00:00:00Z'))).url).toBe('https://amun-bucket.s3.eu-west-1.amazonaws.com/');
    const local = new S3UploadSigner({ bucket: 'amun', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', credentials: async () => EXAMPLE, clock: clock('2025-03-01T10:00:00Z') });
    expect(new URL((await local.presignPut('a/b', 60)).url).pathname).toBe('/amun/a/b');
    expect((await local.presignPost('a/', new Date('2025-03-02T00:00:00Z'))).url).toBe('http://127.0.0.1:9000/amun/');
  });

  it('caps presigned URLs at the SigV4 maximum of a week', async () => {
    const aws = new S3UploadSigner({ bucket: 'b', region: 'eu-west-1', credentials: async () => EXAMPLE, clock: clock('2025-03-01T10:00:00Z') });
    const put = await aws.presignPut('k', 30 * 24 * 3600);
    expect(new URL(put.url).searchParams.get('X-Amz-Expires')).toBe(String(7 * 24 * 3600));
    expect(put.expiresAt.toISOString()).toBe('2025-03-08T10:00:00.000Z');
  });

  it('ends a grant when the credentials that sign it expire, and says so', async () => {
    const session = { ...EXAMPLE, accessKeyId: 'ASIAEXAMPLE', sessionToken: 'token', expiration: new Date('2025-03-01T10:40:00Z') };
    const signer = new S3UploadSigner({ bucket: 'b', region: 'eu-west-1', credentials: async () => session, clock: clock('2025-03-01T10:00:00Z') });
    const put = await signer.presignPut('k', 7200);
    expect(new URL(put.url).searchParams.get('X-Amz-Expires')).toBe('2400');
    expect(new URL(put.url).searchParams.get('X-Amz-Security-Token')).toBe('token');
    expect(put.expiresAt.toISOString()).toBe('2025-03-01T10:40:00.000Z');
    const post = await signer.presignPost('p/', new Date('2025-03-01T13:00:00Z'));
    expect(post.document.expiration).toBe('2025-03-01T10:40:00.000Z');
    expect(post.expiresAt.toISOString()).toBe('2025-03-01T10:40:00.000Z');
    expect(post.fields['x-amz-security-token']).toBe('token');
    // Asked for less than the session has left: what was asked.
    expect((await signer.presignPost('p/', new Date('2025-03-01T10:10:00Z'))).document.expiration).toBe('2025-03-01T10:10:00.000Z');
  });

  it('takes temporary credentials that do not say when they expire (a Lambda function\'s environment) to last an hour; long-term keys cap nothing', async () => {
    const lambda = new S3UploadSigner({ bucket: 'b', region: 'eu-west-1', credentials: async () => ({ ...EXAMPLE, sessionToken: 'token' }), clock: clock('2025-03-01T10:00:00Z') });
    expect((await lambda.presignPost('p/', new Date('2025-03-02T00:00:00Z'))).expiresAt.toISOString()).toBe(new Date(Date.parse('2025-03-01T10:00:00Z') + ASSUMED_SESSION_SECONDS * 1000).toISOString());
    expect(new URL((await lambda.presignPut('k', 7 * 24 * 3600)).url).searchParams.get('X-Amz-Expires')).toBe(String(ASSUMED_SESSION_SECONDS));
    const longTerm = new S3UploadSigner({ bucket: 'b', region: 'eu-west-1', credentials: async () => EXAMPLE, clock: clock('2025-03-01T10:00:00Z') });
    expect((await longTerm.presignPost('p/', new Date('2025-03-02T00:00:00Z'))).expiresAt.toISOString()).toBe('2025-03-02T00:00:00.000Z');
  });
});

describe('EKS', () => {
  it('the token is k8s-aws-v1. + base64url of a presigned GetCallerIdentity that signs x-k8s-aws-id, for 60 s', async () => {
    const token = await eksToken('amun-cluster', 'eu-west-1', { ...EXAMPLE, sessionToken: 'tok' }, new Date('2025-03-01T10:00:00Z'));
    expect(token.startsWith('k8s-aws-v1.')).toBe(true);
    expect(token).not.toMatch(/[=+/]/);
    const url = new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
    expect(url.host).toBe('sts.eu-west-1.amazonaws.com');
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      Action: 'GetCallerIdentity',
      Version: '2011-06-15',
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'host;x-k8s-aws-id',
      'X-Amz-Credential': 'AKIAIOSFODNN7EXAMPLE/20250301/eu-west-1/sts/aws4_request',
      'X-Amz-Security-Token': 'tok',
    });
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('builds the kubeconfig in code and renews the token after five minutes', async () => {
    let now = new Date('2025-03-01T10:00:00Z');
    const source = eksConfig({ clusterName: 'amun-cluster', endpoint: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', caData: Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64'), region: 'eu-west-1', credentials: async () => EXAMPLE, clock: { now: () => now } });
    const first = await source.get();
    expect(first.getCurrentCluster()).toMatchObject({ name: 'amun-cluster', server: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', skipTLSVerify: false });
    const token = first.getCurrentUser()?.token ?? '';
    expect(token.startsWith('k8s-aws-v1.')).toBe(true);
    now = new Date(now.getTime() + 60_000);
    expect(await source.get()).toBe(first);
    now = new Date(now.getTime() + 5 * 60_000);
    const renewed = await source.get();
    expect(renewed).not.toBe(first);
    expect(renewed.getCurrentUser()?.token).not.toBe(token);
  });
});
