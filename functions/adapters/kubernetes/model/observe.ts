/**
 * What the reconciler and the live status read from the cluster, as plain data: Jobs with their
 * pods, timestamps as ISO strings (the client deserializes them as Dates), completion indexes as
 * numbers. The conversion is pure; the adapter lists the objects.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ClusterView } from '../../../core/ports.js';
import { ANNOTATIONS, LABELS, type Component } from '../manifests/names.js';

export interface ContainerObservation {
  name: string;
  init: boolean;
  state: 'waiting' | 'running' | 'terminated' | 'unknown';
  reason: string | null;
  message: string | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface PodObservation {
  name: string;
  index: number | null;
  phase: string;
  reason: string | null;
  message: string | null;
  nodeName: string | null;
  createdAt: string | null;
  startTime: string | null;
  /** A DisruptionTarget condition: preempted, evicted through the API, or its node drained. */
  disrupted: boolean;
  containers: ContainerObservation[];
}

export interface ConditionObservation {
  type: string;
  status: string;
  reason: string | null;
  message: string | null;
  lastTransitionTime: string | null;
}

export interface JobObservation {
  name: string;
  uid: string | null;
  inspectionId: string;
  component: Component;
  completions: number;
  createdAt: string | null;
  startTime: string | null;
  completionTime: string | null;
  ttlSecondsAfterFinished: number | null;
  activeDeadlineSeconds: number | null;
  active: number;
  succeeded: number;
  failed: number;
  completedIndexes: number[];
  failedIndexes: number[];
  conditions: ConditionObservation[];
  annotations: Record<string, string>;
  pods: PodObservation[];
}

function iso(value: Date | string | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.000Z$/, 'Z');
}

/** "0,2-4" → [0, 2, 3, 4]. */
export function parseIndexes(text: string | undefined | null): number[] {
  if (!text) return [];
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*([0-9]+)(?:-([0-9]+))?\s*$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let i = from; i <= to && i - from < 100_000; i++) out.push(i);
  }
  return out;
}

function podIndex(pod: V1Pod): number | null {
  const raw = pod.metadata?.annotations?.[ANNOTATIONS.completionIndex] ?? pod.metadata?.labels?.[ANNOTATIONS.completionIndex];
  return raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : null;
}

function containers(pod: V1Pod): ContainerObservation[] {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((s) => ({ s, init: true })),
    ...(pod.status?.containerStatuses ?? []).map((s) => ({ s, init: false })),
  ];
  return statuses.map(({ s, init }) => {
    // The state now, or the last one when the container restarted.
    const current = s.state ?? {};
    if (current.terminated) {
      const t = current.terminated;
      return { name: s.name, init, state: 'terminated', reason: t.reason ?? null, message: t.message ?? null, exitCode: t.exitCode ?? null, startedAt: iso(t.startedAt), finishedAt: iso(t.finishedAt) };
    }
    if (current.running) return { name: s.name, init, state: 'running', reason: null, message: null, exitCode: null, startedAt: iso(current.running.startedAt), finishedAt: null };
    if (current.waiting) return { name: s.name, init, state: 'waiting', reason: current.waiting.reason ?? null, message: current.waiting.message ?? null, exitCode: null, startedAt: null, finishedAt: null };
    return { name: s.name, init, state: 'unknown', reason: null, message: null, exitCode: null, startedAt: null, finishedAt: null };
  });
}

export function observePod(pod: V1Pod): PodObservation {
  // A pending pod's reason is on its PodScheduled condition (Unschedulable: no node matches yet).
  const unscheduled = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return {
    name: pod.metadata?.name ?? '',
    index: podIndex(pod),
    phase: pod.status?.phase ?? 'Unknown',
    reason: pod.status?.reason ?? unscheduled?.reason ?? null,
    message: pod.status?.message ?? unscheduled?.message ?? null,
    nodeName: pod.spec?.nodeName ?? null,
    createdAt: iso(pod.metadata?.creationTimestamp),
    startTime: iso(pod.status?.startTime),
    disrupted: (pod.status?.conditions ?? []).some((c) => c.type === 'DisruptionTarget' && c.status === 'True'),
    containers: containers(pod),
  };
}

