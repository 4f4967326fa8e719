/**
 * The CLI authorizes every request it sends, POSTs, reads and the polls of `run` and
 * `logs --follow` alike: the real CLI (child processes) against a recording server, a node:http
 * server on 127.0.0.1 in front of a real embedded stack (process executor). The server checks each
 * request as API Gateway would: the Bearer token, or the SigV4 signature recomputed from the
 * request as it was received (method, path, query, the signed headers, body) with the shared
 * secret by @smithy/signature-v4; it refuses what fails (401 / 403) and passes the rest on.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { authorizerFor, executeApiRegion } from '../../cli/auth.js';
import { CliError, EXIT_BAD_INPUT } from '../../cli/errors.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { amun, type Outcome } from '../support/cli.js';
import { tempDir } from '../support/stack.js';

const TOKEN = 'cli-auth-test-token-7f3a';
const CREDENTIALS = { accessKeyId: 'AKIDAMUNTEST0001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYAMUNTESTKEY', sessionToken: 'IQoJb3JpZ2luX2VjEAMUNTESTSESSION//token+with/odd=chars' };
const REGION = 'eu-west-1';
const SLOW = 120_000;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  /** 'ok', or why the request was refused. */
  verdict: string;
}

type Expectation = { kind: 'token'; token: string } | { kind: 'iam'; accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string };

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** 'ok' when the request's SigV4 signature is the one its content and the secret give, else why not. */
async function verifySigV4(req: IncomingMessage, body: Buffer, expected: Extract<Expectation, { kind: 'iam' }>): Promise<string> {
  const authorization = req.headers.authorization ?? '';
  const m = SIGV4.exec(authorization);
  if (!m) return `not a SigV4 Authorization header: ${JSON.stringify(authorization)}`;
  const [, keyId, day, region, service, signedList] = m as unknown as [string, string, string, string, string, string];
  if (keyId !== expected.accessKeyId) return `signed by ${keyId}`;
  if (region !== expected.region || service !== 'execute-api') return `scope ${region}/${service}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amzDate);
  if (!date || amzDate.slice(0, 8) !== day) return `x-amz-date ${amzDate} does not match the scope's day ${day}`;
  const signingDate = new Date(Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!, +date[4]!, +date[5]!, +date[6]!));
  if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000) return `x-amz-date ${amzDate} is more than 5 minutes off`;
  const signed = signedList.split(';');
  for (const needed of ['host', 'x-amz-date', ...(expected.sessionToken ? ['x-amz-security-token'] : [])]) {
    if (!signed.includes(needed)) return `${needed} is not signed`;
  }
  if (expected.sessionToken && req.headers['x-amz-security-token'] !== expected.sessionToken) return 'wrong x-amz-security-token';
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) return `signed header ${name} was not received`;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  const { accessKeyId, secretAccessKey, sessionToken } = expected;
  const signer = new SignatureV4({ service: 'execute-api', region, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }, sha256: Sha256, applyChecksum: false });
  const recomputed = await signer.sign(
    { method: req.method ?? 'GET', protocol: 'http:', hostname: headers.host ?? '', path: url.pathname, query, headers, ...(body.length > 0 ? { body: body.toString('utf8') } : {}) },
    { signingDate, signableHeaders: new Set(signed) },
  );
  return recomputed.headers.authorization === authorization ? 'ok' : 'signature does not match the request';
}

