/**
 * The Kubernetes executor: builds and runs as cluster Jobs. Neither waits for the cluster.
 *
 * build: when the functions recorded an image for this stack (and the registry still has it) the
 *   build is cached and its status is written at once; a tag in the registry is never taken for a
 *   build. Otherwise the context (with the Dockerfile) goes to the store as a tarball beside the
 *   inspection, the build Job is created with a Secret holding presigned PUT URLs for `build/log`
 *   and `build/status`, and the build stage is told `pending`: the Job's report step uploads the
 *   status when kaniko ends (that object triggers scheduling), and the reconciler writes it for a
 *   Job that dies first.
 * startRuns: resolves the image to run (images.ts: the stack's record, or the digest the registry
 *   gives for this build's own tag when it is the one the build reported) and creates the Indexed
 *   run Job pinned to `<registry>@sha256:…`, and a Secret with a presigned POST policy for the
 *   inspection's `results/` prefix; each pod's upload sidecar posts its item's hwinfo, log and
 *   result. Runs that cannot be given a verified image get results that say why.
 *
 * Every name is deterministic: a redelivered message meets 409 AlreadyExists and goes on.
 */
import type { V1Job } from '@kubernetes/client-node';
import { CorruptDataError } from '../../core/errors.js';
import { digestBuild } from '../../core/dockerfile.js';
import { BUILD_CONTEXT_TAGS, type Layout } from '../../core/layout.js';
import {
  buildImageTag,
  buildJob,
  contextTarballKey,
  curlPostConfig,
  curlPutConfig,
  dockerConfigMap,
  LABELS,
  pinnedImage,
  runJob,
  selector,
  uploadSecret,
  type ClusterSettings,
} from '../../core/kubernetes/manifests.js';
import { placement, PlacementError } from '../../core/kubernetes/placement.js';
import { syntheticResult } from '../../core/results.js';
import type { BuildOutcome, BuildRequest, Clock, Executor, ObjectStore, RunRequest } from '../../core/ports.js';
import type { KubeApi } from './kube-api.js';
import type { ImageRecords } from './images.js';
import { tarGz } from './tar.js';
import type { UploadSigner } from './upload-signer.js';

/** Upload grants outlive their Job's deadline by this much. */
export const GRANT_MARGIN_SECONDS = 15 * 60;

export interface KubernetesExecutorDeps {
  api: KubeApi;
  store: ObjectStore;
  layout: Layout;
  signer: UploadSigner;
  /** The functions' image records: cache hits and the digests runs pin. */
  images: ImageRecords;
  settings: ClusterSettings;
  clock: Clock;
}

function problemsText(error: PlacementError): string {
  return error.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
}

export class KubernetesExecutor implements Executor {
  readonly kind = 'kubernetes' as const;

  constructor(private readonly deps: KubernetesExecutorDeps) {}

  get settings(): ClusterSettings {
    return this.deps.settings;
  }

  async build(request: BuildRequest): Promise<BuildOutcome> {
    const { api, store, layout, signer, settings, clock } = this.deps;
    const id = request.inspectionId;
    const startedAt = clock.now().toISOString();
    const image = buildImageTag(settings.registry, request.stackDigest, id);
    const contextKey = contextTarballKey(layout.prefix, id);
    let job: V1Job;
    try {
      job = buildJob({ inspectionId: id, spec: request.spec, stackDigest: request.stackDigest, contextKey, settings });
    } catch (error) {
      if (!(error instanceof PlacementError)) throw error;
      const message = `${error.message}: ${problemsText(error)}`;
      request.log.write(`kubernetes: ${message}\n`);
      return { state: 'failed', started_at: startedAt, finished_at: clock.now().toISOString(), exit_code: null, reason: 'invalid_specification', message, image: null, image_digest: null, stack_digest: request.stackDigest, cached: false };
    }

    const recorded = await this.deps.images.cached(request.stackDigest);
    if (recorded) {
      request.log.write(`kubernetes: this stack was built before (by ${recorded.inspection_id}, recorded ${recorded.recorded_at}): its runs use ${recorded.image}, nothing to build\n`);
      return { state: 'succeeded', started_at: startedAt, finished_at: clock.now().toISOString(), exit_code: 0, reason: null, message: null, image: recorded.image, image_digest: recorded.digest, stack_digest: request.stackDigest, cached: true };
    }

    await store.put(contextKey, tarGz([{ path: 'Dockerfile', content: request.dockerfile }, ...request.context]), 'application/gzip', BUILD_CONTEXT_TAGS);
    const { job: live, created } = await api.createJob(job);
    const expires = settings.buildDeadlineSeconds + GRANT_MARGIN_SECONDS;
    const [logUrl, statusUrl] = await Promise.all([signer.presignPut(layout.buildLog(id), expires), signer.presignPut(layout.buildStatus(id), expires)]);
    await api.createSecret(
      uploadSecret({ inspectionId: id, component: 'build', namespace: settings.namespace, files: { 'log.curlrc': curlPutConfig(logUrl), 'status.curlrc': curlPutConfig(statusUrl) }, owner: live }),
    );
    if (settings.registryAuth.kind === 'ecr') await api.createConfigMap(dockerConfigMap(id, settings, live));
    const name = live.metadata?.name ?? job.metadata?.name ?? '';
    request.log.write(`kubernetes: ${created ? 'created' : 'found'} build job ${settings.namespace}/${name}: kaniko builds s3://${settings.storage.bucket}/${contextKey} into ${image}\n`);
    return { state: 'pending', message: `kubernetes: the build job reports its log and status here when it ends (deadline ${settings.buildDeadlineSeconds} s)` };
  }

