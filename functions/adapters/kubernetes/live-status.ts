/** The status endpoint's live view of an inspection: its Jobs and their pods, listed by label. */
import type { Clock, ClusterView, LiveStatusSource } from '../../core/ports.js';
import type { KubeApi } from './kube-api.js';
import { selector } from './manifests/index.js';
import { clusterView, observeJob, type JobObservation } from './model/observe.js';

export class KubernetesLiveStatus implements LiveStatusSource {
  constructor(
    private readonly api: KubeApi,
    private readonly clock: Clock,
  ) {}

  async observe(inspectionId: string): Promise<ClusterView | undefined> {
    const labels = selector(inspectionId);
    const [jobs, pods] = await Promise.all([this.api.listJobs(labels), this.api.listPods(labels)]);
    const observed = jobs.map((job) => observeJob(job, pods)).filter((job): job is JobObservation => job !== undefined);
    return observed.length > 0 ? clusterView(observed, this.clock.now()) : undefined;
  }
}