describe('the CLI authorizes every request it sends', () => {
  const dir = tempDir('amun-cli-auth-');
  let stack: LocalStack;
  let proxy: Server;
  let url = '';
  let seen: Seen[] = [];
  let expectation: Expectation = { kind: 'token', token: TOKEN };

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: join(dir.path, 'stack'), port: 0, executor: 'process', waitTimeSeconds: 1, overrides: { logIntervalMs: 50 } });
    proxy = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        const verdict =
          expectation.kind === 'token'
            ? req.headers.authorization === `Bearer ${expectation.token}` ? 'ok' : `authorization ${JSON.stringify(req.headers.authorization)}`
            : await verifySigV4(req, body, expectation);
        seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, verdict });
        if (verdict !== 'ok') {
          // API Gateway's refusals: 401 without a valid token, 403 for a bad signature.
          res.writeHead(expectation.kind === 'token' ? 401 : 403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: expectation.kind === 'token' ? 'Unauthorized' : 'Forbidden' }));
          return;
        }
        const answer = await fetch(`${stack.apiUrl}${req.url}`, {
          method: req.method ?? 'GET',
          headers: { accept: 'application/json', ...(req.headers['content-type'] ? { 'content-type': req.headers['content-type'] } : {}) },
          ...(body.length > 0 ? { body } : {}),
        });
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      })().catch((error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    writeFileSync(join(dir.path, 'spec.yaml'), 'base: localhost/debian:bookworm\nidentifier: authorized\nbatch_size: 2\nscript: |\n  import json, os\n  print(json.dumps({"@result": {"n": int(os.environ["AMUN_ITEM"]) + 1}}))\n');
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    await stack?.stop();
    dir.remove();
  });

  const IAM_ENV = {
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
    AWS_REGION: REGION,
    // Nothing but the environment: no profile, no files, no instance metadata.
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/nonexistent/amun-test/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/amun-test/credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };

  /** Runs one CLI command against the recording server; returns its outcome and what the server saw. */
  async function command(args: string[], env: Record<string, string>): Promise<{ out: Outcome; requests: Seen[] }> {
    seen = [];
    const out = await amun([...args, '--url', url], { env, timeoutMs: 90_000 });
    return { out, requests: seen };
  }

  /** Every command of the CLI that talks to a server, in an order that leaves each one something to read. */
  async function everyCommand(env: Record<string, string>): Promise<void> {
    const spec = join(dir.path, 'spec.yaml');
    const check = (name: string, { out, requests }: { out: Outcome; requests: Seen[] }, minimum = 1): void => {
      expect({ name, code: out.code, stderr: out.code === 0 ? '' : out.stderr }).toEqual({ name, code: 0, stderr: '' });
      expect({ name, count: requests.length >= minimum }).toEqual({ name, count: true });
      expect({ name, refused: requests.filter((r) => r.verdict !== 'ok') }).toEqual({ name, refused: [] });
    };
    const ran = await command(['run', spec, '--json'], env);
    // run: the submit, the status polls, the results and metrics; GETs far outnumber the POST.
    check('run', ran, 4);
    expect(ran.requests.filter((r) => r.method === 'GET').length).toBeGreaterThan(2);
    const id = JSON.parse(ran.out.stdout).inspection_id as string;
    const submitted = await command(['submit', spec], env);
    check('submit', submitted);
    const other = submitted.out.stdout.trim();
    check('status', await command(['status', id], env));
    check('results', await command(['results', id], env), 3);
    check('logs --build', await command(['logs', id, '--build'], env));
    check('logs --item --follow', await command(['logs', id, '--item', '1', '--follow'], env), 2);
    check('logs', await command(['logs', id], env), 3);
    check('list', await command(['list'], env));
    check('dockerfile', await command(['dockerfile', spec], env));
    // The other inspection runs too; compare waits for nothing, so give it the time to finish.
    const followed = await command(['logs', other, '--follow'], env);
    check('logs --follow (a running inspection)', followed, 2);
    check('compare', await command(['compare', id, other], env));
  }

  it('token: AMUN_API_TOKEN goes as a Bearer token on every request of every command', async () => {
    expectation = { kind: 'token', token: TOKEN };
    await everyCommand({ AMUN_API_TOKEN: TOKEN });
  }, 6 * SLOW);

  it('token: without it, or with a wrong one, the 401 says what the request carried', async () => {
    expectation = { kind: 'token', token: TOKEN };
    const none = await command(['status', 'inspection-x-00000000'], {});
    expect(none.out.code).toBe(1);
    expect(none.out.stderr).toContain('answered 401: Unauthorized (the request carried no credentials: set AMUN_API_TOKEN');
    const wrong = await command(['list'], { AMUN_API_TOKEN: 'not-the-token' });
    expect(wrong.out.code).toBe(1);
    expect(wrong.out.stderr).toContain('answered 401: Unauthorized (the request carried AMUN_API_TOKEN as a Bearer token)');
    expect(wrong.requests.map((r) => r.authorization)).toEqual(['Bearer not-the-token']);
  }, SLOW);

  it('iam: every request of every command carries a SigV4 signature the server recomputes from what it received', async () => {
    expectation = { kind: 'iam', ...CREDENTIALS, region: REGION };
    await everyCommand({ ...IAM_ENV, AMUN_AUTH: 'iam' });
  }, 6 * SLOW);

  it('iam: the flag works as the variable does, without a session token too', async () => {
    const { sessionToken: _, ...longTerm } = CREDENTIALS;
    expectation = { kind: 'iam', ...longTerm, region: REGION };
    const { out, requests } = await command(['--auth', 'iam', 'list'], { ...IAM_ENV, AWS_SESSION_TOKEN: '' });
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    expect(requests.map((r) => r.verdict)).toEqual(['ok']);
    expect(requests[0]!.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${longTerm.accessKeyId}/\\d{8}/${REGION}/execute-api/aws4_request, SignedHeaders=accept;host;x-amz-date, Signature=[0-9a-f]{64}$`));
  }, SLOW);

  it('iam: a signature made with another secret is refused, and the 403 says how the request was signed', async () => {
    expectation = { kind: 'iam', ...CREDENTIALS, region: REGION };
    const { out, requests } = await command(['--auth', 'iam', 'status', 'inspection-x-00000000'], { ...IAM_ENV, AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
    expect(requests.map((r) => r.verdict)).toEqual(['signature does not match the request']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`answered 403: Forbidden (the request was signed with AWS Signature Version 4 (execute-api, ${REGION})`);
  }, SLOW);

  it('iam: no credentials, no region, or a token beside it are errors that say what to do, before any request', async () => {
    expectation = { kind: 'iam', ...CREDENTIALS, region: REGION };
    const bare = { ...IAM_ENV, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', HOME: dir.path };
    const noCredentials = await command(['--auth', 'iam', 'list'], bare);
    expect(noCredentials.out.code).toBe(1);
    expect(noCredentials.out.stderr).toMatch(/^amun: no AWS credentials to sign requests with \(--auth iam\): .+ Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/m);
    expect(noCredentials.requests).toEqual([]);
    const noRegion = await command(['--auth', 'iam', 'list'], { ...IAM_ENV, AWS_REGION: '', AWS_DEFAULT_REGION: '' });
    expect(noRegion.out.code).toBe(2);
    expect(noRegion.out.stderr).toContain('--auth iam needs the API\'s region to sign for: 127.0.0.1');
    const both = await command(['--auth', 'iam', 'list'], { ...IAM_ENV, AMUN_API_TOKEN: TOKEN });
    expect(both.out.code).toBe(2);
    expect(both.out.stderr).toContain('unset AMUN_API_TOKEN, or use --auth token');
    expect([...noRegion.requests, ...both.requests]).toEqual([]);
  }, SLOW);
});

describe('choosing how to authorize', () => {
  const api = 'https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/api/v1';

  it('reads the region of an execute-api URL, private APIs and China included, and nothing from other hosts', () => {
    expect(executeApiRegion(api)).toBe('eu-central-1');
    expect(executeApiRegion('https://a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.us-gov-west-1.vpce.amazonaws.com/api/v1')).toBe('us-gov-west-1');
    expect(executeApiRegion('https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn/')).toBe('cn-north-1');
    expect(executeApiRegion('https://amun.example.com/api/v1')).toBeUndefined();
    expect(executeApiRegion('https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com.evil.example/')).toBeUndefined();
    expect(executeApiRegion('http://127.0.0.1:8080/api/v1')).toBeUndefined();
  });

  it('auto: the token when there is one, SigV4 for an execute-api URL, nothing otherwise', () => {
    expect(authorizerFor(api, { token: TOKEN }).kind).toBe('token');
    expect(authorizerFor(api, {})).toMatchObject({ kind: 'iam', region: 'eu-central-1' });
    expect(authorizerFor('https://amun.example.com/api/v1', { env: { AWS_REGION: 'us-east-1' } }).kind).toBe('none');
  });

  it('iam: the URL names the region before AWS_REGION, then AWS_DEFAULT_REGION', () => {
    expect(authorizerFor(api, { mode: 'iam', env: { AWS_REGION: 'us-east-1' } })).toMatchObject({ region: 'eu-central-1' });
    expect(authorizerFor('https://amun.example.com/', { mode: 'iam', env: { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-west-2' } })).toMatchObject({ region: 'us-east-1' });
    expect(authorizerFor('https://amun.example.com/', { mode: 'iam', env: { AWS_DEFAULT_REGION: 'us-west-2' } })).toMatchObject({ region: 'us-west-2' });
  });

  it('refuses combinations that cannot work', () => {
    expect(() => authorizerFor(api, { mode: 'token' })).toThrow(new CliError('--auth token needs the token in AMUN_API_TOKEN', EXIT_BAD_INPUT));
    expect(() => authorizerFor(api, { mode: 'iam', token: TOKEN })).toThrow(/unset AMUN_API_TOKEN/);
    expect(() => authorizerFor('https://amun.example.com/', { mode: 'iam', env: {} })).toThrow(/set AWS_REGION/);
    expect(authorizerFor(api, { mode: 'none', token: TOKEN }).kind).toBe('none');
  });

  it('signs with the credentials it is given, a session token included, and adds only its own headers', async () => {
    const authorizer = authorizerFor(api, { mode: 'iam', credentials: async () => CREDENTIALS });
    const headers = await authorizer.headers({ method: 'POST', url: new URL(`${api}/inspect?x=1`), headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(Object.keys(headers).sort()).toEqual(['authorization', 'x-amz-date', 'x-amz-security-token']);
    expect(headers['x-amz-security-token']).toBe(CREDENTIALS.sessionToken);
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDAMUNTEST0001\/\d{8}\/eu-central-1\/execute-api\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
  });
});
