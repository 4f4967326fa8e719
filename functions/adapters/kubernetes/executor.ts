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
 *   result. Runs that cannot be placed or given a verified image are refused, with the reason the
 *   pipeline records for every item.
 *
 * Every name is deterministic: a redelivered message meets 409 AlreadyExists and goes on.
 */
import type { V1Job } from '@kubernetes/client-node';
import type { BuildOutcome, BuildRequest, Clock, Executor, StartedRuns, StartRunsRequest } from '../../core/ports.js';
import type { InspectionRecords } from '../../core/records.js';
import type { KubeApi } from './kube-api.js';
import type { ImageRecords } from './images.js';
import {
  buildImageTag,
  buildJob,
  dockerConfigMap,
  LABELS,
  pinnedImage,
  placement,
  PlacementError,
  runJob,
  selector,
  type ClusterSettings,
  type Component,
} from './manifests/index.js';
import { tarGz } from './tar.js';
import { grantAnnotation, grantNeededUntil, UploadGrants } from './upload-grants.js';
import type { UploadSigner } from './upload-signer.js';

export interface KubernetesExecutorDeps {
  api: KubeApi;
  records: InspectionRecords;
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
  /** The Jobs' upload grants: the first here, renewals by the reconciler. */
  readonly grants: UploadGrants;

  constructor(private readonly deps: KubernetesExecutorDeps) {
    this.grants = new UploadGrants({ signer: deps.signer, layout: deps.records.layout, clock: deps.clock, namespace: deps.settings.namespace });
  }

  get settings(): ClusterSettings {
    return this.deps.settings;
  }

  async build(request: BuildRequest): Promise<BuildOutcome> {
    const { api, records, settings, clock } = this.deps;
    const { layout } = records;
    const id = request.inspectionId;
    const startedAt = clock.now().toISOString();
    const image = buildImageTag(settings.registry, request.stackDigest, id);
    const contextKey = layout.contextTarball(id);
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

    await records.writeContextTarball(id, tarGz([{ path: 'Dockerfile', content: request.dockerfile }, ...request.context]));
    const { job: live, created } = await api.createJob(job);
    await this.grant('build', id, live, job);
    if (settings.registryAuth.kind === 'ecr') await api.createConfigMap(dockerConfigMap(id, settings, live));
    const name = live.metadata?.name ?? job.metadata?.name ?? '';
    request.log.write(`kubernetes: ${created ? 'created' : 'found'} build job ${settings.namespace}/${name}: kaniko builds s3://${settings.storage.bucket}/${contextKey} into ${image}\n`);
    return { state: 'pending', message: `kubernetes: the build job reports its log and status here when it ends (deadline ${settings.buildDeadlineSeconds} s)` };
  }

  async startRuns(request: StartRunsRequest): Promise<StartedRuns> {
    const { api, records, settings } = this.deps;
    const { layout } = records;
    const id = request.inspectionId;
    try {
      placement(request.spec.run?.requests, settings.labels, '/run/requests');
    } catch (error) {
      if (!(error instanceof PlacementError)) throw error;
      return { state: 'refused', message: `${error.message}: ${problemsText(error)}` };
    }
    // Which stack this is comes from the stored Dockerfile and context (what the build stage
    // built, as the pipeline digests it), not from the status a build pod uploaded; then the
    // image the functions verified for it.
    const resolved = await this.deps.images.runImage({ stackDigest: request.stackDigest, inspectionId: id, reported: request.build.image_digest });
    if (!resolved.ok) {
      // A redelivered message finds the runs started already: they keep the image they have.
      if (await this.runJobExists(id)) return { state: 'started' };
      return { state: 'refused', message: `kubernetes: no verified image to run: ${resolved.message}` };
    }
    const image = pinnedImage(settings.registry, resolved.record.digest);
    const job = runJob({ inspectionId: id, spec: request.spec, image, deadlineSeconds: request.deadlineSeconds, resultsPrefix: layout.resultsPrefix(id), settings });
    const { job: live } = await api.createJob(job);
    await this.grant('run', id, live, job);
    return { state: 'started' };
  }

  /**
   * The Job's upload grant, for its deadline plus the margin (or as long as the credentials allow:
   * the reconciler renews it then), and the annotation that says when it ends. A redelivery finds
   * the Secret there and leaves both as they are; a Job left without the annotation (a crash
   * between the two) gets a new grant from the reconciler.
   */
  private async grant(component: Component, id: string, live: V1Job, made: V1Job): Promise<void> {
    const { api, clock } = this.deps;
    const until = grantNeededUntil(
      { createdAt: live.metadata?.creationTimestamp ? new Date(live.metadata.creationTimestamp).toISOString() : null, startTime: null, activeDeadlineSeconds: live.spec?.activeDeadlineSeconds ?? made.spec?.activeDeadlineSeconds ?? null },
      clock.now(),
    );
    const issued = await this.grants.issue(component, id, until, live);
    if (await api.createSecret(issued.secret)) await api.annotateJob(live.metadata?.name ?? made.metadata?.name ?? '', grantAnnotation(issued.expiresAt));
  }

  private async runJobExists(id: string): Promise<boolean> {
    const jobs = await this.deps.api.listJobs(selector(id));
    return jobs.some((j) => j.metadata?.labels?.[LABELS.component] === 'run');
  }
}