  async startRuns(request: Omit<RunRequest, 'item'>): Promise<void> {
    const { api, layout, signer, settings, clock } = this.deps;
    const id = request.inspectionId;
    try {
      placement(request.spec.run?.requests, settings.labels, '/run/requests');
    } catch (error) {
      if (!(error instanceof PlacementError)) throw error;
      await this.refuse(id, request, `${error.message}: ${problemsText(error)}`);
      return;
    }
    // Which stack this is, from the stored Dockerfile and context (what the build stage built),
    // not from the status a build pod uploaded; then the image the functions verified for it.
    const resolved = await this.deps.images.runImage({ stackDigest: await this.stackDigest(id, request), inspectionId: id, reported: request.build.image_digest });
    if (!resolved.ok) {
      // A redelivered message finds the runs started already: they keep the image they have.
      if (await this.runJobExists(id)) return;
      await this.refuse(id, request, `kubernetes: no verified image to run: ${resolved.message}`);
      return;
    }
    const image = pinnedImage(settings.registry, resolved.record.digest);
    const job = runJob({ inspectionId: id, spec: request.spec, image, deadlineSeconds: request.deadlineSeconds, resultsPrefix: layout.resultsPrefix(id), settings });
    const { job: live } = await api.createJob(job);
    const deadline = live.spec?.activeDeadlineSeconds ?? job.spec?.activeDeadlineSeconds ?? 0;
    const created = live.metadata?.creationTimestamp ? new Date(live.metadata.creationTimestamp) : clock.now();
    const expiresAt = new Date(created.getTime() + (deadline + GRANT_MARGIN_SECONDS) * 1000);
    const post = await signer.presignPost(layout.resultsPrefix(id), expiresAt);
    await api.createSecret(uploadSecret({ inspectionId: id, component: 'run', namespace: settings.namespace, files: { 'post.curlrc': curlPostConfig(post.url, post.fields) }, owner: live }));
  }

  private async stackDigest(id: string, request: Omit<RunRequest, 'item'>): Promise<string> {
    const dockerfile = await this.deps.store.get(this.deps.layout.dockerfile(id));
    if (!dockerfile) throw new CorruptDataError(`no Dockerfile stored for ${id}`);
    return digestBuild(dockerfile.toString('utf8'), await request.context());
  }

  private async runJobExists(id: string): Promise<boolean> {
    const jobs = await this.deps.api.listJobs(selector(id));
    return jobs.some((j) => j.metadata?.labels?.[LABELS.component] === 'run');
  }

  /** Runs that cannot be placed, or have no verified image, end at once, each with a result that says why. */
  private async refuse(id: string, request: Omit<RunRequest, 'item'>, message: string): Promise<void> {
    const { store, layout, clock } = this.deps;
    const now = clock.now();
    for (let item = 0; item < (request.spec.batch_size ?? 1); item++) {
      if (await store.exists(layout.result(id, item))) continue;
      const report = syntheticResult({ inspectionId: id, item, executor: 'kubernetes', reason: 'executor_error', message, script: request.spec.script ?? '', startedAt: now, finishedAt: now });
      await store.put(layout.result(id, item), JSON.stringify(report), 'application/json');
    }
  }
}
