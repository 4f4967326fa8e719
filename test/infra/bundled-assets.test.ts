/**
 * The deployed bundles, run: each function's asset from the synthesized cloud assembly (exactly the
 * folder `cdk deploy` zips and uploads) is copied to a temporary folder with no node_modules above
 * it, as Lambda unpacks it into /var/task, and invoked with the events its trigger delivers
 * against the embedded S3/SQS and the fake Kubernetes API server behind an EKS-like HTTPS front.
 * A dependency left out of a bundle, a file not shipped beside it, a variable the stack forgets
 * or a reference it gets wrong fails here, not at the first deployment.
 *
 * Each function runs in a child process of the Node the template's runtime names (nodejs22.x),
 * which imports the handler once and answers invocations over IPC: a warm Lambda container. A
 * child rather than `import()` in the jest process because (1) jest's ESM runtime resolves modules
 * itself (its moduleNameMapper, its own module registry, --experimental-vm-modules) where Lambda
 * uses Node's loader, and the lazy `import('@kubernetes/client-node')` must be resolved by Node
 * from the asset; (2) the environment must be exactly the function's (the template's variables,
 * read at cold start by configFromEnv) and not jest's process.env; (3) module-scope singletons
 * (clients, configuration) are per function, as they are per Lambda container.
 *
 * The environment is the template's Environment.Variables with CloudFormation's references
 * evaluated against the embedded stack (bucket, queue URLs, the ECR repository, DescribeCluster's
 * endpoint and CA, the upload role), plus what Lambda adds (region, the role's credentials, the
 * logging configuration) and the endpoint overrides the functions read: AWS_ENDPOINT_URL (S3 and
 * SQS, the embedded store) and AWS_ENDPOINT_URL_STS (the fake STS). The cluster is reached as on
 * AWS: AMUN_K8S_CLUSTER_NAME + AMUN_K8S_ENDPOINT + AMUN_K8S_CA_DATA and an EKS token that the
 * front verifies as STS would. The front and the fake STS know one identity, the role's
 * credentials Lambda gives the function: with the store's endpoint set, the functions' AWS identity
 * is still the SDK's default chain, never the store's key (functions/adapters/clients.ts).
 *
 * The story, in order (each step feeds the next with the real objects and messages):
 *   api POST /inspect → work message → build (Job, Secret) → api status with the cluster's view →
 *   the builder is OOMKilled → reconcile writes the failed build status → its S3 notification →
 *   schedule closes the inspection; a spec dropped under specs/ → ingest submits it; a result
 *   appears → index finishes that one.
 * Synthesis with bundling takes about 20 s (beforeAll allows 300 s); the whole file about 40 s.
 * Needs openssl (the front's certificate) and the repository's Node 22 (node_modules/.bin/node).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { loadSpec } from '../../cli/spec.js';
import { makeS3Client, makeSqsClient } from '../../functions/adapters/clients.js';
import { S3ObjectStore } from '../../functions/adapters/s3-store.js';
import { ENV } from '../../functions/config.js';
import { DEFAULT_BUILDER_IMAGE, DEFAULT_UPLOADER_IMAGE, LABELS } from '../../functions/adapters/kubernetes/manifests/index.js';
import { UPLOAD_SESSION_NAME, UPLOAD_SESSION_SECONDS } from '../../functions/adapters/kubernetes/upload-grant-credentials.js';
import { Layout, isInspectionId } from '../../functions/core/layout.js';
import { markerKeys } from '../../functions/core/ingest.js';
import { syntheticResult } from '../../functions/core/results.js';
import { validators } from '../../functions/core/validation.js';
import type { QueueName } from '../../functions/routes.js';
import { repoRoot } from '../../infra/bundling.js';
import { awsRoutes } from '../../infra/stack.js';
import { encodeEventKey } from '../../local/s3-notifications.js';
import { startEmulator, type Emulator } from '../../local/emulator.js';
import { startFakeApiServer, type FakeApiServer } from '../kubernetes/support/fake-apiserver.js';
import { startFakeSts, type FakeSts } from '../support/fake-sts.js';
import { tempDir } from '../support/stack.js';
import {
  ACCOUNT,
  deleteRecords,
  evaluate,
  gatewayRoutes,
  httpApiEvent,
  isolatedCopy,
  lambdaEnvironment,
  lambdaNode,
  LambdaProcess,
  nodeModulesAbove,
  receiveRecords,
  removeTemporaryFolders,
  scheduledEvent,
  sqsEvent,
  startEksFront,
  type EksFront,
  type InvocationError,
  type RemoteError,
  type Resolution,
} from './bundled-support.js';
import { assetDir, functionResource, logicalId, synth, type Synthesized } from './support.js';

const REGION = 'us-east-1';
const BUCKET = 'amun-bundled-store';
/** What Lambda gives the function from its role: the one identity the EKS front and the fake STS know. */
const ROLE_CREDENTIALS = { accessKeyId: 'ASIABUNDLEDTEST00001', secretAccessKey: 'bundled-test-secret', sessionToken: 'bundled-test-session' };
/** A first deployment names digest-pinned helper images (the functions refuse tags): the context does. */
const CONTEXT = {
  builderImage: `${DEFAULT_BUILDER_IMAGE}@sha256:${'1'.repeat(64)}`,
  uploaderImage: `${DEFAULT_UPLOADER_IMAGE}@sha256:${'2'.repeat(64)}`,
};

