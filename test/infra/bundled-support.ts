/**
 * What test/infra/bundled-assets.test.ts needs to run the deployed bundles as Lambda would:
 *   - the Node the template's runtime names, and a child process per function that imports the
 *     asset's handler once (a cold start) and answers invocations over IPC (a warm container);
 *   - the function's environment from the template, CloudFormation's intrinsic functions evaluated
 *     against the embedded stack (an unknown reference fails with its name, never passes as text);
 *   - the event shapes the triggers deliver: API Gateway HTTP API (payload 2.0, the route the
 *     gateway would select from the template's routes), SQS records (local/dispatcher.ts builds
 *     them from real messages as the event source mapping does), EventBridge scheduled events;
 *   - an HTTPS front for the fake Kubernetes API server that takes what EKS takes: the bearer token
 *     `k8s-aws-v1.` + a presigned STS GetCallerIdentity URL for the cluster, checked by signing the
 *     same request again with @smithy/signature-v4 (what STS does with it); it then forwards with
 *     the fake server's own token. The functions reach it exactly as on AWS: endpoint + CA data.
 * STS (the upload role's AssumeRole) is test/support/fake-sts.ts, at AWS_ENDPOINT_URL_STS.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { APIGatewayProxyEventV2, ScheduledEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { lambdaRecord } from '../../local/dispatcher.js';
import { repoRoot } from '../../infra/bundling.js';
import { parseAmzDate, type Identity } from '../support/fake-sts.js';
import type { TemplateJson } from './support.js';

export const ACCOUNT = '000000000000';

// ---------------------------------------------------------------------------------------------
// The runtime

/** The Node binary whose major version is the template's runtime (`nodejs22.x`): the repository's own, else this process's. */
export function lambdaNode(runtime: string): string {
  const major = /^nodejs(\d+)\.x$/.exec(runtime)?.[1];
  if (!major) throw new Error(`not a Node.js Lambda runtime: ${runtime}`);
  const candidates = [join(repoRoot, 'node_modules', '.bin', 'node'), process.execPath];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
    if (version.startsWith(`v${major}.`)) return candidate;
  }
  throw new Error(`no Node ${major} to play the ${runtime} runtime (looked at ${candidates.join(', ')})`);
}

/** The folders above `dir` that hold a node_modules: Node's resolution would find packages there that the asset does not ship. */
export function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let at = dirname(dir); ; at = dirname(at)) {
    if (existsSync(join(at, 'node_modules'))) found.push(join(at, 'node_modules'));
    if (at === parse(at).root) return found;
  }
}

/** The temporary folders made here (asset copies, the runtime script), for `removeTemporaryFolders`. */
const temporary: string[] = [];
/** The runtime script (RUNNER below), written once. */
let runnerPath: string | undefined;

function temporaryFolder(prefix: string): string {
  const path = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(path);
  return path;
}

export function removeTemporaryFolders(): void {
  for (const path of temporary.splice(0)) rmSync(path, { recursive: true, force: true });
  runnerPath = undefined;
}

/** Copies an asset folder to a fresh temporary folder, as Lambda unpacks it into /var/task: nothing of the repository around it. */
export function isolatedCopy(assetDir: string, name: string, options: { without?: string[] } = {}): string {
  const root = temporaryFolder('amun-lambda-');
  const dest = join(root, name);
  cpSync(assetDir, dest, { recursive: true });
  for (const path of options.without ?? []) rmSync(join(dest, path), { recursive: true, force: true });
  return dest;
}

/**
 * The runtime's part: import the handler module once, then call the handler for each event with
 * a Lambda context. Written as plain JavaScript beside (not inside) the asset, so that it resolves
 * nothing for the asset.
 */
