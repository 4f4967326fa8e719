/**
 * The Kubernetes executor end to end on the embedded stack (S3 + SQS + dispatcher + HTTP API)
 * against a real control plane (scripts/kube-cluster.sh: kube-apiserver, kube-controller-manager
 * and kube-scheduler of one Kubernetes release, etcd, kwok for the nodes of kube/nodes/), with
 * deploy/kubernetes/ applied by an administrator and the functions talking as the identity its
 * RoleBinding names (a call the Role does not grant fails the test with a 403).
 *
 * The real scheduler places pods, the real Job controller drives Indexed completion, per-index
 * retries, the pod failure policy and deadlines, the real TTL and garbage collectors clean up.
 * kwok moves pods through their phases; the tests play the containers: they run the pods' own
 * scripts (build step, report step, upload sidecar, real harness) from the manifests the API
 * server holds, and end each pod with the exit code a kubelet would report.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import { buildImageTag, objectName } from '../../functions/adapters/kubernetes/manifests/index.js';
import { Reconciler } from '../../functions/adapters/kubernetes/reconciler.js';
import type { InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';
import { applyDeployManifests, describeWithCluster, diagnose, finishPod, indexOf, podsOf, startCluster, type TestCluster } from './support/cluster.js';
import { cpuPinnedSpec, gpuSpec as gpuFixture, settings, validateManifest } from './support/fixtures.js';
import { LABEL_PRESETS, previewManifests, registryAuthFor } from '../../functions/adapters/kubernetes/manifests/index.js';
import { clusterSource, runBuildPod, runItemPod, type PodSource } from './support/pods.js';
import { startFakeRegistry, type FakeRegistry } from './support/registry.js';

const NS = 'amun';
const script = ['import json, os', 'print(json.dumps({"item": os.environ.get("AMUN_ITEM"), "executor": os.environ.get("AMUN_EXECUTOR_KIND")}))', ''].join('\n');

const cpuSpec = {
  base: 'docker.io/library/python:3.12-slim',
  identifier: 'k8s cpu',
  batch_size: 3,
  run: { requests: { cpu: '1', memory: '512Mi', hardware: { cpu_family: 6, cpu_model: 85 } }, deadline_seconds: 120 },
  script,
};

const gpuSpec = {
  base: 'docker.io/library/python:3.12-slim',
  identifier: 'k8s gpu',
  batch_size: 2,
  run: { parallelism: 2, requests: { cpu: '4', memory: '16Gi', gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' } }, deadline_seconds: 60 },
  script: 'import subprocess\nsubprocess.run(["nvidia-smi"], check=True)\n',
};

/** A CPU no node of kube/nodes/ has. */
const nowhereSpec = { ...cpuSpec, identifier: 'k8s nowhere', batch_size: 1, run: { requests: { cpu: '1', memory: '512Mi', hardware: { cpu_family: 6, cpu_model: 999 } }, deadline_seconds: 60 } };

const ENV = ['AMUN_K8S_KUBECONFIG', 'AMUN_REGISTRY', 'AMUN_K8S_NAMESPACE', 'AMUN_K8S_LABEL_PRESET', 'AMUN_K8S_CLUSTER_NAME', 'AMUN_K8S_ENDPOINT', 'AMUN_K8S_ALLOW_UNPINNED_IMAGES'] as const;

