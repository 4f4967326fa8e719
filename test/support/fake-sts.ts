/**
 * A fake STS for AssumeRole over its query API (a form POST, an XML answer), reached through the
 * functions' STS endpoint setting (stsAssumeRole's `endpoint`, AWS_ENDPOINT_URL_STS). It judges a
 * call as STS does: the caller must be an identity it knows (access key, and session token when
 * the identity has one), the request's SigV4 signature must verify (the same request signed again
 * with @smithy/signature-v4 and compared), its date must be within five minutes of STS's clock, and
 * the role must admit the caller. It then issues a session that lasts DurationSeconds on that clock.
 * A refusal is a 403 with STS's error code. Used by test/kubernetes/upload-grants.test.ts and
 * test/infra/bundled-assets.test.ts.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

/** An identity STS knows: what its caller signs with. */
export interface Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A session STS issued. */
export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AssumeRoleCall {
  roleArn: string;
  durationSeconds: number;
  sessionName: string;
  /** The caller's access key. */
  signedBy: string;
}

export interface FakeSts {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** The calls answered with a session, in order: `sessions[i]` is the one issued to `calls[i]`. */
  calls: AssumeRoleCall[];
  sessions: Session[];
  /** The requests refused, as `Code: message`. */
  rejected: string[];
  close(): Promise<void>;
}

export interface FakeStsOptions {
  region: string;
  /** The identities whose requests STS can check. */
  callers: Identity[];
  /** Role ARN → access keys of the callers it admits (its trust, and their policy's sts:AssumeRole on it). */
  roles: Record<string, string[]>;
  /** STS's clock, for request dates and session ends; default: the wall clock. */
  now?: () => Date;
}

/** SigV4's date, `20250301T100000Z`, as a Date (invalid when it is not one). */
export function parseAmzDate(text: string): Date {
  return new Date(text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
}

/** A request STS refuses: answered 403 with `code`. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/** The identity that signed a header-signed request, as STS checks it; a Refusal otherwise. */
async function caller(req: Received, options: FakeStsOptions, now: Date): Promise<Identity> {
  const authorization = String(req.headers.authorization ?? '');
  const m = AUTHORIZATION.exec(authorization);
  if (!m) throw new Refusal('IncompleteSignature', `not a SigV4 authorization for sts: ${authorization.slice(0, 80)}`);
  const [, accessKeyId, day, region, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  if (!signedHeaders.split(';').includes('host')) throw new Refusal('SignatureDoesNotMatch', `the host header is not signed (${signedHeaders})`);
  if (region !== options.region) throw new Refusal('SignatureDoesNotMatch', `credential should be scoped to a valid region, not ${region}`);
  const identity = options.callers.find((c) => c.accessKeyId === accessKeyId);
  const token = req.headers['x-amz-security-token'];
  if (!identity || token !== identity.sessionToken) throw new Refusal('InvalidClientTokenId', 'The security token included in the request is invalid.');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = parseAmzDate(amzDate);
  if (Number.isNaN(date.getTime()) || !amzDate.startsWith(day) || Math.abs(now.getTime() - date.getTime()) > 5 * 60_000) {
    throw new Refusal('SignatureDoesNotMatch', `Signature expired: ${amzDate} is not within 5 minutes of ${now.toISOString()}`);
  }
  const url = new URL(req.url, 'http://sts');
  const headers = Object.fromEntries(signedHeaders.split(';').map((name) => [name, String(req.headers[name] ?? '')]));
  const again = await new SignatureV4({ service: 'sts', region, credentials: identity, sha256: Sha256, applyChecksum: false }).sign(
    { method: req.method, protocol: 'https:', hostname: headers.host ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: req.body },
    { signingDate: date },
  );
  if (/Signature=([0-9a-f]{64})$/.exec(String(again.headers.authorization))?.[1] !== signature) throw new Refusal('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  return identity;
}

/** Starts the fake STS on a free port of 127.0.0.1. */
export async function startFakeSts(options: FakeStsOptions): Promise<FakeSts> {
  const now = options.now ?? (() => new Date());
  const calls: AssumeRoleCall[] = [];
  const sessions: Session[] = [];
  const rejected: string[] = [];
  const answer = async (req: Received): Promise<string> => {
    const form = new URLSearchParams(req.body);
    const signer = await caller(req, options, now());
    if (req.method !== 'POST' || form.get('Action') !== 'AssumeRole' || form.get('Version') !== '2011-06-15') {
      throw new Refusal('InvalidAction', `not an AssumeRole POST: ${req.method} ${form.get('Action')} ${form.get('Version')}`);
    }
    const call = { roleArn: form.get('RoleArn') ?? '', durationSeconds: Number(form.get('DurationSeconds') ?? '3600'), sessionName: form.get('RoleSessionName') ?? '', signedBy: signer.accessKeyId };
    if (!options.roles[call.roleArn]?.includes(signer.accessKeyId)) {
      throw new Refusal('AccessDenied', `User: ${signer.accessKeyId} is not authorized to perform: sts:AssumeRole on resource: ${call.roleArn}`);
    }
    const session: Session = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(40).toString('base64'),
      expiration: new Date(now().getTime() + call.durationSeconds * 1000),
    };
    calls.push(call);
    sessions.push(session);
    return (
      `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${session.accessKeyId}</AccessKeyId>` +
      `<SecretAccessKey>${session.secretAccessKey}</SecretAccessKey><SessionToken>${session.sessionToken}</SessionToken><Expiration>${session.expiration.toISOString()}</Expiration></Credentials>` +
      `<AssumedRoleUser><Arn>${call.roleArn}/${call.sessionName}</Arn><AssumedRoleId>AROAFAKESTS:${call.sessionName}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`
    );
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      answer(received).then(
        (xml) => {
          res.writeHead(200, { 'content-type': 'text/xml' });
          res.end(xml);
        },
        (error: unknown) => {
          if (!(error instanceof Refusal)) {
            res.destroy(error as Error);
            return;
          }
          rejected.push(`${error.code}: ${error.message}`);
          res.writeHead(403, { 'content-type': 'text/xml' });
          res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${error.code}</Code><Message>${error.message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    calls,
    sessions,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