const RUNNER = `
import { pathToFileURL } from 'node:url';
const [entry, exportName] = process.argv.slice(2);
const plain = (e) => ({ name: e?.name, message: e?.message ?? String(e), code: e?.code, stack: e?.stack, cause: e?.cause ? plain(e.cause) : undefined });
let handler;
try {
  handler = (await import(pathToFileURL(entry).href))[exportName];
  if (typeof handler !== 'function') throw new TypeError(entry + ' exports no function ' + exportName);
} catch (error) {
  process.send({ kind: 'init-error', error: plain(error) }, () => process.exit(1));
}
if (handler) {
  process.on('message', async ({ id, event, context }) => {
    const { timeoutMs, ...fields } = context;
    const deadline = Date.now() + timeoutMs;
    const ctx = { ...fields, callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()), done() {}, fail() {}, succeed() {} };
    try {
      const result = await handler(event, ctx);
      process.send({ kind: 'result', id, result: result === undefined ? null : result });
    } catch (error) {
      process.send({ kind: 'error', id, error: plain(error) });
    }
  });
  process.send({ kind: 'ready' });
}
`;

function runner(): string {
  if (!runnerPath) {
    runnerPath = join(temporaryFolder('amun-lambda-runtime-'), 'runtime.mjs');
    writeFileSync(runnerPath, RUNNER);
  }
  return runnerPath;
}

export interface RemoteError {
  name?: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: RemoteError;
}

export class InvocationError extends Error {
  constructor(
    message: string,
    readonly remote: RemoteError,
    readonly logs: string,
  ) {
    super(message);
    this.name = 'InvocationError';
  }
}

export interface LambdaSpec {
  /** The function's name (the template's FunctionName). */
  functionName: string;
  /** The unpacked asset. */
  dir: string;
  /** The template's Handler: `index.handler`. */
  handler: string;
  node: string;
  env: Record<string, string>;
  memoryMb: number;
  timeoutSeconds: number;
}

type Message = { kind: 'ready' } | { kind: 'init-error'; error: RemoteError } | { kind: 'result'; id: string; result: unknown } | { kind: 'error'; id: string; error: RemoteError };

/** One warm execution environment of a function: its handler imported once, invoked many times. */
export class LambdaProcess {
  private readonly child: ChildProcess;
  private output = '';
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;

  constructor(readonly spec: LambdaSpec) {
    const [module, exportName] = [spec.handler.slice(0, spec.handler.lastIndexOf('.')), spec.handler.slice(spec.handler.lastIndexOf('.') + 1)];
    // The runtime looks for the module with each of its extensions; the bundles are .mjs.
    const entry = ['.mjs', '.js', '.cjs'].map((ext) => join(spec.dir, `${module}${ext}`)).find((path) => existsSync(path));
    if (!entry) throw new Error(`${spec.functionName}: no module ${module} in ${spec.dir}`);
    this.child = fork(runner(), [entry, exportName], {
      execPath: spec.node,
      execArgv: [],
      cwd: spec.dir,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.child.stdout!.on('data', (chunk: Buffer) => this.record(chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.record(chunk));
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.on('message', (message: Message) => {
        if (message.kind === 'ready') resolve();
        else if (message.kind === 'init-error') reject(new InvocationError(`${spec.functionName} failed to start: ${message.error.name}: ${message.error.message}`, message.error, this.output));
        else {
          const waiting = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.kind === 'result') waiting?.resolve(message.result);
          else waiting?.reject(new InvocationError(`${spec.functionName} threw ${message.error.name}: ${message.error.message}`, message.error, this.output));
        }
      });
      this.child.on('exit', (code, signal) => {
        const error = new Error(`${spec.functionName} exited (${code ?? signal}); its output:\n${this.output}`);
        reject(error);
        for (const waiting of this.pending.values()) waiting.reject(error);
        this.pending.clear();
      });
    });
    this.ready.catch(() => undefined);
  }

  private record(chunk: Buffer): void {
    this.output = (this.output + chunk.toString('utf8')).slice(-64 * 1024);
  }