const onAws = awsRoutes().map((r) => r.name);
type Name = (typeof onAws)[number];

let s: Synthesized;
let dir: ReturnType<typeof tempDir>;
let emulator: Emulator;
let fake: FakeApiServer;
let front: EksFront;
let sts: FakeSts;
let layout: Layout;
let specsPrefix: string;
let s3: ReturnType<typeof makeS3Client>;
let store: S3ObjectStore;
let sqs: ReturnType<typeof makeSqsClient>;
const lambdas = new Map<string, LambdaProcess>();
const envs = new Map<string, Record<string, string>>();

const fnOf = (name: string) => {
  const fn = s.stack.functions.get(name as never);
  if (!fn) throw new Error(`no function ${name}`);
  return fn;
};
const propsOf = (name: string) => functionResource(s, fnOf(name)).Properties;
const lambda = (name: Name) => {
  const l = lambdas.get(name);
  if (!l) throw new Error(`${name} was not started`);
  return l;
};
const queueUrl = (name: QueueName) => emulator.queueUrls[name];

/** The values of the template's references on the embedded stack. */
function embeddedStack(): Resolution {
  const queueIds = new Map([...s.stack.queues].map(([queue, q]) => [logicalId(s, q.queue.node.defaultChild), queue]));
  return {
    ref: (id, r) => {
      if (r.Type === 'AWS::S3::Bucket') return BUCKET;
      if (r.Type === 'AWS::SQS::Queue' && queueIds.has(id)) return queueUrl(queueIds.get(id)!);
      if (r.Type === 'AWS::ECR::Repository') return String(r.Properties.RepositoryName);
      return undefined;
    },
    getAtt: (id, attribute, r) => {
      if (r.Type === 'AWS::SQS::Queue' && attribute === 'Arn' && queueIds.has(id)) return emulator.queueArns[queueIds.get(id)!];
      if (r.Type === 'AWS::IAM::Role' && attribute === 'Arn') return `arn:aws:iam::${ACCOUNT}:role/${String(r.Properties.RoleName ?? id)}`;
      if (r.Type === 'AWS::ECR::Repository' && attribute === 'Arn') return `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${String(r.Properties.RepositoryName)}`;
      if (r.Type === 'Custom::AmunDescribeCluster' && attribute === 'cluster.endpoint') return front.endpoint;
      if (r.Type === 'Custom::AmunDescribeCluster' && attribute === 'cluster.certificateAuthority.data') return front.caData;
      return undefined;
    },
  };
}

/** The function's environment on the embedded stack, from its template entry. */
function environmentOf(name: string, dirOfCode: string, node: string): Record<string, string> {
  const props = propsOf(name);
  const stack = embeddedStack();
  const variables = Object.fromEntries(Object.entries(props.Environment.Variables as Record<string, unknown>).map(([key, value]) => [key, evaluate(value, s.json, stack)]));
  return lambdaEnvironment({
    functionName: String(props.FunctionName),
    memoryMb: Number(props.MemorySize),
    runtime: String(props.Runtime),
    dir: dirOfCode,
    node,
    region: REGION,
    credentials: ROLE_CREDENTIALS,
    logging: props.LoggingConfig,
    variables,
    overrides: { AWS_ENDPOINT_URL: emulator.endpoint, AWS_ENDPOINT_URL_STS: sts.url },
  });
}

function start(name: string, codeDir: string): LambdaProcess {
  const props = propsOf(name);
  const node = lambdaNode(String(props.Runtime));
  const env = environmentOf(name, codeDir, node);
  envs.set(name, env);
  return new LambdaProcess({
    functionName: String(props.FunctionName),
    dir: codeDir,
    handler: String(props.Handler),
    node,
    env,
    memoryMb: Number(props.MemorySize),
    timeoutSeconds: Number(props.Timeout),
  });
}

