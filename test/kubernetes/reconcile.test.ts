/**
 * The reconciler: its pure decisions for every way a pod can end without writing its objects
 * (OOMKilled, evicted, deadline, image pull failure, an upload that never arrived), and its I/O
 * against the fake API server and the embedded S3 (the report step's printed status as fallback,
 * foreign Jobs left alone, results found across S3's list pages, the images of script-less builds
 * recorded); plus the executor's refusals of hardware the cluster cannot place.
 */
import { createHash } from 'node:crypto';
import { ClientNodeKubeApi, kubeconfigFile } from '../../functions/adapters/kubernetes/kube-api.js';
import { KubernetesExecutor } from '../../functions/adapters/kubernetes/executor.js';
import { ImageRecords } from '../../functions/adapters/kubernetes/images.js';
import { OciRegistry } from '../../functions/adapters/kubernetes/registry.js';
import type { UploadSigner } from '../../functions/adapters/kubernetes/upload-signer.js';
import { stableJson } from '../../functions/core/json.js';
import { buildImageTag, buildJob, objectName, runJob } from '../../functions/adapters/kubernetes/manifests/index.js';
import { observePod, type ContainerObservation, type JobObservation, type PodObservation } from '../../functions/adapters/kubernetes/model/observe.js';
import { LABEL_PRESETS } from '../../functions/adapters/kubernetes/manifests/placement.js';
import { DEFAULT_RECONCILE_POLICY, reconcileBuild, reconcileRun } from '../../functions/adapters/kubernetes/model/reconcile.js';
import { Layout } from '../../functions/core/layout.js';
import { InspectionRecords } from '../../functions/core/records.js';
import type { LogSink } from '../../functions/core/ports.js';
import { validators } from '../../functions/core/validation.js';
import { Reconciler } from '../../functions/adapters/kubernetes/reconciler.js';
import { tempDir } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';
import { cpuPinnedSpec, DIGEST, settings } from './support/fixtures.js';
import { startFakeRegistry, type FakeRegistry } from './support/registry.js';
import { startEmbeddedS3, type EmbeddedS3 } from './support/s3.js';

const ID = 'inspection-reconcile-0123abcd';
const T0 = '2025-03-01T10:00:00Z';
const at = (seconds: number): Date => new Date(Date.parse(T0) + seconds * 1000);
const iso = (seconds: number): string => at(seconds).toISOString().replace('.000Z', 'Z');
const policy = DEFAULT_RECONCILE_POLICY;
/** An upload grant that outlives every Job of these tests (grant renewal has tests of its own). */
const GRANT_LASTS = { 'amun/upload-grant-expires-at': '2030-01-01T00:00:00.000Z' };

function container(name: string, state: Partial<ContainerObservation> = {}): ContainerObservation {
  return { name, init: false, state: 'running', reason: null, message: null, exitCode: null, startedAt: T0, finishedAt: null, ...state };
}
function pod(index: number | null, partial: Partial<PodObservation> = {}): PodObservation {
  return { name: `p-${index ?? 'b'}`, index, phase: 'Running', reason: null, message: null, nodeName: 'node-1', createdAt: T0, startTime: T0, disrupted: false, containers: [], ...partial };
}
function job(component: 'build' | 'run', partial: Partial<JobObservation> = {}): JobObservation {
  return {
    name: `${ID}-${component}`, uid: 'u', inspectionId: ID, component, completions: component === 'build' ? 1 : 2, createdAt: T0, startTime: T0, completionTime: null,
    ttlSecondsAfterFinished: null, activeDeadlineSeconds: 1000, active: 0, succeeded: 0, failed: 0, completedIndexes: [], failedIndexes: [], conditions: [],
    annotations: { 'amun/stack-digest': DIGEST, ...GRANT_LASTS }, pods: [], ...partial,
  };
}
const failed = (reason: string) => [{ type: 'Failed', status: 'True', reason, message: null, lastTransitionTime: iso(300) }];

