/**
 * The reconciler's I/O around the pure decisions of core/kubernetes/reconcile.ts: list Amun's Jobs
 * and pods by label, read what the store holds, write the missing build status or results (log
 * first, the triggering object last), record the images of builds that succeeded (with the image
 * records, when given), then set TTLs and delete Jobs that cannot start. One Job's
 * failure does not stop the others; every write is skipped when its object exists, so a second run
 * over the same state writes nothing.
 */
import type { ImageRecords } from '../adapters/kubernetes/images.js';
import type { KubeApi } from '../adapters/kubernetes/kube-api.js';
import type { BuildStatus, InspectionSpecification } from '../core/generated/types.js';
import { stableJson } from '../core/json.js';
import { selector } from '../core/kubernetes/manifests.js';
import { observeJob, type JobObservation } from '../core/kubernetes/observe.js';
import { DEFAULT_RECONCILE_POLICY, reconcileBuild, reconcileRun, type LogRef, type ReconcileAction, type ReconcilePolicy } from '../core/kubernetes/reconcile.js';
import type { Layout } from '../core/layout.js';
import type { Clock, ObjectStore } from '../core/ports.js';
import { assertStored, validators } from '../core/validation.js';

export interface ReconcilerDeps {
  api: KubeApi;
  store: ObjectStore;
  layout: Layout;
  clock: Clock;
  /** Records the images of finished builds; without it, only the schedule stage records them. */
  images?: ImageRecords | undefined;
  policy?: Partial<ReconcilePolicy>;
  /** Told about each Job that could not be reconciled (the pass goes on). */
  onError?: (job: string, error: unknown) => void;
}

export interface ReconcileReport {
  jobs: number;
  build_statuses: number;
  results: number;
  ttls: number;
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

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class Reconciler {
  private readonly policy: ReconcilePolicy;

  constructor(private readonly deps: ReconcilerDeps) {
    this.policy = { ...DEFAULT_RECONCILE_POLICY, ...deps.policy };
  }

  async run(): Promise<ReconcileReport> {
    const { api } = this.deps;
    const [jobs, pods] = await Promise.all([api.listJobs(selector()), api.listPods(selector())]);
    const report: ReconcileReport = { jobs: 0, build_statuses: 0, results: 0, ttls: 0, deleted: 0, images_recorded: 0, errors: 0 };
    for (const job of jobs) {
      const observed = observeJob(job, pods);
      if (!observed) continue;
      report.jobs++;
      try {
        for (const action of await this.decide(observed)) await this.apply(action, report);
      } catch (error) {
        report.errors++;
        this.deps.onError?.(observed.name, error);
      }
    }
    return report;
  }

  private async decide(job: JobObservation): Promise<ReconcileAction[]> {
    const { store, layout, clock } = this.deps;
    const id = job.inspectionId;
    const specRaw = await store.get(layout.specification(id));
    // A Job of an inspection this store does not know (another deployment's): not ours to write.
    if (!specRaw) return [];
    const now = clock.now();
    if (job.component === 'build') {
      const raw = await store.get(layout.buildStatus(id));
      // A status that does not parse or validate still counts as stored: it is just not one to record an image from.
      const stored = raw ? parsed(raw.toString('utf8')) : undefined;
      return reconcileBuild(job, { statusStored: raw !== undefined, stored: validators.buildStatus(stored) ? (stored as BuildStatus) : undefined, now, policy: this.policy });
    }
    const spec = JSON.parse(specRaw.toString('utf8')) as InspectionSpecification;
    return reconcileRun(job, { stored: await this.storedResults(id), script: spec.script ?? '', now, policy: this.policy });
  }

  /** Items whose result object exists: one listing of results/, not a request per item. */
  private async storedResults(id: string): Promise<Set<number>> {
    const { store, layout } = this.deps;
    const prefix = layout.resultsPrefix(id);
    const stored = new Set<number>();
    let token: string | undefined;
    do {
      const page = await store.list(prefix, token ? { token } : {});
      for (const key of page.keys) {
        const m = /^([0-9]+)\/result$/.exec(key.slice(prefix.length));
        if (m) stored.add(Number(m[1]));
      }
      token = page.nextToken;
    } while (token);
    return stored;
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
    const { api, store, layout } = this.deps;
    switch (action.kind) {
      case 'build-status': {
        const id = action.inspectionId;
        if (await store.exists(layout.buildStatus(id))) return;
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
        const log = podLog || (await store.get(layout.buildLog(id)))?.toString('utf8') || '';
        await store.put(layout.buildLog(id), `${log}${log && !log.endsWith('\n') ? '\n' : ''}[amun reconciler] ${note}\n`, 'text/plain; charset=utf-8');
        assertStored('buildStatus', status, `build status of ${id}`);
        await store.put(layout.buildStatus(id), stableJson(status), 'application/json');
        report.build_statuses++;
        return;
      }
      case 'result': {
        const id = action.inspectionId;
        if (await store.exists(layout.result(id, action.item))) return;
        if (!(await store.exists(layout.resultLog(id, action.item)))) {
          const log = await this.logs(action.logs);
          await store.put(layout.resultLog(id, action.item), `${log}${log && !log.endsWith('\n') ? '\n' : ''}[amun reconciler] ${action.report.message ?? ''}\n`, 'text/plain; charset=utf-8');
        }
        assertStored('result', action.report, `result ${action.item} of ${id}`);
        await store.put(layout.result(id, action.item), stableJson(action.report), 'application/json');
        report.results++;
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
      case 'delete':
        await api.deleteJob(action.job);
        report.deleted++;
        return;
    }
  }
}