/** An API request through the gateway's route, answered by the api bundle. */
async function http(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: any; text: string }> {
  const answer = await lambda('api').invoke<{ statusCode: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean }>(
    httpApiEvent(gatewayRoutes(s.json), { method, path, ...(body !== undefined ? { body } : {}), ...(query ? { query } : {}) }),
  );
  const text = answer.isBase64Encoded ? Buffer.from(answer.body ?? '', 'base64').toString('utf8') : (answer.body ?? '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: answer.statusCode, headers: answer.headers ?? {}, body: parsed, text };
}

/** Delivers records to a queue-triggered bundle as the event source mapping does; deletes those it reports done. */
async function deliver(name: Name, queue: QueueName, records: SQSRecord[]): Promise<SQSBatchResponse> {
  const response = await lambda(name).invoke<SQSBatchResponse>(sqsEvent(records));
  const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  await deleteRecords(
    sqs,
    queueUrl(queue),
    records.filter((r) => !failed.has(r.messageId)),
  );
  return response;
}

const bodies = (records: SQSRecord[]) => records.map((r) => JSON.parse(r.body) as Record<string, unknown>);
/** Records of an S3 notification queue that announce `key`. */
const announcing = (key: string) => (records: SQSRecord[]) => records.filter((r) => r.body.includes(`"key":"${encodeEventKey(key)}"`));
const text = async (key: string) => (await store.get(key))?.toString('utf8');
const remoteText = (e: RemoteError | undefined): string => (e ? `${e.name}: ${e.message}\n${e.stack ?? ''}\n${remoteText(e.cause)}` : '');

beforeAll(async () => {
  s = synth({ context: CONTEXT });
  dir = tempDir('amun-bundled-');
  const api = propsOf('api').Environment.Variables as Record<string, string>;
  layout = new Layout(api[ENV.storePrefix]!);
  specsPrefix = api[ENV.specsPrefix]!;
  emulator = await startEmulator({ dataDir: join(dir.path, 'storage'), bucket: BUCKET, storePrefix: api[ENV.storePrefix]!, specsPrefix, region: REGION });
  fake = await startFakeApiServer({ dir: dir.path, namespace: api[ENV.k8sNamespace]!, start: new Date() });
  s3 = makeS3Client({ region: REGION, endpoint: emulator.endpoint });
  front = await startEksFront(fake, { name: api[ENV.k8sClusterName]!, region: REGION, identities: [ROLE_CREDENTIALS] }, dir.path);
  // The upload role admits the functions that create Jobs (the stack's grants); here, the one identity.
  const uploadRole = evaluate(propsOf('build').Environment.Variables[ENV.k8sUploadRoleArn], s.json, embeddedStack());
  sts = await startFakeSts({ region: REGION, callers: [ROLE_CREDENTIALS], roles: { [uploadRole]: [ROLE_CREDENTIALS.accessKeyId] } });
  store = new S3ObjectStore(s3, BUCKET);
  sqs = makeSqsClient({ region: REGION, endpoint: emulator.endpoint });
}, 300_000);

afterAll(async () => {
  // AMUN_BUNDLED_LOGS=1 npm test -- test/infra/bundled-assets.test.ts: what each function logged.
  if (process.env.AMUN_BUNDLED_LOGS) for (const [name, l] of lambdas) process.stderr.write(`--- ${name}\n${l.logs}\n`);
  await Promise.all([...lambdas.values()].map((l) => l.stop()));
  await front?.close();
  await sts?.close();
  await fake?.close();
  s3?.destroy();
  sqs?.destroy();
  await emulator?.stop();
  dir?.remove();
  removeTemporaryFolders();
  if (s) rmSync(s.assembly.directory, { recursive: true, force: true });
});

describe('every AWS function’s bundle, from its asset alone', () => {
  it.each(onAws.map((n) => [n]))('%s: loads on the template’s runtime from a copy of its asset with no node_modules above it', async (name) => {
    const copy = isolatedCopy(assetDir(s, fnOf(name)), name);
    expect(nodeModulesAbove(copy)).toEqual([]);
    const l = start(name, copy);
    lambdas.set(name, l);
    await expect(l.ready).resolves.toBeUndefined();
    // The configuration the function checked at cold start is the template's, references resolved.
    expect(envs.get(name)).toMatchObject({ [ENV.bucket]: BUCKET, [ENV.executor]: 'kubernetes', [ENV.k8sEndpoint]: front.endpoint, [ENV.workQueueUrl]: queueUrl('work') });
  });
});

describe('the pipeline, through the bundles', () => {
  let id: string;
  let workRecords: SQSRecord[];
  let hello: Record<string, unknown>;

  it('api: POST /api/v1/inspect with a valid spec → 202 with the id, the spec objects in S3, a build message on the work queue', async () => {
    hello = (await loadSpec(join(repoRoot, 'examples', 'hello-world.yaml'))).spec;
    const answer = await http('POST', '/api/v1/inspect', hello);
    expect(answer.status).toBe(202);
    id = answer.body.inspection_id;
    expect(isInspectionId(id)).toBe(true);
    expect(answer.body.parameters).toMatchObject({ base: hello.base, identifier: hello.identifier, batch_size: hello.batch_size, script: hello.script });

    expect(JSON.parse((await text(layout.specification(id)))!)).toMatchObject({ base: hello.base, script: hello.script });
    expect(await text(layout.dockerfile(id))).toContain(`FROM ${String(hello.base)}`);
    workRecords = await receiveRecords(sqs, queueUrl('work'), REGION, (r) => r.length >= 1);
    expect(bodies(workRecords)).toEqual([{ type: 'build', inspection_id: id }]);
  });

  it('api: GET the status of that id → 200 from the store, the cluster asked for its view', async () => {
    const asked = front.accepted.length;
    const answer = await http('GET', `/api/v1/inspect/${id}/status`);
    expect(answer.status).toBe(200);
    expect(answer.body.status).toMatchObject({ data_stored: true, build: { state: 'scheduling' }, workflow: { state: 'pending' } });
    // The api loaded the Kubernetes client shipped beside it and got into the cluster with an EKS token signed by its own identity.
    expect(front.accepted.slice(asked).map((r) => r.path)).toEqual(expect.arrayContaining([expect.stringMatching(/\/jobs\?labelSelector=/)]));
    expect(new Set(front.accepted.slice(asked).map((r) => r.accessKeyId))).toEqual(new Set([ROLE_CREDENTIALS.accessKeyId]));
    expect(front.rejected).toEqual([]);
  });

  it('api: a bad request → 400 with the JSON paths of its problems; an unknown id → 404', async () => {
    const bad = await http('POST', '/api/v1/inspect', { ...hello, batch_size: 'three', surprise: true });
    expect(bad.status).toBe(400);
    expect(bad.body.problems.map((p: { path: string }) => p.path)).toEqual(expect.arrayContaining(['/batch_size', '/surprise']));
    const missing = await http('GET', `/api/v1/inspect/${id.slice(0, -1)}x/status`);
    expect(missing.status).toBe(404);
  });

  it('api: the Swagger UI and the results explorer are served from the files shipped beside the bundle', async () => {
    for (const path of ['/api/v1/ui/swagger-ui-bundle.js', '/explorer/explorer.js']) {
      const answer = await http('GET', path);
      expect({ path, status: answer.status, type: answer.headers['content-type'] }).toEqual({ path, status: 200, type: expect.stringMatching(/javascript/) });
      expect(answer.text.length).toBeGreaterThan(10_000);
    }
  });

  it('build: the work message, as SQS delivers it → the build Job and its upload Secret in the cluster, the log in S3; the Job reports the status itself', async () => {
    const requests = front.accepted.length;
    expect(await deliver('build', 'work', workRecords)).toEqual({ batchItemFailures: [] });

    const jobs = fake.list('Job').filter((j) => j.metadata.labels?.[LABELS.inspection] === id);
    expect(jobs.map((j) => j.metadata.labels[LABELS.component])).toEqual(['build']);
    const [job] = jobs;
    const images = [...(job!.spec.template.spec.initContainers ?? []), ...job!.spec.template.spec.containers].map((c: { image: string }) => c.image);
    expect(images).toEqual(expect.arrayContaining([CONTEXT.builderImage, CONTEXT.uploaderImage]));
    const secrets = fake.list('Secret').filter((x) => (x.metadata.ownerReferences ?? []).some((o: { uid: string }) => o.uid === job!.metadata.uid));
    expect(secrets).toHaveLength(1);
    const grant = Object.values<string>(secrets[0]!.data).map((v) => Buffer.from(v, 'base64').toString('utf8')).join('\n');
    // Presigned for the store the functions use, for the two objects the report step uploads.
    expect(grant).toContain(`${emulator.endpoint}/${BUCKET}/${layout.buildStatus(id)}?`);
    expect(grant).toContain(`${emulator.endpoint}/${BUCKET}/${layout.buildLog(id)}?`);
    // Signed by the upload role's session, which the function assumed through STS with its own identity.
    expect(sts.calls).toEqual([{ roleArn: envs.get('build')![ENV.k8sUploadRoleArn], durationSeconds: UPLOAD_SESSION_SECONDS, sessionName: UPLOAD_SESSION_NAME, signedBy: ROLE_CREDENTIALS.accessKeyId }]);
    expect(sts.rejected).toEqual([]);
    const signers = [...grant.matchAll(/X-Amz-Credential=([^%&/]+)(?:%2F|\/)/g)].map((m) => m[1]);
    expect(signers.length).toBeGreaterThan(0);
    expect(new Set(signers)).toEqual(new Set([sts.sessions[0]!.accessKeyId]));
    const tokens = [...grant.matchAll(/X-Amz-Security-Token=([^&\s"]+)/g)].map((m) => decodeURIComponent(m[1]!));
    expect(new Set(tokens)).toEqual(new Set([sts.sessions[0]!.sessionToken]));
    // The function got into the cluster with its own identity.
    expect(front.accepted.slice(requests).map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual(expect.arrayContaining([expect.stringMatching(/^POST .*\/jobs$/), expect.stringMatching(/^POST .*\/secrets$/)]));
    expect(new Set(front.accepted.slice(requests).map((r) => r.accessKeyId))).toEqual(new Set([ROLE_CREDENTIALS.accessKeyId]));
    expect(front.rejected).toEqual([]);

    expect(await text(layout.buildLog(id))).toContain(job!.metadata.name);
    expect(await store.get(layout.contextTarball(id))).toBeDefined();
    expect(await store.get(layout.buildStatus(id))).toBeUndefined();
  });

  it('api: while the builder runs, the status says so and carries the cluster’s live view of the Job', async () => {
    const job = fake.list('Job').find((j) => j.metadata.labels?.[LABELS.inspection] === id)!;
    const [pod] = fake.startPods(job.metadata.name, [0]);
    const answer = await http('GET', `/api/v1/inspect/${id}/status`);
    expect(answer.status).toBe(200);
    expect(answer.body.status.build.state).toBe('running');
    expect(answer.body.status.workflow.cluster.jobs).toEqual([expect.objectContaining({ name: job.metadata.name, component: 'build', active: 1, pods: [expect.objectContaining({ name: pod!.metadata.name })] })]);
  });

  it('reconcile: an EventBridge tick after the builder was OOMKilled writes the failed build status', async () => {
    const job = fake.list('Job').find((j) => j.metadata.labels?.[LABELS.inspection] === id)!;
    const pod = fake.list('Pod').find((p) => p.metadata.ownerReferences?.[0]?.uid === job.metadata.uid)!;
    const builder = job.spec.template.spec.initContainers?.[0]?.name ?? job.spec.template.spec.containers[0].name;
    const ended = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    fake.setPodStatus(pod.metadata.name, {
      phase: 'Failed',
      initContainerStatuses: [{ name: builder, ready: false, restartCount: 0, image: CONTEXT.builderImage, imageID: '', state: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: ended } } }],
    });
    fake.setLog(pod.metadata.name, builder, 'INFO Unpacking rootfs\n');
    fake.setJobStatus(job.metadata.name, { active: 0, failed: 1, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: ended }] });

    const report = await lambda('reconcile').invoke<Record<string, number>>(scheduledEvent(s.json, logicalId(s, fnOf('reconcile').fn.node.defaultChild), REGION));
    expect(report).toMatchObject({ jobs: 1, build_statuses: 1, errors: 0 });
    expect(JSON.parse((await text(layout.buildStatus(id)))!)).toMatchObject({ inspection_id: id, state: 'failed', reason: 'oom', executor: 'kubernetes' });
    expect(await text(layout.buildLog(id))).toContain('INFO Unpacking rootfs');
    expect(new Set(front.accepted.map((r) => r.accessKeyId))).toEqual(new Set([ROLE_CREDENTIALS.accessKeyId]));
    expect(front.rejected).toEqual([]);
  });

  it('schedule: the build status’s S3 notification, through its queue → the inspection closes as failed and its completion message is sent', async () => {
    const records = announcing(layout.buildStatus(id))(await receiveRecords(sqs, queueUrl('scheduleEvents'), REGION, (r) => announcing(layout.buildStatus(id))(r).length > 0));
    expect(records).toHaveLength(1);
    expect(await deliver('schedule', 'scheduleEvents', records)).toEqual({ batchItemFailures: [] });

    const status = await http('GET', `/api/v1/inspect/${id}/status`);
    expect(status.body.status.workflow).toMatchObject({ state: 'failed', finished: true });
    const completions = await receiveRecords(sqs, queueUrl('completions'), REGION, (r) => r.length > 0);
    await deleteRecords(sqs, queueUrl('completions'), completions);
    expect(bodies(completions)).toEqual([expect.objectContaining({ type: 'inspection_completed', inspection_id: id, state: 'failed', batch_size: hello.batch_size })]);
  });

  let dropped: string;

  it('ingest: a spec dropped under the specs prefix, its S3 notification through its queue → submitted, the drop marked consumed', async () => {
    const key = `${specsPrefix}nightly hello (bundled).json`;
    const spec = { ...hello, identifier: 'dropped', batch_size: 1 };
    await store.put(key, JSON.stringify(spec), 'application/json');
    const records = announcing(key)(await receiveRecords(sqs, queueUrl('ingestEvents'), REGION, (r) => announcing(key)(r).length > 0));
    expect(records).toHaveLength(1);
    expect(await deliver('ingest', 'ingestEvents', records)).toEqual({ batchItemFailures: [] });

    const consumed = JSON.parse((await text(markerKeys(key).consumed))!) as { inspection_id: string };
    dropped = consumed.inspection_id;
    expect(isInspectionId(dropped)).toBe(true);
    expect(JSON.parse((await text(layout.specification(dropped)))!)).toMatchObject({ identifier: 'dropped', batch_size: 1 });
    const work = await receiveRecords(sqs, queueUrl('work'), REGION, (r) => r.length > 0);
    await deleteRecords(sqs, queueUrl('work'), work);
    expect(bodies(work)).toEqual([{ type: 'build', inspection_id: dropped }]);
  });

  it('index: a run result appears, its S3 notification through its queue → the summary counts it and the inspection finishes', async () => {
    const now = new Date();
    const report = { ...syntheticResult({ inspectionId: dropped, item: 0, executor: 'kubernetes', reason: 'executor_error', message: '', script: String(hello.script), startedAt: new Date(now.getTime() - 1000), finishedAt: now }), exit_code: 0, reason: null, message: null, stdout: { greeting: 'hello' } };
    expect(validators.result(report)).toBe(true);
    // What a run pod's upload sidecar does: the log, then the result (the trigger).
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: layout.resultLog(dropped, 0), Body: 'hello\n' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: layout.result(dropped, 0), Body: JSON.stringify(report), ContentType: 'application/json' }));
    const records = announcing(layout.result(dropped, 0))(await receiveRecords(sqs, queueUrl('indexEvents'), REGION, (r) => announcing(layout.result(dropped, 0))(r).length > 0));
    expect(records).toHaveLength(1);
    expect(await deliver('index', 'indexEvents', records)).toEqual({ batchItemFailures: [] });

    const status = await http('GET', `/api/v1/inspect/${dropped}/status`);
    expect(status.body.status.workflow).toMatchObject({ state: 'succeeded', finished: true });
    const count = await http('GET', `/api/v1/inspect/${dropped}/job/batch-size`);
    expect(count.body.batch_size).toBe(1);
    const completions = await receiveRecords(sqs, queueUrl('completions'), REGION, (r) => r.length > 0);
    await deleteRecords(sqs, queueUrl('completions'), completions);
    expect(bodies(completions)).toEqual([expect.objectContaining({ type: 'inspection_completed', inspection_id: dropped, state: 'succeeded' })]);
  });
});

describe('the check catches a bundling mistake', () => {
  it('control: the reconcile asset without the Kubernetes client beside it still loads (the client is loaded on first use) but its first tick fails on the missing package', async () => {
    const copy = isolatedCopy(assetDir(s, fnOf('reconcile')), 'reconcile-without-client', { without: ['node_modules'] });
    const l = start('reconcile', copy);
    try {
      await l.ready;
      const outcome = await l.invoke(scheduledEvent(s.json, logicalId(s, fnOf('reconcile').fn.node.defaultChild), REGION)).then(
        () => 'answered',
        (error: InvocationError) => remoteText(error.remote),
      );
      expect(outcome).toMatch(/@kubernetes\/client-node/);
    } finally {
      await l.stop();
    }
  });
});