describe('build decisions', () => {
  it('a stored status leaves only the TTL to set, once', () => {
    expect(reconcileBuild(job('build', { conditions: [{ type: 'Complete', status: 'True', reason: null, message: null, lastTransitionTime: T0 }] }), { statusStored: true, now: at(10), policy })).toEqual([{ kind: 'ttl', job: `${ID}-build`, seconds: 900 }]);
    expect(reconcileBuild(job('build', { ttlSecondsAfterFinished: 900, conditions: failed('BackoffLimitExceeded') }), { statusStored: true, now: at(10), policy })).toEqual([]);
    expect(reconcileBuild(job('build'), { statusStored: false, now: at(10), policy })).toEqual([]);
  });

  it('an OOMKilled builder: failed status with reason oom, the builder log, then the TTL', () => {
    const p = pod(null, { phase: 'Failed', containers: [container('build', { init: true, state: 'terminated', reason: 'OOMKilled', exitCode: 137, finishedAt: iso(200) })] });
    const [status, ttl] = reconcileBuild(job('build', { conditions: failed('BackoffLimitExceeded'), pods: [p] }), { statusStored: false, now: at(400), policy });
    expect(status).toMatchObject({ kind: 'build-status', logs: [{ pod: 'p-b', container: 'build' }], status: { state: 'failed', reason: 'oom', executor: 'kubernetes', stack_digest: DIGEST, finished_at: iso(200) } });
    expect(validators.buildStatus((status as { status: unknown }).status)).toBe(true);
    expect(ttl).toEqual({ kind: 'ttl', job: `${ID}-build`, seconds: 900 });
  });

  it('an OOMKilled builder that failed the Job at once (podFailurePolicy) says which limit it had and how to get more', () => {
    const annotations = { 'amun/stack-digest': DIGEST, ...GRANT_LASTS, 'amun/builder-memory': '2Gi', 'amun/builder-ephemeral-storage': '10Gi' };
    const p = pod(null, { phase: 'Failed', containers: [container('build', { init: true, state: 'terminated', reason: 'OOMKilled', exitCode: 137, finishedAt: iso(200) })] });
    const [status] = reconcileBuild(job('build', { annotations, conditions: failed('PodFailurePolicy'), pods: [p] }), { statusStored: false, now: at(400), policy });
    expect(status).toMatchObject({ status: { state: 'failed', reason: 'oom' } });
    const message = (status as { status: { message: string } }).status.message;
    expect(message).toContain('killed for exceeding its memory limit (OOMKilled, exit code 137) on node node-1');
    expect(message).toContain("the builder's memory limit was 2Gi (the larger of build.requests.memory and the cluster's AMUN_K8S_BUILDER_MEMORY): ask for more with build.requests.memory");
  });

  it('a builder evicted for exceeding its ephemeral storage: reason evicted, the kubelet’s words and the storage it had', () => {
    const annotations = { 'amun/stack-digest': DIGEST, ...GRANT_LASTS, 'amun/builder-memory': '2Gi', 'amun/builder-ephemeral-storage': '30Gi' };
    const p = pod(null, { phase: 'Failed', reason: 'Evicted', message: 'Pod ephemeral local storage usage exceeds the total limit of containers 30Gi.', containers: [container('build', { init: true, state: 'terminated', reason: 'Error', exitCode: 137 })] });
    const [status, ttl] = reconcileBuild(job('build', { annotations, conditions: failed('PodFailurePolicy'), pods: [p] }), { statusStored: false, now: at(400), policy });
    expect(status).toMatchObject({ kind: 'build-status', status: { reason: 'evicted' } });
    expect((status as { status: { message: string } }).status.message).toBe(
      'the pod was evicted on node node-1: Pod ephemeral local storage usage exceeds the total limit of containers 30Gi; the builder had 30Gi of ephemeral storage (AMUN_K8S_BUILDER_EPHEMERAL_STORAGE, or AMUN_K8S_BUILDER_LARGE_EPHEMERAL_STORAGE for CUDA and deep learning stacks), less than this stack needs to build',
    );
    expect(validators.buildStatus((status as { status: unknown }).status)).toBe(true);
    expect(ttl).toEqual({ kind: 'ttl', job: `${ID}-build`, seconds: 900 });
  });

  it('a build whose pods were evicted by disruptions until its deadline: reason timeout, and the evictions named', () => {
    const evicted = (n: number) => pod(null, { name: `p-${n}`, phase: 'Failed', reason: 'Evicted', disrupted: true, message: 'The node was low on resource: ephemeral-storage.' });
    const [status] = reconcileBuild(job('build', { conditions: failed('DeadlineExceeded'), pods: [evicted(1), evicted(2), pod(null, { name: 'p-3' })] }), { statusStored: false, now: at(1100), policy });
    expect(status).toMatchObject({ status: { reason: 'timeout' } });
    expect((status as { status: { message: string } }).status.message).toMatch(/deadline of 1000 s passed .*; its pod was evicted 2 times and started again, the last time on node node-1: The node was low on resource: ephemeral-storage\.$/);
  });

  it('a completed build whose stored status succeeded asks for its image to be recorded; a cached or failed one does not', () => {
    const complete = [{ type: 'Complete', status: 'True', reason: null, message: null, lastTransitionTime: T0 }];
    const stored = { inspection_id: ID, state: 'succeeded', started_at: T0, finished_at: T0, exit_code: 0, reason: null, message: null, executor: 'kubernetes', image: `x/amun:${DIGEST}-0123456789abcdef`, image_digest: `sha256:${'e'.repeat(64)}`, stack_digest: DIGEST, cached: false } as const;
    expect(reconcileBuild(job('build', { conditions: complete }), { statusStored: true, stored, now: at(10), policy })).toEqual([
      { kind: 'record-image', inspectionId: ID, stackDigest: DIGEST, reported: `sha256:${'e'.repeat(64)}` },
      { kind: 'ttl', job: `${ID}-build`, seconds: 900 },
    ]);
    expect(reconcileBuild(job('build', { conditions: complete, ttlSecondsAfterFinished: 900 }), { statusStored: true, stored: { ...stored, cached: true }, now: at(10), policy })).toEqual([]);
    expect(reconcileBuild(job('build', { conditions: failed('BackoffLimitExceeded'), ttlSecondsAfterFinished: 900 }), { statusStored: true, stored, now: at(10), policy })).toEqual([]);
    expect(reconcileBuild(job('build', { conditions: complete, ttlSecondsAfterFinished: 900, annotations: {} }), { statusStored: true, stored, now: at(10), policy })).toEqual([]);
  });

  it('a build past its deadline: reason timeout', () => {
    const [status] = reconcileBuild(job('build', { conditions: failed('DeadlineExceeded') }), { statusStored: false, now: at(400), policy });
    expect(status).toMatchObject({ status: { reason: 'timeout', message: expect.stringContaining('deadline of 1000 s') } });
  });

  it('a builder image that cannot be pulled: given up after stuckSeconds, status image_pull_failed, Job deleted', () => {
    const p = pod(null, { phase: 'Pending', containers: [container('build', { init: true, state: 'waiting', reason: 'ImagePullBackOff', message: 'Back-off pulling image "kaniko:nope"' })] });
    expect(reconcileBuild(job('build', { pods: [p] }), { statusStored: false, now: at(100), policy })).toEqual([]);
    const actions = reconcileBuild(job('build', { pods: [p] }), { statusStored: false, now: at(700), policy });
    expect(actions.map((a) => a.kind)).toEqual(['build-status', 'delete']);
    expect(actions[0]).toMatchObject({ status: { reason: 'image_pull_failed', message: expect.stringContaining('kaniko:nope') } });
  });
});