describeWithCluster('kubernetes executor on a real control plane', () => {
  const dir = tempDir('amun-k8s-');
  let cluster: TestCluster;
  let stack: LocalStack;
  let registry: FakeRegistry;
  let source: PodSource;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    cluster = await startCluster();
    await applyDeployManifests(cluster);
    source = clusterSource(cluster.admin.objects as never, NS);
    // The registry the build's kaniko stand-in pushes to and the functions read digests from.
    registry = await startFakeRegistry();
    for (const name of ENV) saved[name] = process.env[name];
    process.env.AMUN_K8S_KUBECONFIG = cluster.functionsKubeconfig;
    process.env.AMUN_REGISTRY = registry.repository;
    process.env.AMUN_K8S_NAMESPACE = NS;
    process.env.AMUN_K8S_LABEL_PRESET = 'nfd';
    // kwok starts no container, so no image is pulled: the built-in tags stand.
    process.env.AMUN_K8S_ALLOW_UNPINNED_IMAGES = 'true';
    delete process.env.AMUN_K8S_CLUSTER_NAME;
    delete process.env.AMUN_K8S_ENDPOINT;
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'kubernetes', waitTimeSeconds: 1, overrides: { logIntervalMs: 50 } });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await registry?.close();
    await cluster?.stop();
    for (const name of ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    dir.remove();
  });

  const reconciler = (finishedTtlSeconds = 900): Reconciler =>
    new Reconciler({ api: stack.app.cluster!.api, records: stack.app.records, clock: { now: () => new Date() }, images: stack.app.cluster!.images, policy: { finishedTtlSeconds } });
  const summary = async (id: string): Promise<InspectionSummary | undefined> => {
    const raw = await stack.app.store.get(stack.app.layout.summary(id));
    return raw ? (JSON.parse(raw.toString('utf8')) as InspectionSummary) : undefined;
  };
  const job = async (name: string): Promise<V1Job | undefined> => cluster.admin.batch.readNamespacedJob({ namespace: NS, name }).catch(() => undefined);
  const jobsOf = async (id: string): Promise<string[]> =>
    (await cluster.admin.batch.listNamespacedJob({ namespace: NS, labelSelector: `amun/inspection-id=${id}` })).items.map((j) => j.metadata!.name!).sort();
  const condition = (j: V1Job | undefined, type: string): string | undefined => j?.status?.conditions?.find((c) => c.type === type && c.status === 'True')?.reason ?? undefined;
  /** The pod of `index` that is running now (created by the Job controller, placed by the scheduler, started by kwok). */
  const runningPod = (jobName: string, index: number, not: string[] = []): Promise<V1Pod> =>
    waitFor(`a running pod of ${jobName} index ${index}`, async () => (await podsOf(cluster, NS, jobName)).find((p) => indexOf(p) === index && p.status?.phase === 'Running' && !not.includes(p.metadata!.name!)), 60_000).catch(
      async (error: Error) => {
        throw new Error(`${error.message}\n${await diagnose(cluster, NS, jobName)}`);
      },
    );
  /** Writes the CRI log the node's kubelet (kwok) serves for every container of that name. */
  const containerLog = (container: string, text: string): void =>
    writeFileSync(join(cluster.dir, 'pod-logs', `${container}.log`), text.split('\n').filter((l) => l !== '').map((l) => `${new Date().toISOString()} stdout F ${l}\n`).join(''));
  /** An image of the stack recorded by the functions as an earlier build's, so an inspection of it skips the build. */
  const cachedStack = async (spec: object, earlier: string): Promise<string> => {
    const { generateBuild } = await import('../../functions/core/dockerfile.js');
    const { harnessFiles } = await import('../../functions/core/generated/harness.js');
    const prepared = await stack.app.inspections.prepare(spec, new Date());
    const { stackDigest } = generateBuild(prepared.specification, harnessFiles);
    // A stack this file built already (the specs differ in their runs only) is recorded.
    const known = await stack.app.cluster!.images.read(stackDigest);
    if (known) return known.digest;
    const digest = registry.push(buildImageTag(registry.repository, stackDigest, earlier).split(':').at(-1)!);
    expect(await stack.app.cluster!.images.verifyBuild({ stackDigest, inspectionId: earlier, reported: digest })).toMatchObject({ ok: true, recorded: true });
    return digest;
  };

  let id = '';
  /** The pod templates the API server accepted, for the Pod Security check. */
  const templates: Record<'build' | 'run', object | undefined> = { build: undefined, run: undefined };

  it('deploy/kubernetes/ applies; the functions get what its Role grants and nothing more', async () => {
    const k8s = await import('@kubernetes/client-node');
    const config = new k8s.KubeConfig();
    config.loadFromFile(cluster.functionsKubeconfig);
    const core = config.makeApiClient(k8s.CoreV1Api);
    const denied = async (call: Promise<unknown>): Promise<number | undefined> => call.then(() => undefined, (e: { code?: number }) => e.code);
    expect(await denied(core.listNamespacedPod({ namespace: NS }))).toBeUndefined();
    expect(await denied(core.listNamespacedSecret({ namespace: NS }))).toBe(403);
    expect(await denied(core.createNamespacedPod({ namespace: NS, body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } } }))).toBe(403);
    expect(await denied(core.listNamespacedPod({ namespace: 'default' }))).toBe(403);
    expect(await denied(core.listNode())).toBe(403);
    // Upload grants are renewed by replacing their Secret (update: the answer is what was sent); no Secret is read or patched.
    const grant = { metadata: { name: 'amun-rbac-probe-grant', namespace: NS }, stringData: { 'post.curlrc': 'url = "http://example.invalid/"\n' } };
    expect(await denied(core.createNamespacedSecret({ namespace: NS, body: grant }))).toBeUndefined();
    expect(await denied(core.replaceNamespacedSecret({ namespace: NS, name: grant.metadata.name, body: { ...grant, stringData: { 'post.curlrc': 'url = "http://example.invalid/renewed"\n' } } }))).toBeUndefined();
    expect(await denied(core.readNamespacedSecret({ namespace: NS, name: grant.metadata.name }))).toBe(403);
    expect(await denied(core.patchNamespacedSecret({ namespace: NS, name: grant.metadata.name, body: {} }))).toBe(403);
    expect(await denied(core.deleteNamespacedSecret({ namespace: NS, name: grant.metadata.name }))).toBe(403);
    const renewed = await cluster.admin.core.readNamespacedSecret({ namespace: NS, name: grant.metadata.name });
    expect(Buffer.from(renewed.data!['post.curlrc']!, 'base64').toString('utf8')).toContain('renewed');
    await cluster.admin.core.deleteNamespacedSecret({ namespace: NS, name: grant.metadata.name });
    const namespace = await cluster.admin.core.readNamespace({ name: NS });
    expect(namespace.metadata?.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'baseline' });
  });

  it('builds through a build Job the real controllers run: context tarball in the store, report step uploads log and status', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', cpuSpec);
    expect(submitted.status).toBe(202);
    id = submitted.body.inspection_id;
    const buildName = objectName(id, 'build');
    await waitFor('the build job', async () => source.secret(objectName(id, 'build-upload')));
    const created = (await source.job(buildName))!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...created });
    expect(created.metadata.labels).toMatchObject({ 'amun/inspection-id': id, 'app.kubernetes.io/component': 'build' });
    templates.build = created.spec.template.spec;

    const tarball = await stack.app.store.get(`inspections/${id}/build/context.tar.gz`);
    expect(gunzipSync(tarball!).subarray(0, 10).toString('utf8')).toBe('Dockerfile');

    // The build message redelivered (same delivery, after a crash) meets the real 409 and creates
    // nothing new; a duplicate of it (another delivery) leaves the build to the first.
    await stack.idle();
    const claim = JSON.parse((await stack.app.store.get(stack.app.layout.buildClaim(id)))!.toString('utf8')) as { delivery: string };
    expect(await stack.app.pipeline.build(id, undefined, { deliveryId: claim.delivery })).toBe('done');
    expect(await stack.app.pipeline.build(id, undefined, { deliveryId: 'a-duplicate' })).toBe('skipped');
    expect(await jobsOf(id)).toEqual([buildName]);

    // The Job controller made the pod (Pod Security admitted it), the scheduler placed it, kwok runs it.
    const pod = await runningPod(buildName, 0);
    expect(pod.spec?.nodeName).toBeTruthy();
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status.build.state).toBe('running');
    const ran = await runBuildPod(source, buildName, `${dir.path}/build-${id}`);
    expect(ran.build.code).toBe(0);
    expect(ran.report).toMatchObject({ code: 0 });
    expect(ran.kanikoArgs).toContain(`--context=s3://amun/inspections/${id}/build/context.tar.gz`);
    await finishPod(cluster, NS, pod.metadata!.name!, 0);
    const status = await waitFor('the build status', async () => stack.app.records.buildStatus(id));
    const tag = buildImageTag(registry.repository, status.stack_digest!, id);
    expect(ran.kanikoArgs).toContain(`--destination=${tag}`);
    expect(status).toMatchObject({ state: 'succeeded', executor: 'kubernetes', exit_code: 0, reason: null, image: tag, image_digest: registry.digestOf(tag.split(':').at(-1)!), cached: false });
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/build/log`)).body.log).toContain('Pushed image');
    // The real Job controller completes it.
    expect(await waitFor('the build job to complete', async () => condition(await job(buildName), 'Complete'))).toBeDefined();
  }, 180_000);

  it('runs an Indexed Job the scheduler pins to the matching CPU; an index failing for no known reason is retried once', async () => {
    const runName = objectName(id, 'run');
    await waitFor('the run job', async () => source.secret(objectName(id, 'run-upload')));
    const created = (await source.job(runName))!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...created });
    expect(created.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 1, backoffLimitPerIndex: 1 });
    expect(created.spec.template.spec.initContainers[0].restartPolicy).toBe('Always');
    templates.run = created.spec.template.spec;
    const status = (await stack.app.records.buildStatus(id))!;
    expect(created.spec.template.spec.containers[0].image).toBe(`${registry.repository}@${status.image_digest}`);
    // The Secret is owned by the Job (the uid the API server gave it).
    const secret = (await source.secret(objectName(id, 'run-upload')))!;
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: runName, uid: created.metadata.uid })]);

    // A redelivered build status event meets the same run Job (409).
    await stack.app.pipeline.schedule(id);
    expect(await jobsOf(id)).toEqual([objectName(id, 'build'), runName]);

    // Index 0: placed on the only node of family 6 model 85 (the GPU node is family 6 too, model 143).
    const first = await runningPod(runName, 0);
    expect(first.spec?.nodeName).toBe('intel-skylake');
    const ran0 = await runItemPod(source, runName, 0, script, `${dir.path}/run-${id}`);
    expect(ran0.harness.code).toBe(0);
    expect(ran0.upload.code).toBe(0);
    await finishPod(cluster, NS, first.metadata!.name!, 0);

    // Index 1: the pod fails with its harness at 0 (say, the node lost it): no rule of the pod
    // failure policy matches, so the controller retries the index (backoffLimitPerIndex 1).
    const lost = await runningPod(runName, 1);
    await finishPod(cluster, NS, lost.metadata!.name!, 0, { phase: 'Failed' });
    const retry = await waitFor('the retry of index 1', async () => (await podsOf(cluster, NS, runName)).find((p) => indexOf(p) === 1 && p.metadata!.name !== lost.metadata!.name && p.status?.phase === 'Running'), 90_000);
    expect(retry.spec?.nodeName).toBe('intel-skylake');
    const ran1 = await runItemPod(source, runName, 1, script, `${dir.path}/run-${id}`);
    expect(ran1.harness.code).toBe(0);
    await finishPod(cluster, NS, retry.metadata!.name!, 0);

    const two = await waitFor('two results', async () => ((await summary(id))?.items_done === 2 ? await summary(id) : undefined));
    expect(two).toMatchObject({ state: 'running', items_failed: 0 });
    const report = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/1/result`)).body.result as RunReport;
    expect(report).toMatchObject({ exit_code: 0, reason: null, executor: 'kubernetes', item: 1, inspection_id: id, stdout: { item: '1', executor: 'kubernetes' } });
  }, 240_000);

  it('an OOM-killed index fails by the pod failure policy (no retry); the reconciler records it with the log the API server serves', async () => {
    const runName = objectName(id, 'run');
    const oom = await runningPod(runName, 2);
    expect(oom.spec?.nodeName).toBe('intel-skylake');
    containerLog('harness', 'allocating 4 GiB');
    await finishPod(cluster, NS, oom.metadata!.name!, 137, { reason: 'OOMKilled' });
    const failed = await waitFor('the run job to fail', async () => {
      const j = await job(runName);
      return condition(j, 'Failed') ? j : undefined;
    });
    expect(failed.status).toMatchObject({ completedIndexes: '0,1', failedIndexes: '2', succeeded: 2, failed: 2 });
    expect(condition(failed, 'Failed')).toBe('FailedIndexes');
    // FailIndex: index 2 got no second pod.
    expect((await podsOf(cluster, NS, runName)).filter((p) => indexOf(p) === 2)).toHaveLength(1);

    // Live status while the objects exist: the real conditions, counts, pod phases and node names.
    const live = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
    const runView = live.workflow.cluster.jobs.find((j: { component: string }) => j.component === 'run');
    expect(runView).toMatchObject({ name: runName, succeeded: 2, failed: 2, completed_indexes: [0, 1], failed_indexes: [2], conditions: expect.arrayContaining([expect.objectContaining({ type: 'Failed', reason: 'FailedIndexes' })]) });
    expect(runView.pods).toContainEqual(expect.objectContaining({ index: 2, phase: 'Failed', node_name: 'intel-skylake', containers: expect.arrayContaining([expect.objectContaining({ name: 'harness', state: 'terminated', reason: 'OOMKilled', exit_code: 137 })]) }));

    const pass = await reconciler(2).run();
    expect(pass).toMatchObject({ results: 1, build_statuses: 0, ttls: 2, errors: 0 });
    const result = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/2/result`)).body.result as RunReport;
    expect(result).toMatchObject({ reason: 'oom', exit_code: -9, executor: 'kubernetes', item: 2, hostname: oom.metadata!.name });
    expect(result.message).toMatch(/OOMKilled.*intel-skylake/);
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/2/log`)).body.log).toContain('allocating 4 GiB');
    const done = await waitFor('the inspection to finish', async () => ((await summary(id))?.finished ? await summary(id) : undefined));
    expect(done).toMatchObject({ state: 'failed', items_done: 3, items_failed: 1, items: [expect.objectContaining({ item: 0, reason: null }), expect.objectContaining({ item: 1, reason: null }), expect.objectContaining({ item: 2, reason: 'oom' })] });
  }, 180_000);

  it('the TTL the reconciler set lets the real TTL controller and garbage collector remove Jobs, pods and Secrets; status answers from the store', async () => {
    expect((await job(objectName(id, 'run')))?.spec?.ttlSecondsAfterFinished ?? 0).toBeLessThanOrEqual(2);
    await waitFor('the jobs to go', async () => ((await jobsOf(id)).length === 0 ? true : undefined), 60_000);
    await waitFor('the pods and secrets to go', async () => {
      const pods = await cluster.admin.core.listNamespacedPod({ namespace: NS, labelSelector: `amun/inspection-id=${id}` });
      const secrets = await cluster.admin.core.listNamespacedSecret({ namespace: NS, labelSelector: `amun/inspection-id=${id}` });
      return pods.items.length + secrets.items.length === 0 ? true : undefined;
    }, 60_000);
    const status = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
    expect(status.workflow).not.toHaveProperty('cluster');
    expect(status).toMatchObject({ build: { state: 'terminated', exit_code: 0 }, workflow: { state: 'failed', items_done: 3 }, data_stored: true });
    // Idempotent: nothing left to write.
    expect(await reconciler().run()).toMatchObject({ jobs: 0, results: 0 });
  }, 150_000);

  it('a GPU run goes to the GPU node only (toleration, nvidia.com/gpu limit, GFD product label); its deadline fails it with the reason', async () => {
    const digest = await cachedStack(gpuSpec, 'inspection-k8s-gpu-earlier-0123abcd');
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', gpuSpec);
    const gpuId = submitted.body.inspection_id as string;
    const runName = objectName(gpuId, 'run');
    await waitFor('the run job', async () => source.secret(objectName(gpuId, 'run-upload')));
    expect(await stack.app.records.buildStatus(gpuId)).toMatchObject({ state: 'succeeded', cached: true, image: `${registry.repository}@${digest}` });
    expect(await jobsOf(gpuId)).toEqual([runName]);
    const pods = await Promise.all([runningPod(runName, 0), runningPod(runName, 1)]);
    expect(pods.map((p) => p.spec?.nodeName)).toEqual(['gpu-h100', 'gpu-h100']);
    expect(pods[0]!.spec?.containers[0]?.resources?.limits).toMatchObject({ 'nvidia.com/gpu': '1' });

    // The deadline passes (shortened here: the real one is 1,080 s): the Job controller ends the pods.
    await cluster.admin.batch.patchNamespacedJob({ namespace: NS, name: runName, body: { spec: { activeDeadlineSeconds: 1 } } }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    await waitFor('the deadline', async () => condition(await job(runName), 'Failed') === 'DeadlineExceeded' || undefined, 60_000);
    expect(await reconciler().run()).toMatchObject({ results: 2, errors: 0 });
    const done = await waitFor('the inspection to finish', async () => ((await summary(gpuId))?.finished ? await summary(gpuId) : undefined));
    expect(done).toMatchObject({ state: 'failed', items_failed: 2, items: [expect.objectContaining({ reason: 'deadline' }), expect.objectContaining({ reason: 'deadline' })] });
    const result = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${gpuId}/job/0/result`)).body.result as RunReport;
    expect(result.message).toMatch(/deadline of 1 s/);
  }, 180_000);

  it('a request no node satisfies stays Pending with the scheduler\'s reason, which status shows and the deadline\'s result records', async () => {
    await cachedStack(nowhereSpec, 'inspection-k8s-nowhere-earlier-0123abcd');
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', nowhereSpec);
    const nowhereId = submitted.body.inspection_id as string;
    const runName = objectName(nowhereId, 'run');
    const pending = await waitFor('the scheduler to give up on the pod', async () =>
      (await podsOf(cluster, NS, runName)).find((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable')),
    );
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.spec?.nodeName).toBeUndefined();
    const live = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${nowhereId}/status`)).body.status;
    const view = live.workflow.cluster.jobs.find((j: { component: string }) => j.component === 'run');
    expect(view.pods).toContainEqual(expect.objectContaining({ phase: 'Pending', reason: 'Unschedulable', message: expect.stringMatching(/0\/5 nodes are available/) }));
    // The reconciler keeps the scheduler's words on the Job: at the deadline the Job controller
    // deletes the pod, and the result must still say why nothing ran. Once only.
    expect(await reconciler().run()).toMatchObject({ annotated: 1, results: 0, errors: 0 });
    expect((await job(runName))?.metadata?.annotations?.['amun/unschedulable']).toMatch(/0\/5 nodes are available/);
    expect(await reconciler().run()).toMatchObject({ annotated: 0, results: 0, errors: 0 });

    await cluster.admin.batch.patchNamespacedJob({ namespace: NS, name: runName, body: { spec: { activeDeadlineSeconds: 1 } } }, (await import('@kubernetes/client-node')).setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    await waitFor('the deadline', async () => condition(await job(runName), 'Failed') === 'DeadlineExceeded' || undefined, 60_000);
    expect((await podsOf(cluster, NS, runName)).filter((p) => !p.metadata?.deletionTimestamp)).toEqual([]);
    expect(await reconciler().run()).toMatchObject({ results: 1, errors: 0 });
    const result = await waitFor('the result', async () => (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${nowhereId}/job/0/result`)).body.result as RunReport | undefined);
    expect(result).toMatchObject({ reason: 'deadline' });
    expect(result.message).toMatch(/never scheduled.*0\/5 nodes are available/);
  }, 180_000);

  it('a drained run pod is run again without counting, and a harness interrupted by SIGTERM (143) once more; the retry records the result', async () => {
    const drained = { ...cpuSpec, identifier: 'k8s drained', batch_size: 1 };
    await cachedStack(drained, 'inspection-k8s-drained-earlier-0123abcd');
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', drained);
    const drainedId = submitted.body.inspection_id as string;
    const runName = objectName(drainedId, 'run');
    const first = await runningPod(runName, 0);
    expect(first.metadata?.annotations).toMatchObject({ 'karpenter.sh/do-not-disrupt': 'true' });
    // A drain: the eviction API sets DisruptionTarget and deletes the pod; the policy's Ignore rule
    // has the Job controller make a new pod for the index without counting it.
    await cluster.admin.core.createNamespacedPodEviction({ namespace: NS, name: first.metadata!.name!, body: { metadata: { name: first.metadata!.name!, namespace: NS }, deleteOptions: { gracePeriodSeconds: 1 } } });
    const second = await waitFor('the pod after the drain', async () => (await podsOf(cluster, NS, runName)).find((p) => p.metadata!.name !== first.metadata!.name && p.status?.phase === 'Running'), 90_000);
    expect(indexOf(second)).toBe(0);
    // The harness of the new pod is cut short too (SIGTERM: it records nothing and exits 143):
    // not the FailIndex rule, so the index's one retry.
    await finishPod(cluster, NS, second.metadata!.name!, 143);
    const third = await waitFor('the retry after the interruption', async () => (await podsOf(cluster, NS, runName)).find((p) => ![first, second].some((o) => o.metadata!.name === p.metadata!.name) && p.status?.phase === 'Running'), 90_000);
    expect((await job(runName))?.status?.failedIndexes ?? '').toBe('');
    const ran = await runItemPod(source, runName, 0, script, `${dir.path}/run-${drainedId}`);
    expect(ran.harness.code).toBe(0);
    await finishPod(cluster, NS, third.metadata!.name!, 0);
    expect(await waitFor('the job to complete', async () => condition(await job(runName), 'Complete'))).toBeDefined();
    const done = await waitFor('the inspection to finish', async () => ((await summary(drainedId))?.finished ? await summary(drainedId) : undefined));
    expect(done).toMatchObject({ state: 'succeeded', items_done: 1, items_failed: 0 });
  }, 240_000);

  it('the karpenter and eks-auto presets get a CPU-pinned run onto the node of a matching instance family, where no NFD labels are', async () => {
    const place = async (preset: 'karpenter' | 'eks-auto', hardware: Record<string, number>, inspectionId: string): Promise<string | undefined> => {
      const spec = cpuPinnedSpec();
      spec.run!.requests!.hardware = hardware;
      const [job] = previewManifests({ inspectionId, spec, stackDigest: 'ab'.repeat(32), settings: settings({ labels: LABEL_PRESETS[preset] }), storePrefix: 'inspections', deadlineSeconds: 300, kind: 'run' });
      const body = JSON.parse(JSON.stringify(job).replace(/@sha256:<[^>"]*>/g, `@sha256:${'cd'.repeat(32)}`));
      await cluster.admin.objects.create(body);
      const pod = await waitFor(`the ${preset} run's pod to be placed`, async () => (await podsOf(cluster, NS, job!.metadata!.name!)).find((p) => p.spec?.nodeName));
      await cluster.admin.batch.deleteNamespacedJob({ namespace: NS, name: job!.metadata!.name!, propagationPolicy: 'Background' });
      return pod.spec?.nodeName;
    };
    // Ice Lake (6/106): c6i. Genoa (25/17): m7a, an EKS Auto Mode node.
    expect(await place('karpenter', { cpu_family: 6, cpu_model: 106 }, 'inspection-karpenter-icelake-0123abcd')).toBe('karpenter-c6i');
    expect(await place('eks-auto', { cpu_family: 25, cpu_model: 17 }, 'inspection-eksauto-genoa-0123abcd')).toBe('eks-auto-m7a');
  });

  it('run pods meet the restricted Pod Security standard; build pods meet baseline only (kaniko runs as root)', async () => {
    await cluster.admin.core.createNamespace({ body: { metadata: { name: 'psa-restricted', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
    const dryRun = (spec: object): Promise<number | undefined> =>
      cluster.admin.core.createNamespacedPod({ namespace: 'psa-restricted', dryRun: 'All', body: { metadata: { name: 'check' }, spec: spec as never } }).then(
        () => undefined,
        (e: { code?: number; body?: unknown }) => {
          if (e.code !== 403) console.error('pod security dry run:', e.code, e.body);
          return e.code;
        },
      );
    expect(await dryRun(templates.run!)).toBeUndefined();
    expect(await dryRun(templates.build!)).toBe(403);
  });

  it('every manifest variant the builders make is accepted by the real API server, created as the functions (server-side dry run)', async () => {
    const k8s = await import('@kubernetes/client-node');
    const config = new k8s.KubeConfig();
    config.loadFromFile(cluster.functionsKubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(config);
    const registrySecret = 'registry.example.com/amun';
    const variants = [
      { spec: cpuPinnedSpec(), settings: settings({ labels: LABEL_PRESETS.nfd }) },
      { spec: cpuPinnedSpec(), settings: settings({ labels: LABEL_PRESETS.amun, exclusiveNodes: true }) },
      { spec: gpuFixture(), settings: settings({ labels: LABEL_PRESETS.karpenter }) },
      { spec: gpuFixture(), settings: settings({ labels: LABEL_PRESETS.nfd, registry: registrySecret, registryAuth: registryAuthFor(registrySecret, 'registry-pull') }) },
    ];
    let accepted = 0;
    for (const [n, variant] of variants.entries()) {
      const manifests = previewManifests({ inspectionId: `inspection-variant-${n}-0123abcd`, spec: variant.spec, stackDigest: 'ab'.repeat(32), settings: variant.settings, storePrefix: 'inspections', deadlineSeconds: 300 });
      for (const manifest of manifests) {
        const body = JSON.parse(JSON.stringify(manifest).replace(/@sha256:<[^>"]*>/g, `@sha256:${'cd'.repeat(32)}`));
        await expect(objects.create(body, undefined, 'All')).resolves.toMatchObject({ metadata: { name: manifest.metadata!.name } });
        accepted++;
      }
    }
    expect(accepted).toBeGreaterThanOrEqual(16);
  });
});
