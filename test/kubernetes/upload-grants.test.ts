/**
 * Upload grants that outlive the credentials that sign them. A run Job may run for hours; a grant
 * works only while the session that signed it does, and a role assumed by a Lambda function's
 * role lasts one hour at most. The executor signs each Job's first grant with a session of the
 * upload role (STS AssumeRole over HTTP, a fake STS on the test's clock) and says on the Job when
 * it ends; the reconciler renews it with a fresh session before then, replacing the Secret the
 * upload step reads when it uploads. The embedded S3 sits behind a gate that judges each
 * presigned POST as S3 does (the session's expiry, the policy's expiration, the signature), so a
 * grant that has ended is refused here as it would be on AWS.
 *
 * Against the fake API server, the embedded S3 and a registry over HTTP; the pod's harness and
 * upload step are the real ones (support/pods.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ClientNodeKubeApi, kubeconfigFile } from '../../functions/adapters/kubernetes/kube-api.js';
import { KubernetesExecutor } from '../../functions/adapters/kubernetes/executor.js';
import { ImageRecords } from '../../functions/adapters/kubernetes/images.js';
import { OciRegistry } from '../../functions/adapters/kubernetes/registry.js';
import { Reconciler } from '../../functions/adapters/kubernetes/reconciler.js';
import { assumedRoleGrantCredentials, stsAssumeRole, UPLOAD_SESSION_NAME, UPLOAD_SESSION_SECONDS } from '../../functions/adapters/kubernetes/upload-grant-credentials.js';
import { DEFAULT_REFRESH_BEFORE_SECONDS, GRANT_MARGIN_SECONDS, grantDue, grantNeededUntil } from '../../functions/adapters/kubernetes/upload-grants.js';
import { S3UploadSigner } from '../../functions/adapters/kubernetes/upload-signer.js';
import { buildImageTag, objectName } from '../../functions/adapters/kubernetes/manifests/index.js';
import { runJobDeadline } from '../../functions/adapters/kubernetes/manifests/run-job.js';
import { encodeContext } from '../../functions/core/context.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import { stableJson } from '../../functions/core/json.js';
import { Layout } from '../../functions/core/layout.js';
import { tempDir } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';
import { cpuPinnedSpec, settings } from './support/fixtures.js';
import { runItemPod, type PodSource } from './support/pods.js';
import { manifestFor, startFakeRegistry, type FakeRegistry } from './support/registry.js';
import { BUCKET, REGION, startEmbeddedS3, type EmbeddedS3 } from './support/s3.js';
import { startFakeSts, type FakeSts } from '../support/fake-sts.js';
import { startS3Gate, type S3Gate } from './support/sts-and-s3-checks.js';

const T0 = new Date('2025-03-01T10:00:00Z');
const ID = 'inspection-long-run-0123abcd';
const ROLE = 'arn:aws:iam::123456789012:role/dev-amun-upload-grants';
/** The functions' own identity: the one caller STS knows. */
const FUNCTIONS = { accessKeyId: 'AKIAFUNCTIONSEXAMPLE', secretAccessKey: 'functions-secret', sessionToken: 'functions-token' };
/** Per run; the Job's deadline covers its three runs one after another: 2 h 51 min, almost three upload sessions. */
const DEADLINE_SECONDS = 3000;
const layout = new Layout('inspections');
const minutes = (m: number): Date => new Date(T0.getTime() + m * 60_000);