describe('run decisions', () => {
  const ctx = (now: number, stored: number[] = []) => ({ stored: new Set(stored), script: 'print(1)\n', now: at(now), policy });

  it('an evicted pod’s item is lost with the eviction message; the other is still running', () => {
    const evicted = pod(0, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
    const actions = reconcileRun(job('run', { failedIndexes: [0], pods: [evicted, pod(1)] }), ctx(100));
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: 'result', item: 0, report: { reason: 'lost', executor: 'kubernetes', message: expect.stringContaining('low on resource'), hostname: 'p-0' } });
    expect(validators.result((actions[0] as { report: unknown }).report)).toBe(true);
  });

  it('a harness that exited non-zero without OOM is a harness_error', () => {
    const p = pod(1, { phase: 'Failed', containers: [container('harness', { state: 'terminated', exitCode: 2, reason: 'Error', finishedAt: iso(50) })] });
    const [action] = reconcileRun(job('run', { failedIndexes: [1], pods: [p] }), ctx(100, [0]));
    expect(action).toMatchObject({ item: 1, report: { reason: 'harness_error', exit_code: null, message: expect.stringContaining('exited with code 2') } });
  });

  it('a completed item whose upload never arrived is lost only after the grace period, with the upload log', () => {
    const p = pod(0, { phase: 'Succeeded', containers: [container('harness', { state: 'terminated', exitCode: 0, finishedAt: iso(100) }), container('upload', { init: true, state: 'terminated', exitCode: 1 })] });
    const observed = job('run', { completions: 1, completedIndexes: [0], pods: [p], conditions: [{ type: 'Complete', status: 'True', reason: null, message: null, lastTransitionTime: iso(101) }] });
    expect(reconcileRun(observed, ctx(150))).toEqual([]);
    const actions = reconcileRun(observed, ctx(300));
    expect(actions).toEqual([
      expect.objectContaining({ kind: 'result', item: 0, logs: [{ pod: 'p-0', container: 'harness' }, { pod: 'p-0', container: 'upload' }], report: expect.objectContaining({ reason: 'lost' }) }),
      { kind: 'ttl', job: `${ID}-run`, seconds: 900 },
    ]);
  });

  it('items that cannot pull their image are given up and the Job deleted', () => {
    const waiting = (i: number) => pod(i, { phase: 'Pending', containers: [container('harness', { state: 'waiting', reason: 'ErrImagePull', message: 'manifest unknown' })] });
    const actions = reconcileRun(job('run', { pods: [waiting(0), waiting(1)] }), ctx(700));
    expect(actions.map((a) => a.kind)).toEqual(['result', 'result', 'delete']);
    expect(actions[0]).toMatchObject({ report: { reason: 'executor_error', message: expect.stringContaining('manifest unknown') } });
  });

  it('every item stored and the Job finished: only the TTL', () => {
    expect(reconcileRun(job('run', { conditions: failed('FailedIndexes') }), ctx(10, [0, 1]))).toEqual([{ kind: 'ttl', job: `${ID}-run`, seconds: 900 }]);
  });
});