  /** What the function wrote to stdout and stderr (its logs), the last 64 KiB. */
  get logs(): string {
    return this.output;
  }

  async invoke<T = unknown>(event: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
    await this.ready;
    const id = randomUUID();
    const timeoutMs = Math.min(options.timeoutMs ?? 30_000, this.spec.timeoutSeconds * 1000);
    const context = {
      functionName: this.spec.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.spec.env.AWS_REGION}:${ACCOUNT}:function:${this.spec.functionName}`,
      memoryLimitInMB: String(this.spec.memoryMb),
      awsRequestId: id,
      logGroupName: `/aws/lambda/${this.spec.functionName}`,
      logStreamName: `2026/01/01/[$LATEST]${id.replace(/-/g, '')}`,
      timeoutMs,
    };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.spec.functionName} did not answer within ${timeoutMs} ms; its output:\n${this.output}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, event, context });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// The environment: CloudFormation's intrinsic functions, evaluated

/** The embedded stack's values of `Ref` and `Fn::GetAtt`, by resource; undefined: none here. */
export interface Resolution {
  ref(logicalId: string, resource: { Type: string; Properties?: any }): string | undefined;
  getAtt(logicalId: string, attribute: string, resource: { Type: string; Properties?: any }): string | undefined;
}

/** The pseudo parameters the functions' variables use. */
const PSEUDO: Record<string, string> = { 'AWS::URLSuffix': 'amazonaws.com' };

/**
 * Evaluates what the functions' variables use (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split) as
 * CloudFormation would, with the values of `resolution`; anything else, or a reference with no
 * value here, fails with its name.
 */
export function evaluate(value: unknown, template: TemplateJson, resolution: Resolution): string {
  const go = (v: unknown): any => {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (Array.isArray(v)) return v.map(go);
    if (v === null || typeof v !== 'object') throw new Error(`cannot evaluate ${JSON.stringify(v)}`);
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length !== 1) throw new Error(`not an intrinsic function: ${JSON.stringify(v)}`);
    const [fn, arg] = entries[0]!;
    const resource = (id: string) => {
      const r = template.Resources[id];
      if (!r) throw new Error(`no resource ${id} in the template`);
      return r;
    };
    switch (fn) {
      case 'Ref': {
        const id = String(arg);
        const out = PSEUDO[id] ?? resolution.ref(id, resource(id));
        if (out === undefined) throw new Error(`no value for Ref ${id} (${resource(id).Type}) in the embedded stack`);
        return out;
      }
      case 'Fn::GetAtt': {
        const [id, attribute] = arg as [string, string];
        const out = resolution.getAtt(id, attribute, resource(id));
        if (out === undefined) throw new Error(`no value for Fn::GetAtt ${id}.${attribute} (${resource(id).Type}) in the embedded stack`);
        return out;
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        return (go(parts) as string[]).join(sep);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const items = go(list) as string[];
        const at = Number(go(index));
        if (!(at >= 0 && at < items.length)) throw new Error(`Fn::Select ${at} out of ${JSON.stringify(items)}`);
        return items[at];
      }
      case 'Fn::Split': {
        const [sep, text] = arg as [string, unknown];
        return (go(text) as string).split(sep);
      }
      default:
        throw new Error(`intrinsic function ${fn} is not evaluated here: ${JSON.stringify(v)}`);
    }
  };
  const out = go(value);
  if (typeof out !== 'string') throw new Error(`${JSON.stringify(value)} is not a string value`);
  return out;
}

/**
 * What Lambda adds to a function's own variables (the runtime's, the role's credentials, the
 * logging configuration), then the function's variables from the template, then `overrides`.
 */
export function lambdaEnvironment(input: {
  functionName: string;
  memoryMb: number;
  runtime: string;
  dir: string;
  node: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  logging: { LogFormat?: string; ApplicationLogLevel?: string } | undefined;
  variables: Record<string, string>;
  overrides: Record<string, string>;
}): Record<string, string> {
  return {
    PATH: `${dirname(input.node)}:/usr/local/bin:/usr/bin:/bin`,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LAMBDA_TASK_ROOT: input.dir,
    AWS_EXECUTION_ENV: `AWS_Lambda_${input.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: input.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(input.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${input.functionName}`,
    ...(input.logging?.LogFormat ? { AWS_LAMBDA_LOG_FORMAT: input.logging.LogFormat } : {}),
    ...(input.logging?.ApplicationLogLevel ? { AWS_LAMBDA_LOG_LEVEL: input.logging.ApplicationLogLevel } : {}),
    AWS_REGION: input.region,
    AWS_DEFAULT_REGION: input.region,
    AWS_ACCESS_KEY_ID: input.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: input.credentials.secretAccessKey,
    AWS_SESSION_TOKEN: input.credentials.sessionToken,
    // Nothing here may reach for an instance metadata service.
    AWS_EC2_METADATA_DISABLED: 'true',
    ...input.variables,
    ...input.overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// Events, as the triggers deliver them

type GatewayRoute = { routeKey: string; method: string; path: string; greedy: boolean; iam: boolean };

/** The HTTP API's routes from the template. */
export function gatewayRoutes(template: TemplateJson): GatewayRoute[] {
  return Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
    .map((r) => {
      const routeKey = String(r.Properties.RouteKey);
      const [method, path] = routeKey.split(' ') as [string, string];
      const greedy = path.endsWith('/{proxy+}');
      return { routeKey, method, path: greedy ? path.slice(0, -'/{proxy+}'.length) : path, greedy, iam: r.Properties.AuthorizationType === 'AWS_IAM' };
    });
}

/** The route API Gateway selects: an exact path before a greedy one, the longest greedy prefix, a method before ANY. */
function selectRoute(routes: GatewayRoute[], method: string, path: string): { route: GatewayRoute; proxy: string | undefined } {
  const methodRank = (r: GatewayRoute) => (r.method === method ? 0 : 1);
  const exact = routes.filter((r) => !r.greedy && r.path === path && (r.method === method || r.method === 'ANY')).sort((a, b) => methodRank(a) - methodRank(b));
  if (exact[0]) return { route: exact[0], proxy: undefined };
  const greedy = routes
    .filter((r) => r.greedy && path.startsWith(`${r.path}/`) && path.length > r.path.length + 1 && (r.method === method || r.method === 'ANY'))
    .sort((a, b) => b.path.length - a.path.length || methodRank(a) - methodRank(b));
  if (greedy[0]) return { route: greedy[0], proxy: path.slice(greedy[0].path.length + 1) };
  throw new Error(`the HTTP API has no route for ${method} ${path}: the gateway would answer 404 itself`);
}

/** An HTTP API (payload format 2.0) event for a request, through the route the gateway would select. */
export function httpApiEvent(routes: GatewayRoute[], request: { method: string; path: string; query?: Record<string, string>; body?: unknown; headers?: Record<string, string> }): APIGatewayProxyEventV2 {
  const { route, proxy } = selectRoute(routes, request.method, request.path);
  const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
  const host = 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com';
  const now = new Date();
  const rawQueryString = new URLSearchParams(request.query ?? {}).toString();
  const event = {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: request.path,
    rawQueryString,
    headers: {
      accept: 'application/json',
      host,
      'user-agent': 'amun-bundled-test',
      'x-forwarded-for': '203.0.113.10',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}),
      ...request.headers,
    },
    ...(request.query ? { queryStringParameters: request.query } : {}),
    requestContext: {
      accountId: ACCOUNT,
      apiId: 'a1b2c3d4e5',
      domainName: host,
      domainPrefix: 'a1b2c3d4e5',
      http: { method: request.method, path: request.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.10', userAgent: 'amun-bundled-test' },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...(route.iam
        ? { authorizer: { iam: { accessKey: 'AKIAEXAMPLE', accountId: ACCOUNT, callerId: 'AIDAEXAMPLE', principalOrgId: null, userArn: `arn:aws:iam::${ACCOUNT}:user/tester`, userId: 'AIDAEXAMPLE', cognitoIdentity: null } } }
        : {}),
    },
    ...(proxy !== undefined ? { pathParameters: { proxy } } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
  return event as unknown as APIGatewayProxyEventV2;
}

/** The scheduled event EventBridge sends a rule's target (one that sets or transforms its input fails here). */
export function scheduledEvent(template: TemplateJson, functionLogicalId: string, region: string): ScheduledEvent {
  const rule = Object.entries(template.Resources).find(
    ([, r]) => r.Type === 'AWS::Events::Rule' && (r.Properties.Targets as any[]).some((t) => JSON.stringify(t.Arn) === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId, 'Arn'] })),
  );
  if (!rule) throw new Error(`no EventBridge rule targets ${functionLogicalId}`);
  const [ruleId, { Properties: props }] = rule;
  const target = (props.Targets as any[]).find((t) => JSON.stringify(t.Arn) === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId, 'Arn'] }));
  if (target.Input !== undefined || target.InputPath !== undefined || target.InputTransformer !== undefined) throw new Error(`the target of ${ruleId} sets or transforms its event: not played here`);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${ACCOUNT}:rule/${ruleId}`],
    detail: {},
  } satisfies ScheduledEvent;
}

/**
 * Receives what is on a queue now, as Lambda records (the event source mapping's shape), until
 * `enough` says so or `waitSeconds` pass. The messages stay in flight: `deleteRecords` ends them.
 */
export async function receiveRecords(sqs: SQSClient, queueUrl: string, region: string, enough: (records: SQSRecord[]) => boolean, waitSeconds = 10): Promise<SQSRecord[]> {
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  if (!arn) throw new Error(`no ARN for ${queueUrl}`);
  const records: SQSRecord[] = [];
  const until = Date.now() + waitSeconds * 1000;
  while (!enough(records) && Date.now() < until) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'], VisibilityTimeout: 60 }),
    );
    for (const message of out.Messages ?? []) records.push(lambdaRecord(message, arn, region));
  }
  return records;
}