function ownedBy(pod: V1Pod, job: V1Job): boolean {
  const uid = job.metadata?.uid;
  if (uid && (pod.metadata?.ownerReferences ?? []).some((o) => o.uid === uid)) return true;
  const labels = pod.metadata?.labels ?? {};
  const name = job.metadata?.name;
  return name !== undefined && (labels['batch.kubernetes.io/job-name'] === name || labels['job-name'] === name) && !(pod.metadata?.ownerReferences ?? []).length;
}

/** A Job of Amun's with its pods; undefined for a Job without Amun's labels. */
export function observeJob(job: V1Job, pods: ReadonlyArray<V1Pod>): JobObservation | undefined {
  const labels = job.metadata?.labels ?? {};
  const inspectionId = labels[LABELS.inspection];
  const component = labels[LABELS.component];
  if (!inspectionId || (component !== 'build' && component !== 'run')) return undefined;
  const status = job.status ?? {};
  return {
    name: job.metadata?.name ?? '',
    uid: job.metadata?.uid ?? null,
    inspectionId,
    component,
    completions: job.spec?.completions ?? 1,
    createdAt: iso(job.metadata?.creationTimestamp),
    startTime: iso(status.startTime),
    completionTime: iso(status.completionTime),
    ttlSecondsAfterFinished: job.spec?.ttlSecondsAfterFinished ?? null,
    activeDeadlineSeconds: job.spec?.activeDeadlineSeconds ?? null,
    active: status.active ?? 0,
    succeeded: status.succeeded ?? 0,
    failed: status.failed ?? 0,
    completedIndexes: parseIndexes(status.completedIndexes),
    failedIndexes: parseIndexes(status.failedIndexes),
    conditions: (status.conditions ?? []).map((c) => ({ type: c.type, status: c.status, reason: c.reason ?? null, message: c.message ?? null, lastTransitionTime: iso(c.lastTransitionTime) })),
    annotations: { ...(job.metadata?.annotations ?? {}) },
    pods: pods
      .filter((p) => ownedBy(p, job))
      .map(observePod)
      .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.name.localeCompare(b.name)),
  };
}

export function condition(job: JobObservation, type: string): ConditionObservation | undefined {
  return job.conditions.find((c) => c.type === type && c.status === 'True');
}

/** Complete or Failed: the Job controller is done with it. */
export function isFinished(job: JobObservation): boolean {
  return condition(job, 'Complete') !== undefined || condition(job, 'Failed') !== undefined;
}

export function finishedAt(job: JobObservation): string | null {
  return job.completionTime ?? condition(job, 'Complete')?.lastTransitionTime ?? condition(job, 'Failed')?.lastTransitionTime ?? null;
}

/** The live view the status endpoint joins into `workflow.cluster`. */
export function clusterView(jobs: ReadonlyArray<JobObservation>, observedAt: Date): ClusterView {
  return {
    observed_at: observedAt.toISOString(),
    jobs: [...jobs]
      .sort((a, b) => (a.component === b.component ? a.name.localeCompare(b.name) : a.component === 'build' ? -1 : 1))
      .map((job) => ({
        name: job.name,
        component: job.component,
        active: job.active,
        succeeded: job.succeeded,
        failed: job.failed,
        completed_indexes: job.completedIndexes,
        failed_indexes: job.failedIndexes,
        start_time: job.startTime,
        completion_time: job.completionTime,
        conditions: job.conditions.map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, last_transition_time: c.lastTransitionTime })),
        pods: job.pods.map((p) => ({
          name: p.name,
          index: p.index,
          phase: p.phase,
          node_name: p.nodeName,
          reason: p.reason,
          message: p.message,
          containers: p.containers.map((c) => ({ name: c.name, state: c.state, reason: c.reason, exit_code: c.exitCode })),
        })),
      })),
  };
}
