/**
 * The Kubernetes executor end to end on the embedded stack (S3 + SQS + dispatcher + HTTP API),
 * with @kubernetes/client-node talking to the fake API server through a kubeconfig, configured by
 * AMUN_EXECUTOR=kubernetes exactly as a deployment is. The tests play kubelet and Job controller:
 * they run the pods' own scripts (build step, report step, upload sidecar, real harness) from the
 * manifests the executor created, so what reaches the store went through the presigned grants.
 *
 * Scenarios: a CPU-pinned inspection built (pushing to a registry over HTTP) and run pinned to the
 * digest the functions resolved, one item OOMKilled and reported by the reconciler; the live status
 * joined into GET status; redelivered messages meeting one Job; cleanup after the TTL with status
 * still answered from the store; a GPU spec cached from the functions' image record whose run Job
 * hits its deadline.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { buildImageTag, objectName } from '../../functions/adapters/kubernetes/manifests/index.js';
import type { InspectionSummary, RunReport } from '../../functions/core/generated/types.js';
import { makeReconcileHandler } from '../../functions/reconcile/handler.js';
import { Reconciler } from '../../functions/adapters/kubernetes/reconciler.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';
import { validateManifest } from './support/fixtures.js';
import { runBuildPod, runItemPod } from './support/pods.js';
import { startFakeRegistry, type FakeRegistry } from './support/registry.js';

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

const ENV = ['AMUN_K8S_KUBECONFIG', 'AMUN_REGISTRY', 'AMUN_K8S_NAMESPACE', 'AMUN_K8S_LABEL_PRESET', 'AMUN_K8S_CLUSTER_NAME', 'AMUN_K8S_ENDPOINT'] as const;

describe('kubernetes executor on the embedded stack', () => {
  const dir = tempDir('amun-k8s-');
  let fake: FakeApiServer;
  let stack: LocalStack;
  let registry: FakeRegistry;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path, start: new Date() });
    // The registry the build's kaniko stand-in pushes to and the functions read digests from.
    registry = await startFakeRegistry();
    for (const name of ENV) saved[name] = process.env[name];
    process.env.AMUN_K8S_KUBECONFIG = fake.kubeconfig;
    process.env.AMUN_REGISTRY = registry.repository;
    process.env.AMUN_K8S_NAMESPACE = 'amun';
    process.env.AMUN_K8S_LABEL_PRESET = 'nfd';
    delete process.env.AMUN_K8S_CLUSTER_NAME;
    delete process.env.AMUN_K8S_ENDPOINT;
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'kubernetes', waitTimeSeconds: 1, overrides: { logIntervalMs: 50 } });
  });

  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await registry?.close();
    for (const name of ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    dir.remove();
  });

  const reconciler = (): Reconciler => new Reconciler({ api: stack.app.cluster!.api, records: stack.app.records, clock: { now: () => fake.now() } });
  const summary = async (id: string): Promise<InspectionSummary | undefined> => {
    const raw = await stack.app.store.get(stack.app.layout.summary(id));
    return raw ? (JSON.parse(raw.toString('utf8')) as InspectionSummary) : undefined;
  };
  const jobsOf = (id: string): string[] => fake.list('Job').filter((j) => j.metadata.labels['amun/inspection-id'] === id).map((j) => j.metadata.name).sort();
  const now = (): string => fake.now().toISOString().replace(/\.[0-9]{3}Z$/, 'Z');

  let id = '';

  it('builds through a build Job: context tarball in the store, report step uploads log and status', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', cpuSpec);
    expect(submitted.status).toBe(202);
    id = submitted.body.inspection_id;
    const buildName = objectName(id, 'build');
    await waitFor('the build job', async () => fake.get('Secret', objectName(id, 'build-upload')));
    const job = fake.get('Job', buildName)!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...job });
    expect(job.metadata.labels).toMatchObject({ 'amun/inspection-id': id, 'app.kubernetes.io/component': 'build' });

    // The context went to the store as a tarball with the Dockerfile at its root.
    const tarball = await stack.app.store.get(`inspections/${id}/build/context.tar.gz`);
    const tar = gunzipSync(tarball!);
    expect(tar.subarray(0, 10).toString('utf8')).toBe('Dockerfile');
    // The build stage wrote no status: the Job reports it. Status says, in the original's pod
    // vocabulary, that the build is being scheduled (its Job exists, no pod of it runs yet).
    await stack.idle();
    expect(await stack.app.store.exists(stack.app.layout.buildStatus(id))).toBe(false);
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status.build.state).toBe('scheduling');

    // The build message redelivered (same delivery, after a crash) meets the same Job (409) and
    // creates nothing new; a duplicate of it (another delivery) leaves the build to the first.
    const claim = JSON.parse((await stack.app.store.get(stack.app.layout.buildClaim(id)))!.toString('utf8')) as { delivery: string };
    expect(await stack.app.pipeline.build(id, undefined, { deliveryId: claim.delivery })).toBe('done');
    expect(await stack.app.pipeline.build(id, undefined, { deliveryId: 'a-duplicate' })).toBe('skipped');
    expect(jobsOf(id)).toEqual([buildName]);

    fake.startPods(buildName, [0]);
    const pod = await runBuildPod(fake, buildName, `${dir.path}/build-${id}`);
    expect(pod.build.code).toBe(0);
    expect(pod.report).toMatchObject({ code: 0 });
    expect(pod.kanikoArgs).toContain(`--context=s3://amun/inspections/${id}/build/context.tar.gz`);
    const status = await waitFor('the build status', async () => stack.app.records.buildStatus(id));
    // The build pushed its own tag; the status carries the digest it reported.
    const tag = buildImageTag(registry.repository, status.stack_digest!, id);
    expect(pod.kanikoArgs).toContain(`--destination=${tag}`);
    expect(status).toMatchObject({ state: 'succeeded', executor: 'kubernetes', exit_code: 0, reason: null, image: tag, image_digest: registry.digestOf(tag.split(':').at(-1)!), cached: false });
    const log = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/build/log`)).body.log as string;
    expect(log).toContain('Pushed image');
    fake.setJobStatus(buildName, { active: 0, succeeded: 1, completionTime: now(), conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: now() }] });
  });

  it('runs an Indexed Job; the upload sidecar posts each item under results/ with the POST policy', async () => {
    const runName = objectName(id, 'run');
    await waitFor('the run job', async () => fake.get('Secret', objectName(id, 'run-upload')));
    const job = fake.get('Job', runName)!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...job });
    // What client-node sent is what the builder made: the fields survived serialization.
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 1, backoffLimitPerIndex: 1 });
    expect(job.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([
      { key: 'feature.node.kubernetes.io/cpu-model.family', operator: 'In', values: ['6'] },
      { key: 'feature.node.kubernetes.io/cpu-model.id', operator: 'In', values: ['85'] },
    ]);
    expect(job.spec.template.spec.initContainers[0].restartPolicy).toBe('Always');
    // Pinned to the digest the schedule stage resolved from the build's tag, and recorded for the stack.
    const status = (await stack.app.records.buildStatus(id))!;
    expect(job.spec.template.spec.containers[0].image).toBe(`${registry.repository}@${status.image_digest}`);
    expect(await stack.app.cluster!.images.read(status.stack_digest!)).toMatchObject({ digest: status.image_digest, inspection_id: id, image: `${registry.repository}@${status.image_digest}` });
    const secret = fake.get('Secret', objectName(id, 'run-upload'))!;
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Job', name: runName, uid: job.metadata.uid })]);
    const curlrc = Buffer.from(secret.data['post.curlrc'], 'base64').toString('utf8');
    const policy = JSON.parse(Buffer.from(/form-string = "policy=([^"]+)"/.exec(curlrc)![1]!, 'base64').toString('utf8'));
    expect(policy.conditions).toContainEqual(['starts-with', '$key', `inspections/${id}/results/`]);

    // A redelivered build status event meets the same run Job.
    await stack.app.pipeline.schedule(id);
    expect(jobsOf(id)).toEqual([objectName(id, 'build'), runName]);
    expect(fake.list('Secret').filter((s) => s.metadata.labels['amun/inspection-id'] === id)).toHaveLength(2);

    const pods = fake.startPods(runName, [0, 1, 2], 'node-cpu-6-85');
    for (const item of [0, 1]) {
      const { harness, upload } = await runItemPod(fake, runName, item, script, `${dir.path}/run-${id}`);
      expect(harness.code).toBe(0);
      expect(upload.code).toBe(0);
      fake.setPodStatus(pods[item]!.metadata.name, { phase: 'Succeeded', containerStatuses: [{ name: 'harness', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now(), finishedAt: now() } } }] });
    }
    const first = await waitFor('two results', async () => ((await summary(id))?.items_done === 2 ? await summary(id) : undefined));
    expect(first).toMatchObject({ state: 'running', items_failed: 0 });
    const report = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/1/result`)).body.result as RunReport;
    expect(report).toMatchObject({ exit_code: 0, reason: null, executor: 'kubernetes', item: 1, inspection_id: id, stdout: { item: '1', executor: 'kubernetes' } });
    expect(await stack.app.store.exists(stack.app.layout.resultHwinfo(id, 1))).toBe(true);
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/1/log`)).body.log).toContain('"item": "1"');
  });

  it('an OOMKilled pod gets a result with the reason from the reconciler, and the inspection ends', async () => {
    const runName = objectName(id, 'run');
    const oomPod = fake.list('Pod').find((p) => p.metadata.labels['job-name'] === runName && p.metadata.annotations['batch.kubernetes.io/job-completion-index'] === '2')!;
    fake.setPodStatus(oomPod.metadata.name, {
      phase: 'Failed',
      containerStatuses: [{ name: 'harness', ready: false, restartCount: 0, image: 'x', imageID: '', state: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: now(), finishedAt: now() } } }],
    });
    fake.setLog(oomPod.metadata.name, 'harness', 'allocating 4 GiB\n');
    fake.setJobStatus(runName, { active: 0, succeeded: 2, failed: 1, completedIndexes: '0-1', failedIndexes: '2', completionTime: undefined, conditions: [{ type: 'Failed', status: 'True', reason: 'FailedIndexes', message: 'Job has failed indexes', lastTransitionTime: now() }] });

    // Live status while the objects exist: conditions, counts, pod phases and node names.
    const live = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
    const runView = live.workflow.cluster.jobs.find((j: { component: string }) => j.component === 'run');
    expect(runView).toMatchObject({ name: runName, active: 0, succeeded: 2, failed: 1, completed_indexes: [0, 1], failed_indexes: [2], conditions: [expect.objectContaining({ type: 'Failed', reason: 'FailedIndexes' })] });
    expect(runView.pods).toContainEqual(expect.objectContaining({ index: 2, phase: 'Failed', node_name: 'node-cpu-6-85', containers: [{ name: 'harness', state: 'terminated', reason: 'OOMKilled', exit_code: 137 }] }));

    const handler = makeReconcileHandler(stack.app);
    const pass = await handler();
    expect(pass).toMatchObject({ results: 1, build_statuses: 0, ttls: 2, errors: 0 });
    const result = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/2/result`)).body.result as RunReport;
    expect(result).toMatchObject({ reason: 'oom', exit_code: -9, executor: 'kubernetes', item: 2, hostname: oomPod.metadata.name });
    expect(result.message).toMatch(/OOMKilled.*node-cpu-6-85/);
    expect((await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/job/2/log`)).body.log).toContain('allocating 4 GiB');
    const done = await waitFor('the inspection to finish', async () => ((await summary(id))?.finished ? await summary(id) : undefined));
    expect(done).toMatchObject({ state: 'failed', items_done: 3, items_failed: 1, items: [expect.objectContaining({ item: 0, reason: null }), expect.objectContaining({ item: 1, reason: null }), expect.objectContaining({ item: 2, reason: 'oom' })] });

    // Idempotent: a second pass writes nothing and sets no TTL again.
    expect(await reconciler().run()).toMatchObject({ results: 0, build_statuses: 0, ttls: 0, deleted: 0, errors: 0 });
  });

  it('cleans up after the TTL, and status still answers from the store', async () => {
    expect(fake.get('Job', objectName(id, 'run'))!.spec.ttlSecondsAfterFinished).toBe(900);
    expect(fake.runTtlController()).toEqual([]);
    fake.advance(901);
    expect(fake.runTtlController().sort()).toEqual([objectName(id, 'build'), objectName(id, 'run')]);
    expect(jobsOf(id)).toEqual([]);
    expect(fake.list('Pod').filter((p) => p.metadata.labels['amun/inspection-id'] === id)).toEqual([]);
    expect(fake.list('Secret').filter((s) => s.metadata.labels['amun/inspection-id'] === id)).toEqual([]);
    const status = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
    expect(status.workflow).not.toHaveProperty('cluster');
    expect(status).toMatchObject({ build: { state: 'terminated', exit_code: 0 }, workflow: { state: 'failed', items_done: 3 }, data_stored: true });
    expect(await reconciler().run()).toMatchObject({ jobs: 0, results: 0 });
  });

  it('GPU spec: a build cached from the functions’ record runs at once; a run Job past its deadline fails the inspection with the reason', async () => {
    const { stackDigest } = await stack.app.inspections.prepare(gpuSpec, new Date()).then(async (p) => {
      const { generateBuild } = await import('../../functions/core/dockerfile.js');
      const { harnessFiles } = await import('../../functions/core/generated/harness.js');
      return generateBuild(p.specification, harnessFiles);
    });
    // An earlier build of this stack, verified and recorded by the functions.
    const earlier = 'inspection-k8s-gpu-earlier-0123abcd';
    const digest = registry.push(buildImageTag(registry.repository, stackDigest, earlier).split(':').at(-1)!);
    expect(await stack.app.cluster!.images.verifyBuild({ stackDigest, inspectionId: earlier, reported: digest })).toMatchObject({ ok: true, recorded: true });
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', gpuSpec);
    const gpuId = submitted.body.inspection_id as string;
    const runName = objectName(gpuId, 'run');
    await waitFor('the run job', async () => fake.get('Secret', objectName(gpuId, 'run-upload')));
    const status = await stack.app.records.buildStatus(gpuId);
    expect(status).toMatchObject({ state: 'succeeded', cached: true, image: `${registry.repository}@${digest}`, image_digest: digest });
    expect(jobsOf(gpuId)).toEqual([runName]);

    const pod = fake.get('Job', runName)!.spec.template.spec;
    expect(pod.containers[0].image).toBe(`${registry.repository}@${digest}`);
    expect(pod.containers[0].resources.limits).toEqual({ cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' });
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);

    fake.startPods(runName, [0, 1], 'gpu-node-1');
    fake.advance(60);
    fake.setJobStatus(runName, { active: 0, failed: 2, conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline', lastTransitionTime: now() }] });
    expect(await reconciler().run()).toMatchObject({ results: 2, ttls: 1, errors: 0 });
    const done = await waitFor('the inspection to finish', async () => ((await summary(gpuId))?.finished ? await summary(gpuId) : undefined));
    expect(done).toMatchObject({ state: 'failed', items_failed: 2, items: [expect.objectContaining({ reason: 'deadline' }), expect.objectContaining({ reason: 'deadline' })] });
    const result = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${gpuId}/job/0/result`)).body.result as RunReport;
    expect(result.message).toMatch(/deadline of 1080 s/);
  });

  it('needed no more than deploy/kubernetes/rbac.yaml grants', () => {
    const role = parseAllDocuments(readFileSync(join(process.cwd(), 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: Array<{ resources: string[]; verbs: string[] }> }).find((d) => d.kind === 'Role')!;
    const allowed = new Set(role.rules!.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`))));
    const used = new Set(
      fake.requests.map(({ method, path }) => {
        const m = /\/namespaces\/[^/]+\/([a-z]+)(\/[^/?]+)?(\/log)?(\?.*)?$/.exec(path)!;
        const resource = m[3] ? `${m[1]}/log` : m[1];
        const verb = method === 'POST' ? 'create' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? 'delete' : m[2] ? 'get' : /[?&]watch=(true|1)/.test(m[4] ?? '') ? 'watch' : 'list';
        return `${verb} ${resource}`;
      }),
    );
    expect([...used].filter((u) => !allowed.has(u))).toEqual([]);
  });
});