describe('upload grants outlive the sessions that sign them', () => {
  const dir = tempDir('amun-grants-');
  let fake: FakeApiServer;
  let s3: EmbeddedS3;
  let registry: FakeRegistry;
  let sts: FakeSts;
  let gate: S3Gate;
  let executor: KubernetesExecutor;
  let reconciler: Reconciler;
  const clock = { now: () => fake.now() };

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path, start: T0 });
    s3 = await startEmbeddedS3(join(dir.path, 's3'));
    registry = await startFakeRegistry();
    sts = await startFakeSts({ region: REGION, now: clock.now, callers: [FUNCTIONS], roles: { [ROLE]: [FUNCTIONS.accessKeyId] } });
    gate = await startS3Gate({ target: s3.endpoint, now: clock.now, sessions: () => sts.sessions, region: REGION });
    const signer = new S3UploadSigner({
      bucket: BUCKET,
      region: REGION,
      endpoint: gate.url,
      credentials: assumedRoleGrantCredentials({ roleArn: ROLE, assumeRole: stsAssumeRole({ region: REGION, credentials: async () => FUNCTIONS, clock, endpoint: sts.url }), clock }),
      clock,
    });
    const api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
    const images = new ImageRecords({ store: s3.store, layout, registry: new OciRegistry(), registryName: registry.repository, clock });
    executor = new KubernetesExecutor({ api, records: s3.records, signer, images, settings: settings({ registry: registry.repository }), clock });
    reconciler = new Reconciler({ api, records: s3.records, clock, images, grants: executor.grants });
  });
  afterAll(async () => {
    await gate?.close();
    await sts?.close();
    await registry?.close();
    await s3?.stop();
    await fake?.close();
    dir.remove();
  });

  const jobName = objectName(ID, 'run');
  const secretName = objectName(ID, 'run-upload');
  const grantEnds = (): string | undefined => fake.get('Job', jobName)?.metadata.annotations?.['amun/upload-grant-expires-at'];
  const policyOf = (secret: { data: Record<string, string> }): { expiration: string } => {
    const curlrc = Buffer.from(secret.data['post.curlrc']!, 'base64').toString('utf8');
    const policy = /form-string = "policy=([^"]+)"/.exec(curlrc)?.[1] ?? /policy=([A-Za-z0-9+/=]+)/.exec(curlrc)?.[1];
    return JSON.parse(Buffer.from(policy!, 'base64').toString('utf8')) as { expiration: string };
  };
  let firstGrant: { data: Record<string, string>; metadata: { labels: Record<string, string> } };
  let jobDeadline: number;

  it('the first grant ends with the upload session that signed it, and the Job says when', async () => {
    const spec = cpuPinnedSpec();
    const { dockerfile, context, stackDigest } = generateBuild(spec, harnessFiles);
    await s3.store.put(layout.specification(ID), stableJson(spec), 'application/json');
    await s3.store.put(layout.dockerfile(ID), dockerfile, 'text/plain');
    await s3.store.put(layout.context(ID), encodeContext(context), 'application/json');
    const digest = registry.push(buildImageTag(registry.repository, stackDigest, ID).split(':').at(-1)!, manifestFor(ID));
    const build: BuildStatus = {
      inspection_id: ID, state: 'succeeded', started_at: T0.toISOString(), finished_at: T0.toISOString(), exit_code: 0, reason: null, message: null, executor: 'kubernetes',
      image: buildImageTag(registry.repository, stackDigest, ID), image_digest: digest, stack_digest: stackDigest, cached: false,
    };
    expect(await executor.startRuns({ inspectionId: ID, spec, build, stackDigest, context: async () => context, deadlineSeconds: DEADLINE_SECONDS })).toEqual({ state: 'started' });
    jobDeadline = fake.get('Job', jobName)!.spec.activeDeadlineSeconds as number;
    expect(jobDeadline).toBe(runJobDeadline(spec.batch_size ?? 1, spec.run?.parallelism ?? 1, DEADLINE_SECONDS));
    expect(jobDeadline).toBeGreaterThan(2.5 * UPLOAD_SESSION_SECONDS);
    expect(sts.calls).toEqual([{ roleArn: ROLE, durationSeconds: UPLOAD_SESSION_SECONDS, sessionName: UPLOAD_SESSION_NAME, signedBy: FUNCTIONS.accessKeyId }]);
    expect(sts.rejected).toEqual([]);
    expect(grantEnds()).toBe(minutes(60).toISOString());
    firstGrant = structuredClone(fake.get('Secret', secretName)) as typeof firstGrant;
    expect(policyOf(firstGrant).expiration).toBe(minutes(60).toISOString());
    // The Job controller's part: its one pod runs.
    fake.setJobStatus(jobName, { active: 1, startTime: T0.toISOString() });
    fake.startPods(jobName, [0]);
  });

  it('the reconciler renews the grant before each session ends, with a fresh session, until the grant covers the deadline', async () => {
    const renewedAt: number[] = [];
    for (let m = 5; m <= 150; m += 5) {
      fake.advance(300);
      const report = await reconciler.run();
      expect(report.errors).toBe(0);
      if (report.grants > 0) renewedAt.push(m);
    }
    // 20 minutes ahead of each end: sessions from 0, 45 and 90 min end at 60, 105 and 150; the one from 135 outlasts the deadline and its margin.
    expect(renewedAt).toEqual([45, 90, 135]);
    expect(sts.calls).toHaveLength(4);
    expect(sts.rejected).toEqual([]);
    const needed = new Date(T0.getTime() + (jobDeadline + GRANT_MARGIN_SECONDS) * 1000);
    expect(needed.getTime()).toBeLessThan(minutes(195).getTime());
    expect(grantEnds()).toBe(needed.toISOString());
    const secret = fake.get('Secret', secretName) as { data: Record<string, string>; metadata: { ownerReferences: Array<{ kind: string; name: string }>; labels: Record<string, string> } };
    expect(policyOf(secret).expiration).toBe(needed.toISOString());
    // Still the Job's own Secret: owned by it (goes with it), labelled as the executor made it.
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: jobName })]);
    expect(secret.metadata.labels).toEqual(firstGrant.metadata.labels);
  });

  it('a run that ends two and a half hours in, long after the first session expired, still uploads its result', async () => {
    expect(fake.now().toISOString()).toBe(minutes(150).toISOString());
    expect(sts.sessions[0]!.expiration.getTime()).toBeLessThan(fake.now().getTime());
    const source: PodSource = { job: async (name) => fake.get('Job', name), secret: async (name) => fake.get('Secret', name) };
    const pod = await runItemPod(source, jobName, 0, 'print("a long run")\n', join(dir.path, 'pod'));
    expect({ harness: pod.harness.code, upload: pod.upload.code, stderr: pod.upload.stderr }).toEqual({ harness: 0, upload: 0, stderr: '' });
    expect(gate.verdicts.at(-1)).toBe('accepted');
    const result = JSON.parse((await s3.text(layout.result(ID, 0)))!) as RunReport;
    expect(result).toMatchObject({ exit_code: 0, stdout: 'a long run\n' });
  });

  it('the first grant, had it not been renewed, is refused by S3 at that time', async () => {
    const source: PodSource = { job: async (name) => fake.get('Job', name), secret: async () => firstGrant };
    mkdirSync(join(dir.path, 'stale'), { recursive: true });
    const before = gate.verdicts.length;
    const pod = await runItemPod(source, jobName, 1, 'print("too late")\n', join(dir.path, 'stale'));
    expect(pod.upload.code).not.toBe(0);
    expect(gate.verdicts.slice(before)[0]).toBe('ExpiredToken: The provided token has expired.');
    expect(await s3.store.exists(layout.result(ID, 1))).toBe(false);
  });
});