export async function deleteRecords(sqs: SQSClient, queueUrl: string, records: SQSRecord[]): Promise<void> {
  for (const record of records) await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle }));
}

export function sqsEvent(records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

// ---------------------------------------------------------------------------------------------
// The cluster, as EKS fronts it

export interface EksFront {
  /** `https://127.0.0.1:PORT` */
  endpoint: string;
  /** Base64 PEM of the front's (self-signed) certificate: what DescribeCluster answers as certificateAuthority.data. */
  caData: string;
  /** Requests let through, with the access key that signed their token. */
  accepted: Array<{ method: string; path: string; accessKeyId: string }>;
  /** Requests refused, with why. */
  rejected: Array<{ method: string; path: string; why: string }>;
  close(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 (openssl: the test cluster's scripts need it too). */
function selfSignedCertificate(dir: string): { key: Buffer; cert: Buffer } {
  const key = join(dir, 'front.key');
  const cert = join(dir, 'front.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=amun-test-eks', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    stdio: 'ignore',
  });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

const TOKEN_PREFIX = 'k8s-aws-v1.';
/** EKS takes a token for 15 minutes after its signing date, whatever its X-Amz-Expires says. */
const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Why a bearer token would not get into an EKS cluster, or the access key that signed it. */
async function checkEksToken(authorization: string | undefined, cluster: EksCluster): Promise<{ ok: true; accessKeyId: string } | { ok: false; why: string }> {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token?.startsWith(TOKEN_PREFIX)) return { ok: false, why: 'no k8s-aws-v1 bearer token' };
  let url: URL;
  try {
    url = new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return { ok: false, why: 'the token is not a URL' };
  }
  const q = url.searchParams;
  if (url.protocol !== 'https:' || url.host !== `sts.${cluster.region}.amazonaws.com` || url.pathname !== '/') return { ok: false, why: `not the regional STS endpoint: ${url.origin}${url.pathname}` };
  if (q.get('Action') !== 'GetCallerIdentity' || q.get('Version') !== '2011-06-15') return { ok: false, why: 'not GetCallerIdentity' };
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return { ok: false, why: 'not SigV4' };
  const signed = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  if (!signed.includes('host') || !signed.includes('x-k8s-aws-id')) return { ok: false, why: `x-k8s-aws-id is not signed (${signed.join(';')})` };
  const [accessKeyId, day, region, service, terminator] = (q.get('X-Amz-Credential') ?? '').split('/');
  if (region !== cluster.region || service !== 'sts' || terminator !== 'aws4_request' || !accessKeyId) return { ok: false, why: `credential scope ${q.get('X-Amz-Credential')}` };
  const identity = cluster.identities.find((i) => i.accessKeyId === accessKeyId);
  if (!identity) return { ok: false, why: `unknown access key ${accessKeyId}` };
  if ((q.get('X-Amz-Security-Token') ?? undefined) !== identity.sessionToken) return { ok: false, why: `not the session token of ${accessKeyId}` };
  const amzDate = q.get('X-Amz-Date') ?? '';
  const date = parseAmzDate(amzDate);
  if (Number.isNaN(date.getTime()) || !amzDate.startsWith(day ?? '-')) return { ok: false, why: `bad X-Amz-Date ${amzDate}` };
  const age = Date.now() - date.getTime();
  if (age < -60_000 || age > TOKEN_LIFETIME_MS) return { ok: false, why: `the token is ${Math.round(age / 1000)} s old` };
  // What STS does: sign the same request again and compare.
  const query: Record<string, string> = {};
  for (const [name, value] of q) if (!['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token'].includes(name)) query[name] = value;
  const again = await new SignatureV4({ service: 'sts', region: cluster.region, credentials: identity, sha256: Sha256 }).presign(
    { method: 'GET', protocol: 'https:', hostname: url.host, path: '/', query, headers: { host: url.host, 'x-k8s-aws-id': cluster.name } },
    { signingDate: date, expiresIn: Number(q.get('X-Amz-Expires') ?? '0') },
  );
  if (again.query?.['X-Amz-Signature'] !== q.get('X-Amz-Signature')) return { ok: false, why: `the signature does not verify for cluster ${cluster.name}` };
  return { ok: true, accessKeyId };
}

/** The cluster the front stands for, and the identities its access entries admit. */
export interface EksCluster {
  name: string;
  region: string;
  identities: Identity[];
}

/** Starts the HTTPS front of `upstream` (the fake API server) for `cluster`. */
export async function startEksFront(upstream: { url: string; token: string }, cluster: EksCluster, dir: string): Promise<EksFront> {
  const { key, cert } = selfSignedCertificate(dir);
  const accepted: EksFront['accepted'] = [];
  const rejected: EksFront['rejected'] = [];
  const target = new URL(upstream.url);
  const server = createHttpsServer({ key, cert }, (req, res) => {
    const where = { method: req.method ?? '', path: req.url ?? '' };
    checkEksToken(req.headers.authorization, cluster)
      .then((verdict) => {
        if (!verdict.ok) {
          rejected.push({ ...where, why: verdict.why });
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
          return;
        }
        accepted.push({ ...where, accessKeyId: verdict.accessKeyId });
        const forward = httpRequest(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host, authorization: `Bearer ${upstream.token}` } },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', (error) => res.destroy(error));
        req.pipe(forward);
      })
      .catch((error: unknown) => res.destroy(error as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caData: cert.toString('base64'),
    accepted,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
