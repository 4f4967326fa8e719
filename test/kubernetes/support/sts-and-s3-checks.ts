/**
 * What S3 checks and the embedded store does not, for the upload grant tests: a gate in front of
 * the embedded S3 that judges a presigned POST as S3 does (the policy's signature by a known
 * session, the session not expired, the policy's expiration not passed, the key under the policy's
 * prefix) on the test's clock, answers 403 with S3's words when it fails, and otherwise forwards
 * the request unchanged. The sessions are the fake STS's (test/support/fake-sts.ts).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseAmzDate, type Session } from '../../support/fake-sts.js';

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

export interface S3Gate {
  url: string;
  /** Every POST judged: 'accepted' or S3's reason for refusing it. */
  verdicts: string[];
  close(): Promise<void>;
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
    if ((await signer.sign(policy, { signingDate: parseAmzDate(field('x-amz-date')) })) !== field('x-amz-signature')) return 'SignatureDoesNotMatch';
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
