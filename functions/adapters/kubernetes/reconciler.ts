/**
 * The reconciler's I/O around the pure decisions of model/reconcile.ts: list Amun's Jobs
 * and pods by label, read what the store holds, write the missing build status or results (log
 * first, the triggering object last; through InspectionRecords, which creates each once), record
 * the images of builds that succeeded (with the image records, when given), renew the upload
 * grants of Jobs that still run (with the grant signer, when given), then set TTLs and delete Jobs
 * that cannot start. One Job's failure does not stop the others (a cluster that stops
 * answering does: each of its calls would wait out the timeout); every write is skipped when its
 * object exists, so a second run over the same state writes nothing.
 */
import { NotFoundError } from '../../core/errors.js';
import type { BuildStatus } from '../../core/generated/types.js';
import type { Clock } from '../../core/ports.js';
import type { InspectionRecords } from '../../core/records.js';
import { reportedScript } from '../../core/specification.js';
import { validators } from '../../core/validation.js';
import type { ImageRecords } from './images.js';
import { ClusterUnreachableError, type KubeApi } from './kube-api.js';
import { selector } from './manifests/index.js';
import { grantAnnotation, type UploadGrants } from './upload-grants.js';
import { observeJob, type JobObservation } from './model/observe.js';
import { DEFAULT_RECONCILE_POLICY, reconcileBuild, reconcileRun, type LogRef, type ReconcileAction, type ReconcilePolicy } from './model/reconcile.js';

export type { ReconcilePolicy };

export interface ReconcilerDeps {
  api: KubeApi;
  records: InspectionRecords;
  clock: Clock;
  /** Records the images of finished builds; without it, only the schedule stage records them. */
  images?: ImageRecords | undefined;
  policy?: Partial<ReconcilePolicy>;
  /** Signs the upload grants that replace those about to end; without it, grants are not renewed. */
  grants?: UploadGrants | undefined;
  /** Told about each Job that could not be reconciled (the pass goes on). */
  onError?: (job: string, error: unknown) => void;
}

export interface ReconcileReport {
  jobs: number;
  build_statuses: number;
  results: number;
  ttls: number;
  /** Upload grants renewed (Secrets replaced). */
  grants: number;
  /** Jobs given the scheduler's reason their pod cannot be placed. */
  annotated: number;
  deleted: number;
  /** Stack images recorded from finished builds. */
  images_recorded: number;
  errors: number;
}

/** The last line of a log that parses as JSON, if any. */
function lastJsonLine(text: string | undefined): unknown {
  if (!text) return undefined;
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim() ?? '';
    if (!line.startsWith('{')) continue;
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export class Reconciler {
  private readonly policy: ReconcilePolicy;

  constructor(private readonly deps: ReconcilerDeps) {
    this.policy = { ...DEFAULT_RECONCILE_POLICY, ...deps.policy };
  }

  async run(): Promise<ReconcileReport> {
    const { api } = this.deps;
    const [jobs, pods] = await Promise.all([api.listJobs(selector()), api.listPods(selector())]);
    const report: ReconcileReport = { jobs: 0, build_statuses: 0, results: 0, ttls: 0, grants: 0, annotated: 0, deleted: 0, images_recorded: 0, errors: 0 };
    for (const job of jobs) {
      const observed = observeJob(job, pods);
      if (!observed) continue;
      report.jobs++;
      try {
        for (const action of await this.decide(observed)) await this.apply(action, report);
      } catch (error) {
        // No answer at all (not a 401/403 on one verb): every other Job would wait out the same timeouts.
        if (error instanceof ClusterUnreachableError && error.status === undefined) throw error;
        report.errors++;
        this.deps.onError?.(observed.name, error);
      }
    }
    return report;
  }

  private async decide(job: JobObservation): Promise<ReconcileAction[]> {
    const { records, clock } = this.deps;
    const id = job.inspectionId;
    let spec;
    try {
      spec = await records.specification(id);
    } catch (error) {
      // A Job of an inspection this store does not know (another deployment's): not ours to write.
      if (error instanceof NotFoundError) return [];
      throw error;
    }
    const now = clock.now();
    if (job.component === 'build') {
      const statusStored = await records.hasBuildStatus(id);
      // A status that does not validate still counts as stored: it is just not one to record an image from.
      const stored = statusStored ? await records.buildStatus(id).catch(() => undefined) : undefined;
      return reconcileBuild(job, { statusStored, stored, now, policy: this.policy });
    }
    return reconcileRun(job, { stored: await records.itemsWithResult(id), script: reportedScript(spec), now, policy: this.policy });
  }

  private async logs(refs: ReadonlyArray<LogRef>): Promise<string> {
    const parts: string[] = [];
    for (const ref of refs) {
      const text = await this.deps.api.podLog(ref.pod, ref.container);
      if (text) parts.push(refs.length > 1 ? `--- ${ref.container} ---\n${text}` : text);
    }
    return parts.join(parts.length > 0 && !parts.at(-1)?.endsWith('\n') ? '\n' : '');
  }

  private async apply(action: ReconcileAction, report: ReconcileReport): Promise<void> {
    const { api, records } = this.deps;
    switch (action.kind) {
      case 'build-status': {
        const id = action.inspectionId;
        if (await records.hasBuildStatus(id)) return;
        let status: BuildStatus = action.status;
        let note = action.status.message ?? '';
        if (action.reportLog) {
          const printed = lastJsonLine(await api.podLog(action.reportLog.pod, action.reportLog.container));
          if (validators.buildStatus(printed) && (printed as BuildStatus).inspection_id === id) {
            status = printed as BuildStatus;
            note = 'the report step could not upload the build status; it was taken from the report step\'s log';
          }
        }
        const podLog = await this.logs(action.logs);
        await records.endBuildLog(id, `[amun reconciler] ${note}`, podLog);
        if (await records.writeBuildStatus(id, status)) report.build_statuses++;
        return;
      }
      case 'result': {
        const id = action.inspectionId;
        if (await records.hasResult(id, action.item)) return;
        const log = await this.logs(action.logs);
        await records.writeItemLogIfMissing(id, action.item, `${log}${log && !log.endsWith('\n') ? '\n' : ''}[amun reconciler] ${action.report.message ?? ''}\n`);
        if (await records.writeItem(id, action.item, { report: action.report })) report.results++;
        return;
      }
      case 'record-image': {
        const { images } = this.deps;
        if (!images || (await images.read(action.stackDigest))) return;
        const verified = await images.verifyBuild({ stackDigest: action.stackDigest, inspectionId: action.inspectionId, reported: action.reported });
        if (verified.ok && verified.recorded) report.images_recorded++;
        return;
      }
      case 'ttl':
        await api.setJobTtl(action.job, action.seconds);
        report.ttls++;
        return;
      case 'grant': {
        const { grants } = this.deps;
        if (!grants) return;
        const issued = await grants.issue(action.component, action.inspectionId, action.until, { metadata: { name: action.job, ...(action.uid ? { uid: action.uid } : {}) } });
        await api.replaceSecret(issued.secret);
        await api.annotateJob(action.job, grantAnnotation(issued.expiresAt));
        report.grants++;
        return;
      }
      case 'annotate':
        await api.annotateJob(action.job, action.annotations);
        report.annotated++;
        return;
      case 'delete':
        await api.deleteJob(action.job);
        report.deleted++;
        return;
    }
  }
}