describe('reconciler against the fake API server and the embedded S3', () => {
  const dir = tempDir('amun-reconcile-');
  const layout = new Layout('inspections');
  let fake: FakeApiServer;
  let s3: EmbeddedS3;
  let registry: FakeRegistry;
  let api: ClientNodeKubeApi;

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path, start: at(0) });
    s3 = await startEmbeddedS3(`${dir.path}/s3`);
    registry = await startFakeRegistry();
    api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
  });
  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
    await fake?.close();
    dir.remove();
  });

  const images = () => new ImageRecords({ store: s3.store, layout, registry: new OciRegistry(), registryName: registry.repository, clock: { now: () => fake.now() } });
  const reconciler = (l = layout) =>
    new Reconciler({ api, records: new InspectionRecords({ store: s3.store, layout: l, logSink: () => ({ write: () => undefined, flush: async () => undefined }) }), clock: { now: () => fake.now() }, images: images() });

  it('takes the build status the report step printed when it could not upload it, and keeps the kaniko log', async () => {
    await s3.store.put(layout.specification(ID), stableJson(cpuPinnedSpec()));
    await api.createJob(buildJob({ inspectionId: ID, spec: cpuPinnedSpec(), stackDigest: DIGEST, contextKey: 'k', settings: settings() }));
    const name = objectName(ID, 'build');
    const [p] = fake.startPods(name, [0]);
    const printed = { cached: false, executor: 'kubernetes', exit_code: 0, finished_at: iso(60), image: `x/amun:${DIGEST}`, image_digest: null, inspection_id: ID, message: null, reason: null, stack_digest: DIGEST, started_at: iso(1), state: 'succeeded' };
    fake.setPodStatus(p!.metadata.name, {
      phase: 'Failed',
      initContainerStatuses: [{ name: 'build', ready: false, restartCount: 0, image: 'k', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
      containerStatuses: [{ name: 'report', ready: false, restartCount: 0, image: 'c', imageID: '', state: { terminated: { exitCode: 1, reason: 'Error' } } }],
    });
    fake.setLog(p!.metadata.name, 'build', 'INFO Pushed image\n');
    fake.setLog(p!.metadata.name, 'report', `amun-report: could not upload the build status\namun-report: build status follows\n${JSON.stringify(printed)}\n`);
    fake.setJobStatus(name, { failed: 1, conditions: failed('BackoffLimitExceeded') });
    fake.advance(400);

    expect(await reconciler().run()).toMatchObject({ jobs: 1, build_statuses: 1, ttls: 1, errors: 0 });
    expect(JSON.parse((await s3.text(layout.buildStatus(ID)))!)).toEqual(printed);
    expect(await s3.text(layout.buildLog(ID))).toBe('INFO Pushed image\n[amun reconciler] the report step could not upload the build status; it was taken from the report step\'s log\n');
    expect(await reconciler().run()).toMatchObject({ build_statuses: 0, ttls: 0 });
  });

  it('leaves alone the Jobs of inspections its store does not know', async () => {
    // Another deployment's store prefix: no specification of this inspection there.
    const other = new Layout('other-deployment');
    expect(await reconciler(other).run()).toMatchObject({ jobs: 1, build_statuses: 0, ttls: 0, errors: 0 });
    expect((await s3.store.list('other-deployment/')).keys).toEqual([]);
  });

  it('finds every stored result past the first list page: the one stuck item gets its result and the Job is deleted', async () => {
    // 400 items with hwinfo, log and result each: 1200 keys under results/, two pages of S3's 1000.
    const id = 'inspection-paging-0123abcd';
    const spec = { ...cpuPinnedSpec(), batch_size: 400 };
    await s3.store.put(layout.specification(id), stableJson(spec));
    const stuckItem = 399;
    const keys = Array.from({ length: 400 }, (_, item) => item)
      .filter((item) => item !== stuckItem)
      .flatMap((item) => [layout.resultHwinfo(id, item), layout.resultLog(id, item), layout.result(id, item)]);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((key) => s3.store.put(key, '{}', 'application/json')));
    const first = await s3.store.list(layout.resultsPrefix(id));
    expect(first.keys).toHaveLength(1000);
    expect(first.nextToken).toBeDefined();
    // Item 99's result lies on the second page: a reconciler that read one page would take it for missing.
    expect(first.keys).not.toContain(layout.result(id, 99));

    const job = runJob({ inspectionId: id, spec, image: `${registry.repository}@sha256:${'f'.repeat(64)}`, deadlineSeconds: 300, resultsPrefix: layout.resultsPrefix(id), settings: settings() });
    await api.createJob(job);
    const [p] = fake.startPods(objectName(id, 'run'), [stuckItem]);
    fake.setPodStatus(p!.metadata.name, {
      phase: 'Pending',
      containerStatuses: [{ name: 'harness', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason: 'ImagePullBackOff', message: 'manifest unknown' } } }],
    });
    fake.setJobStatus(objectName(id, 'run'), { active: 1 });
    fake.advance(700);

    const lists = s3.store.stats.list;
    const pass = await reconciler().run();
    expect(pass).toMatchObject({ results: 1, deleted: 1, errors: 0 });
    expect(s3.store.stats.list - lists).toBeGreaterThanOrEqual(2);
    expect(JSON.parse((await s3.text(layout.result(id, stuckItem)))!)).toMatchObject({ item: stuckItem, reason: 'executor_error', message: expect.stringContaining('manifest unknown') });
    expect(await s3.text(layout.result(id, 99))).toBe('{}');
    expect(fake.get('Job', objectName(id, 'run'))).toBeUndefined();
  });

  it('records the image of a build without a script once its Job completed, when its own tag names the digest it reported', async () => {
    const record = async (id: string, overwrite: boolean) => {
      const spec = { ...cpuPinnedSpec(), environment: [{ name: 'CASE', value: id }] };
      delete spec.script;
      const stackDigest = createHash('sha256').update(id).digest('hex');
      await s3.store.put(layout.specification(id), stableJson(spec));
      await api.createJob(buildJob({ inspectionId: id, spec, stackDigest, contextKey: 'k', settings: settings({ registry: registry.repository }) }));
      const tag = buildImageTag(registry.repository, stackDigest, id).split(':').at(-1)!;
      const digest = registry.push(tag);
      if (overwrite) registry.push(tag, 'pushed over');
      const status = { cached: false, executor: 'kubernetes', exit_code: 0, finished_at: iso(60), image: buildImageTag(registry.repository, stackDigest, id), image_digest: digest, inspection_id: id, message: null, reason: null, stack_digest: stackDigest, started_at: iso(1), state: 'succeeded' };
      await s3.store.put(layout.buildStatus(id), stableJson(status), 'application/json');
      fake.setJobStatus(objectName(id, 'build'), { succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: fake.now().toISOString() }] });
      return { stackDigest, digest };
    };
    const kept = await record('inspection-scriptless-0123abcd', false);
    const over = await record('inspection-scriptless-over-0123abcd', true);
    expect(await reconciler().run()).toMatchObject({ images_recorded: 1, errors: 0 });
    expect(await images().read(kept.stackDigest)).toMatchObject({ digest: kept.digest, inspection_id: 'inspection-scriptless-0123abcd', image: `${registry.repository}@${kept.digest}` });
    // A tag pushed over after the build: nothing recorded, then or later.
    expect(await images().read(over.stackDigest)).toBeUndefined();
    expect(await reconciler().run()).toMatchObject({ images_recorded: 0, errors: 0 });
    expect(await s3.store.exists(layout.imageRecord(over.stackDigest))).toBe(false);
  });

  it('the executor refuses hardware the cluster cannot place: a failed build, or runs refused with the reason', async () => {
    const signer: UploadSigner = { presignPut: async () => ({ url: 'https://x', expiresAt: at(3600) }), presignPost: async () => ({ url: 'https://x', expiresAt: at(3600), document: { expiration: '', conditions: [] }, fields: {} }) };
    const executor = new KubernetesExecutor({ api, records: s3.records, signer, images: images(), settings: settings({ labels: LABEL_PRESETS.karpenter }), clock: { now: () => at(0) } });
    // Karpenter's labels place a CPU model by instance family, but not a count of physical cores.
    const spec = cpuPinnedSpec();
    spec.run!.requests!.hardware = { ...spec.run!.requests!.hardware, physical_cpus: 8 };
    const before = fake.list('Job').length;
    const log: LogSink & { text: string } = { text: '', write(c) { this.text += String(c); }, flush: async () => undefined };
    const build = await executor.build({ inspectionId: 'inspection-refused-0123abcd', spec: { ...spec, build: { requests: { hardware: { physical_cpus: 4 } } } }, dockerfile: 'FROM x\n', context: [], stackDigest: DIGEST, log });
    expect(build).toMatchObject({ state: 'failed', reason: 'invalid_specification', message: expect.stringContaining('/build/requests/hardware/physical_cpus') });
    const started = await executor.startRuns({ inspectionId: 'inspection-refused-0123abcd', spec, stackDigest: DIGEST, build: { inspection_id: 'inspection-refused-0123abcd', state: 'succeeded', started_at: null, finished_at: null, exit_code: 0, reason: null, executor: 'kubernetes', image: `x/amun:${DIGEST}`, cached: false }, context: async () => [], deadlineSeconds: 60 });
    expect(fake.list('Job')).toHaveLength(before);
    // The pipeline gives every item a result with this message (test/e2e/failures.test.ts).
    expect(started).toEqual({ state: 'refused', message: expect.stringContaining('physical_cpus') });
  });
});

describe('observation', () => {
  it('shows why a pending pod waits, from its PodScheduled condition', () => {
    const observed = observePod({
      metadata: { name: 'p', annotations: { 'batch.kubernetes.io/job-completion-index': '3' } },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/4 nodes are available: 4 node(s) didn\'t match Pod\'s node affinity/selector.' }] },
    });
    expect(observed).toMatchObject({ index: 3, phase: 'Pending', reason: 'Unschedulable', message: expect.stringContaining('node affinity') });
  });
});
