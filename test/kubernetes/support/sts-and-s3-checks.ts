/**
 * What AWS checks and the embedded store does not, for the upload grant tests:
 *   - a fake STS over HTTP (AssumeRole's query API and XML answer), issuing one-hour sessions on
 *     the test's clock to a caller whose request is SigV4-signed with the functions' key;
 *   - a gate in front of the embedded S3 that judges a presigned POST as S3 does (the policy's
 *     signature by a known session, the session not expired, the policy's expiration not passed,
 *     the key under the policy's prefix) on the test's clock, answers 403 with S3's words when it
 *     fails, and otherwise forwards the request unchanged.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

export interface FakeSts {
  url: string;
  sessions: Session[];
  calls: Array<{ roleArn: string; durationSeconds: number; sessionName: string; signedBy: string }>;
  close(): Promise<void>;
}

export async function startFakeSts(options: { now: () => Date; callerKey: string; roleArn: string }): Promise<FakeSts> {
  const sessions: Session[] = [];
  const calls: FakeSts['calls'] = [];
  const server = createServer((req, res) => {
    void body(req).then((raw) => {
      const form = new URLSearchParams(raw.toString('utf8'));
      const signedBy = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      const call = { roleArn: form.get('RoleArn') ?? '', durationSeconds: Number(form.get('DurationSeconds')), sessionName: form.get('RoleSessionName') ?? '', signedBy };
      calls.push(call);
      if (form.get('Action') !== 'AssumeRole' || signedBy !== options.callerKey || call.roleArn !== options.roleArn) {
        res.writeHead(403, { 'content-type': 'text/xml' });
        res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: ${signedBy} is not authorized to perform: sts:AssumeRole on resource: ${call.roleArn}</Message></Error></ErrorResponse>`);
        return;
      }
      const session: Session = {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(20).toString('base64'),
        sessionToken: randomBytes(40).toString('base64'),
        expiration: new Date(options.now().getTime() + call.durationSeconds * 1000),
      };
      sessions.push(session);
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>${session.accessKeyId}</AccessKeyId>` +
          `<SecretAccessKey>${session.secretAccessKey}</SecretAccessKey><SessionToken>${session.sessionToken}</SessionToken><Expiration>${session.expiration.toISOString()}</Expiration>` +
          `</Credentials><AssumedRoleUser><Arn>${call.roleArn}/${call.sessionName}</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
      );
    });
  });
  const url = await listen(server);
  return { url, sessions, calls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface S3Gate {
  url: string;
  /** Every POST judged: 'accepted' or S3's reason for refusing it. */
  verdicts: string[];
  close(): Promise<void>;
}

/** `20250301T100000Z` → Date. */
function amzDate(text: string): Date {
  return new Date(text.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
}

export async function startS3Gate(options: { target: string; now: () => Date; sessions: () => Session[]; region: string }): Promise<S3Gate> {
  const verdicts: string[] = [];
  const judge = async (raw: Buffer, contentType: string): Promise<string> => {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    const field = (name: string): string => String(form.get(name) ?? '');
    const policy = field('policy');
    const keyId = field('x-amz-credential').split('/')[0] ?? '';
    const session = options.sessions().find((s) => s.accessKeyId === keyId);
    if (!session) return 'InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.';
    if (field('x-amz-security-token') !== session.sessionToken) return 'InvalidToken: The provided token is malformed or otherwise invalid.';
    const signer = new SignatureV4({ service: 's3', region: options.region, credentials: session, sha256: Sha256 });
    if ((await signer.sign(policy, { signingDate: amzDate(field('x-amz-date')) })) !== field('x-amz-signature')) return 'SignatureDoesNotMatch';
    const now = options.now();
    if (session.expiration <= now) return 'ExpiredToken: The provided token has expired.';
    const document = JSON.parse(Buffer.from(policy, 'base64').toString('utf8')) as { expiration: string; conditions: unknown[] };
    if (Date.parse(document.expiration) <= now.getTime()) return 'AccessDenied: Invalid according to Policy: Policy expired.';
    const prefix = document.conditions.find((c): c is [string, string, string] => Array.isArray(c) && c[0] === 'starts-with' && c[1] === '$key')?.[2] ?? '';
    if (!field('key').startsWith(prefix)) return 'AccessDenied: Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", …]';
    return 'accepted';
  };
  const server = createServer((req, res) => {
    void body(req).then(async (raw) => {
      if (req.method === 'POST') {
        const verdict = await judge(raw, String(req.headers['content-type'] ?? '')).catch((error: unknown) => `MalformedPOSTRequest: ${String(error)}`);
        verdicts.push(verdict);
        if (verdict !== 'accepted') {
          const [code, message] = verdict.split(': ');
          res.writeHead(403, { 'content-type': 'application/xml' });
          res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message ?? code}</Message></Error>`);
          return;
        }
      }
      const target = new URL(req.url ?? '/', options.target);
      const forward = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      forward.end(raw);
    });
  });
  const url = await listen(server);
  return { url, verdicts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