describe('grant renewal decisions', () => {
  const job = { createdAt: '2025-03-01T10:00:00Z', startTime: '2025-03-01T10:00:10Z', activeDeadlineSeconds: 600 };

  it('a grant is needed until the deadline from the Job’s start, plus the margin', () => {
    expect(grantNeededUntil(job, T0).toISOString()).toBe(new Date(Date.parse(job.startTime) + (600 + GRANT_MARGIN_SECONDS) * 1000).toISOString());
    expect(grantNeededUntil({ ...job, startTime: null }, T0).toISOString()).toBe(new Date(Date.parse(job.createdAt) + (600 + GRANT_MARGIN_SECONDS) * 1000).toISOString());
  });

  it('renews a grant that ends within the refresh window before it is no longer needed; never one that covers the need; always when the Job does not say', () => {
    const needed = minutes(180);
    const ends = (m: number) => ({ 'amun/upload-grant-expires-at': minutes(m).toISOString() });
    expect(grantDue(ends(60), needed, minutes(39), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(false);
    expect(grantDue(ends(60), needed, minutes(41), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(true);
    expect(grantDue(ends(60), needed, minutes(70), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(true);
    expect(grantDue(ends(180), needed, minutes(170), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(false);
    expect(grantDue({}, needed, minutes(1), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(true);
    expect(grantDue({ 'amun/upload-grant-expires-at': 'soon' }, needed, minutes(1), DEFAULT_REFRESH_BEFORE_SECONDS)).toBe(true);
  });

  it('reuses a session while it covers most of an hour, asks STS again otherwise, and does not keep a failed call', async () => {
    let now = T0;
    const issued: Array<{ expiration: Date }> = [];
    let fail = false;
    const credentials = assumedRoleGrantCredentials({
      roleArn: ROLE,
      clock: { now: () => now },
      assumeRole: async () => {
        if (fail) throw new Error('STS is down');
        const session = { accessKeyId: `ASIA${issued.length}`, secretAccessKey: 's', sessionToken: 't', expiration: new Date(now.getTime() + 3600_000) };
        issued.push(session);
        return session;
      },
    });
    expect((await credentials(minutes(300))).accessKeyId).toBe('ASIA0');
    now = minutes(5);
    expect((await credentials(minutes(300))).accessKeyId).toBe('ASIA0');
    // A grant that ends before the session does takes it whatever is left.
    now = minutes(30);
    expect((await credentials(minutes(40))).accessKeyId).toBe('ASIA0');
    expect((await credentials(minutes(300))).accessKeyId).toBe('ASIA1');
    now = minutes(120);
    fail = true;
    await expect(credentials(minutes(300))).rejects.toThrow('STS is down');
    fail = false;
    expect((await credentials(minutes(300))).accessKeyId).toBe('ASIA2');
  });

  it('an STS refusal fails with its code and message', async () => {
    // A caller whose signature verifies, but whom the role does not admit.
    const refusing = await startFakeSts({ region: REGION, now: () => T0, callers: [FUNCTIONS], roles: { [ROLE]: ['AKIASOMEONEELSE'] } });
    try {
      const assume = stsAssumeRole({ region: REGION, credentials: async () => FUNCTIONS, clock: { now: () => T0 }, endpoint: refusing.url });
      await expect(assume({ RoleArn: ROLE, RoleSessionName: UPLOAD_SESSION_NAME, DurationSeconds: 3600 })).rejects.toThrow(/HTTP 403, AccessDenied\): User: AKIAFUNCTIONSEXAMPLE is not authorized to perform: sts:AssumeRole/);
      // One that signs with the wrong secret does not get as far.
      const forged = stsAssumeRole({ region: REGION, credentials: async () => ({ ...FUNCTIONS, secretAccessKey: 'guessed' }), clock: { now: () => T0 }, endpoint: refusing.url });
      await expect(forged({ RoleArn: ROLE, RoleSessionName: UPLOAD_SESSION_NAME, DurationSeconds: 3600 })).rejects.toThrow(/HTTP 403, SignatureDoesNotMatch\)/);
      expect(refusing.calls).toEqual([]);
    } finally {
      await refusing.close();
    }
  });
});
