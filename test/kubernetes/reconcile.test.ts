/**
 * The reconciler: its pure decisions for every way a pod can end without writing its objects
 * (OOMKilled, evicted, deadline, image pull failure, an upload that never arrived), and its I/O
 * against the fake API server (the report step's printed status as fallback, foreign Jobs left
 * alone); plus the executor's refusals of hardware the cluster cannot place.
 */
import { ClientNodeKubeApi, kubeconfigFile } from '../../functions/adapters/kubernetes/kube-api.js';
import { KubernetesExecutor } from '../../functions/adapters/kubernetes/executor.js';
import type { UploadSigner } from '../../functions/adapters/kubernetes/upload-signer.js';
import { stableJson } from '../../functions/core/json.js';
import { buildJob, objectName } from '../../functions/core/kubernetes/manifests.js';
import { observePod, type ContainerObservation, type JobObservation, type PodObservation } from '../../functions/core/kubernetes/observe.js';
import { LABEL_PRESETS } from '../../functions/core/kubernetes/placement.js';
import { DEFAULT_RECONCILE_POLICY, reconcileBuild, reconcileRun } from '../../functions/core/kubernetes/reconcile.js';
import { Layout } from '../../functions/core/layout.js';
import type { LogSink } from '../../functions/core/ports.js';
import { validators } from '../../functions/core/validation.js';
import { Reconciler } from '../../functions/reconcile/reconciler.js';
import { tempDir } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';
import { cpuPinnedSpec, DIGEST, settings } from './support/fixtures.js';
import { MemoryStore } from './support/memory-store.js';

const ID = 'inspection-reconcile-0123abcd';
const T0 = '2025-03-01T10:00:00Z';
const at = (seconds: number): Date => new Date(Date.parse(T0) + seconds * 1000);
const iso = (seconds: number): string => at(seconds).toISOString().replace('.000Z', 'Z');
const policy = DEFAULT_RECONCILE_POLICY;

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
    annotations: { 'amun/stack-digest': DIGEST }, pods: [], ...partial,
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

describe('reconciler against the fake API server', () => {
  const dir = tempDir('amun-reconcile-');
  const layout = new Layout('inspections');
  let fake: FakeApiServer;

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path, start: at(0) });
  });
  afterAll(async () => {
    await fake.close();
    dir.remove();
  });

  it('takes the build status the report step printed when it could not upload it, and keeps the kaniko log', async () => {
    const store = new MemoryStore();
    await store.put(layout.specification(ID), stableJson(cpuPinnedSpec()));
    const api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
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

    const reconciler = new Reconciler({ api, store, layout, clock: { now: () => fake.now() } });
    expect(await reconciler.run()).toMatchObject({ jobs: 1, build_statuses: 1, ttls: 1, errors: 0 });
    expect(JSON.parse(store.text(layout.buildStatus(ID))!)).toEqual(printed);
    expect(store.text(layout.buildLog(ID))).toBe('INFO Pushed image\n[amun reconciler] the report step could not upload the build status; it was taken from the report step\'s log\n');
    expect(await reconciler.run()).toMatchObject({ build_statuses: 0, ttls: 0 });
  });

  it('leaves alone the Jobs of inspections its store does not know', async () => {
    const store = new MemoryStore();
    const api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
    expect(await new Reconciler({ api, store, layout, clock: { now: () => fake.now() } }).run()).toMatchObject({ jobs: 1, build_statuses: 0, ttls: 0 });
    expect(store.objects.size).toBe(0);
  });

  it('the executor refuses hardware the cluster cannot place: a failed build, or results that say why', async () => {
    const store = new MemoryStore();
    const api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
    const signer: UploadSigner = { presignPut: async () => 'https://x', presignPost: async () => ({ url: 'https://x', document: { expiration: '', conditions: [] }, fields: {} }) };
    const executor = new KubernetesExecutor({ api, store, layout, signer, settings: settings({ labels: LABEL_PRESETS.karpenter }), clock: { now: () => at(0) } });
    const spec = cpuPinnedSpec();
    const before = fake.list('Job').length;
    const log: LogSink & { text: string } = { text: '', write(c) { this.text += String(c); }, flush: async () => undefined };
    const build = await executor.build({ inspectionId: 'inspection-refused-0123abcd', spec: { ...spec, build: { requests: { hardware: { cpu_model: 85 } } } }, dockerfile: 'FROM x\n', context: [], stackDigest: DIGEST, log });
    expect(build).toMatchObject({ state: 'failed', reason: 'invalid_specification', message: expect.stringContaining('/build/requests/hardware/cpu_model') });
    await executor.startRuns({ inspectionId: 'inspection-refused-0123abcd', spec, build: { inspection_id: 'inspection-refused-0123abcd', state: 'succeeded', started_at: null, finished_at: null, exit_code: 0, reason: null, executor: 'kubernetes', image: `x/amun:${DIGEST}`, cached: false }, context: async () => [], deadlineSeconds: 60 });
    expect(fake.list('Job')).toHaveLength(before);
    for (const item of [0, 1, 2]) {
      const report = JSON.parse(store.text(layout.result('inspection-refused-0123abcd', item))!);
      expect(validators.result(report)).toBe(true);
      expect(report).toMatchObject({ reason: 'executor_error', item, message: expect.stringContaining('cpu_family') });
    }
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
