/**
 * What the reconciler does about one Job, as a pure function of what it observed and what the store
 * holds: write the build status or a run result that a pod never wrote (with the reason: OOMKilled,
 * evicted, deadline, image pull failure, a lost upload), record the image of a build that succeeded
 * (the functions' own record: a later build of the same stack is cached from it, also when the
 * build had no script and so no runs that would have recorded it), give a finished Job its TTL
 * once all it produces is stored, renew the upload grant of a Job that still runs before it ends
 * (upload-grants.ts), and delete a Job whose pods cannot start. Idempotent: a second pass over the
 * same state finds the objects written and does nothing more than the TTL it has not set yet.
 */
import { ENV } from '../../../config.js';
import type { BuildStatus, RunReport } from '../../../core/generated/types.js';
import { syntheticResult } from '../../../core/results.js';
import { STACK_DIGEST } from '../manifests/image-refs.js';
import { ANNOTATIONS, CONTAINERS, type Component } from '../manifests/names.js';
import { DEFAULT_REFRESH_BEFORE_SECONDS, grantDue, grantNeededUntil } from '../upload-grants.js';
import { condition, finishedAt, isFinished, type JobObservation, type PodObservation } from './observe.js';

export interface ReconcilePolicy {
  /** The TTL a finished Job gets once its outcomes are stored; the live status shows it until then. */
  finishedTtlSeconds: number;
  /** A pod stuck this long on its image or its configuration is given up. */
  stuckSeconds: number;
  /** A completed item without a result is lost only this long after its pod ended. */
  uploadGraceSeconds: number;
  /** An unfinished Job's upload grant is replaced this long before it ends (upload-grants.ts). */
  grantRefreshSeconds: number;
}

export const DEFAULT_RECONCILE_POLICY: ReconcilePolicy = { finishedTtlSeconds: 900, stuckSeconds: 600, uploadGraceSeconds: 120, grantRefreshSeconds: DEFAULT_REFRESH_BEFORE_SECONDS };

export interface LogRef {
  pod: string;
  container: string;
}

export type ReconcileAction =
  /** `reportLog`: the report step prints the status it could not upload; prefer that one when valid. */
  | { kind: 'build-status'; inspectionId: string; status: BuildStatus; logs: LogRef[]; reportLog?: LogRef }
  | { kind: 'result'; inspectionId: string; item: number; report: RunReport; logs: LogRef[] }
  /** Verify the build's own tag against the digest it reported and record the stack's image (skipped when recorded). */
  | { kind: 'record-image'; inspectionId: string; stackDigest: string; reported: string | null }
  | { kind: 'ttl'; job: string; seconds: number }
  /** A new upload grant for an unfinished Job whose grant ends before its pods may stop uploading. */
  | { kind: 'grant'; job: string; uid: string | null; inspectionId: string; component: Component; until: Date }
  /** Remember on the Job why the scheduler cannot place its pod (the pod goes at the deadline). */
  | { kind: 'annotate'; job: string; annotations: Record<string, string> }
  | { kind: 'delete'; job: string; why: string };

type Cause = 'oom' | 'evicted' | 'image_pull' | 'cannot_start' | 'exit' | 'deadline' | 'lost';

interface Failure {
  cause: Cause;
  message: string;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  pod: PodObservation | undefined;
}

const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CANNOT_START = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError', 'StartError', 'ContainerCannotRun']);

const BUILD_REASON: Record<Cause, string> = {
  oom: 'oom',
  evicted: 'evicted',
  image_pull: 'image_pull_failed',
  cannot_start: 'executor_error',
  exit: 'executor_error',
  deadline: 'timeout',
  lost: 'executor_error',
};

const RUN_REASON: Record<Cause, NonNullable<RunReport['reason']>> = {
  oom: 'oom',
  evicted: 'lost',
  image_pull: 'executor_error',
  cannot_start: 'executor_error',
  exit: 'harness_error',
  deadline: 'deadline',
  lost: 'lost',
};

function on(pod: PodObservation | undefined): string {
  return pod?.nodeName ? ` on node ${pod.nodeName}` : '';
}

/** Why a pod's `container` did not produce its objects, from the pod's own status. */
export function podFailure(pod: PodObservation | undefined, container: string): Failure {
  const base = { exitCode: null, startedAt: pod?.startTime ?? null, finishedAt: null, pod };
  if (!pod) return { ...base, cause: 'lost', message: 'no pod is left to tell what happened' };
  const c = pod.containers.find((x) => x.name === container);
  const times = { startedAt: c?.startedAt ?? pod.startTime, finishedAt: c?.finishedAt ?? null };
  if (c?.state === 'terminated' && c.reason === 'OOMKilled') {
    return { ...base, ...times, cause: 'oom', exitCode: c.exitCode === 137 ? -9 : null, message: `the ${container} container was killed for exceeding its memory limit (OOMKilled, exit code ${c.exitCode ?? 'unknown'})${on(pod)}` };
  }
  if (pod.reason === 'Evicted' || pod.disrupted) {
    return { ...base, ...times, cause: 'evicted', message: `the pod was evicted${on(pod)}${pod.message ? `: ${pod.message}` : ''}` };
  }
  const waiting = pod.containers.find((x) => x.state === 'waiting' && x.reason !== null && IMAGE_PULL.has(x.reason));
  if (waiting) return { ...base, cause: 'image_pull', message: `the image of the ${waiting.name} container could not be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''})` };
  const broken = pod.containers.find((x) => x.reason !== null && CANNOT_START.has(x.reason));
  if (broken) return { ...base, cause: 'cannot_start', message: `the ${broken.name} container could not start (${broken.reason}${broken.message ? `: ${broken.message}` : ''})` };
  if (c?.state === 'terminated' && c.exitCode !== 0) {
    return { ...base, ...times, cause: 'exit', exitCode: null, message: `the ${container} container exited with code ${c.exitCode ?? 'unknown'}${c.reason ? ` (${c.reason})` : ''}${on(pod)} without writing its report` };
  }
  return { ...base, ...times, cause: 'lost', message: `the pod ended ${pod.phase}${pod.reason ? ` (${pod.reason})` : ''}${on(pod)} without a report` };
}

/** The latest pod waiting on its image or its configuration for longer than `stuckSeconds`. */
function stuck(pods: ReadonlyArray<PodObservation>, now: Date, stuckSeconds: number): Failure | undefined {
  const pod = pods.at(-1);
  if (!pod || pod.phase !== 'Pending' || !pod.createdAt) return undefined;
  if (now.getTime() - Date.parse(pod.createdAt) < stuckSeconds * 1000) return undefined;
  const failure = podFailure(pod, CONTAINERS.harness);
  if (failure.cause !== 'image_pull' && failure.cause !== 'cannot_start') return undefined;
  return { ...failure, message: `${failure.message}; given up after ${stuckSeconds} s` };
}

/** A pod the scheduler cannot place (no node fits it), with the scheduler's account of the nodes. */
function unschedulable(pod: PodObservation | undefined): string | undefined {
  if (!pod || pod.phase !== 'Pending' || pod.nodeName !== null || pod.reason !== 'Unschedulable') return undefined;
  return pod.message ?? 'no node fits its requests';
}

/** Keeps the scheduler's message on the Job while its pod waits (the Job controller deletes the pod at the deadline). */
function rememberUnschedulable(job: JobObservation): ReconcileAction[] {
  const message = job.pods.map(unschedulable).find((m) => m !== undefined);
  if (message === undefined || job.annotations[ANNOTATIONS.unschedulable] === message) return [];
  return [{ kind: 'annotate', job: job.name, annotations: { [ANNOTATIONS.unschedulable]: message.slice(0, 4000) } }];
}

/** Why an item that never started did not: the scheduler's word, from its pod or as the Job kept it. */
function neverScheduled(job: JobObservation, pod: PodObservation | undefined): string {
  if (pod && pod.nodeName !== null) return '';
  const message = unschedulable(pod) ?? job.annotations[ANNOTATIONS.unschedulable];
  return message ? `; its pod was never scheduled: ${message}` : '';
}

function deadlineFailure(job: JobObservation, pod: PodObservation | undefined): Failure {
  const seconds = job.activeDeadlineSeconds;
  return {
    cause: 'deadline',
    message: `the job's deadline${seconds !== null ? ` of ${seconds} s` : ''} passed before this ended (DeadlineExceeded)${neverScheduled(job, pod)}`,
    exitCode: null,
    startedAt: pod?.startTime ?? job.startTime,
    finishedAt: finishedAt(job),
    pod,
  };
}

function logsOf(pod: PodObservation | undefined, ...containers: string[]): LogRef[] {
  return pod ? containers.filter((c) => pod.containers.some((x) => x.name === c)).map((container) => ({ pod: pod.name, container })) : [];
}

function grantIfDue(job: JobObservation, now: Date, policy: ReconcilePolicy): ReconcileAction[] {
  if (isFinished(job)) return [];
  const until = grantNeededUntil(job, now);
  if (!grantDue(job.annotations, until, now, policy.grantRefreshSeconds)) return [];
  return [{ kind: 'grant', job: job.name, uid: job.uid, inspectionId: job.inspectionId, component: job.component, until }];
}

function ttlIfDue(job: JobObservation, policy: ReconcilePolicy): ReconcileAction[] {
  return isFinished(job) && job.ttlSecondsAfterFinished === null ? [{ kind: 'ttl', job: job.name, seconds: policy.finishedTtlSeconds }] : [];
}

/** A builder that outgrew its memory or its disk: the limit it had (the build Job's annotations) and where more comes from. */
function builderAdvice(job: JobObservation, failure: Failure): Failure {
  const memory = job.annotations[ANNOTATIONS.builderMemory];
  const storage = job.annotations[ANNOTATIONS.builderStorage];
  // The kubelet's messages end in a full stop.
  const said = failure.message.replace(/[.\s]+$/, '');
  if (failure.cause === 'oom' && memory) {
    return { ...failure, message: `${said}; the builder's memory limit was ${memory} (the larger of build.requests.memory and the cluster's ${ENV.k8sBuilderMemory}): ask for more with build.requests.memory` };
  }
  if (failure.cause === 'evicted' && storage && /ephemeral|local storage/i.test(failure.message)) {
    return {
      ...failure,
      message: `${said}; the builder had ${storage} of ephemeral storage (${ENV.k8sBuilderEphemeralStorage}, or ${ENV.k8sBuilderLargeEphemeralStorage} for CUDA and deep learning stacks), less than this stack needs to build`,
    };
  }
  return failure;
}

/** A build whose pods were evicted by disruptions (retried without counting) until its deadline says so. */
function evictedBefore(job: JobObservation): string {
  const evicted = job.pods.filter((p) => p.reason === 'Evicted' || p.disrupted);
  const last = evicted.at(-1);
  if (!last) return '';
  return `; its pod was evicted ${evicted.length === 1 ? 'once' : `${evicted.length} times`} and started again, the last time${on(last)}${last.message ? `: ${last.message}` : ''}`;
}

export interface BuildContext {
  statusStored: boolean;
  /** The stored build status, when there is one. */
  stored?: BuildStatus | undefined;
  now: Date;
  policy: ReconcilePolicy;
}

/** A Job that completed and a status that says it built (not cached): its image is worth recording. */
function recordIfDue(job: JobObservation, stored: BuildStatus | undefined): ReconcileAction[] {
  const stackDigest = job.annotations[ANNOTATIONS.stackDigest] ?? '';
  if (stored?.state !== 'succeeded' || stored.cached || !condition(job, 'Complete') || !STACK_DIGEST.test(stackDigest)) return [];
  return [{ kind: 'record-image', inspectionId: job.inspectionId, stackDigest, reported: stored.image_digest ?? null }];
}

export function reconcileBuild(job: JobObservation, { statusStored, stored, now, policy }: BuildContext): ReconcileAction[] {
  if (statusStored) return [...recordIfDue(job, stored), ...ttlIfDue(job, policy)];
  const pod = job.pods.at(-1);
  let failure: Failure;
  let terminal: ReconcileAction[];
  if (!isFinished(job)) {
    const blocked = stuck(job.pods, now, policy.stuckSeconds);
    if (!blocked) return [...rememberUnschedulable(job), ...grantIfDue(job, now, policy)];
    failure = blocked;
    terminal = [{ kind: 'delete', job: job.name, why: failure.message }];
  } else {
    terminal = ttlIfDue(job, policy);
    if (condition(job, 'Failed')?.reason === 'DeadlineExceeded') {
      const deadline = deadlineFailure(job, pod);
      failure = { ...deadline, message: `${deadline.message}${evictedBefore(job)}` };
    } else {
      failure = builderAdvice(job, podFailure(pod, CONTAINERS.build));
      const report = pod?.containers.find((c) => c.name === CONTAINERS.report);
      if (failure.cause === 'lost' && report?.state === 'terminated') {
        failure = { ...failure, message: `the build ended but its report step did not upload the build status (exit code ${report.exitCode ?? 'unknown'})`, finishedAt: report.finishedAt };
      }
    }
  }
  const status: BuildStatus = {
    inspection_id: job.inspectionId,
    state: 'failed',
    started_at: failure.startedAt ?? job.startTime ?? job.createdAt,
    finished_at: failure.finishedAt ?? finishedAt(job) ?? now.toISOString(),
    exit_code: null,
    reason: BUILD_REASON[failure.cause],
    message: failure.message,
    executor: 'kubernetes',
    image: null,
    image_digest: null,
    stack_digest: job.annotations[ANNOTATIONS.stackDigest] ?? null,
    cached: false,
  };
  const reportLog = pod?.containers.some((c) => c.name === CONTAINERS.report && c.state === 'terminated') ? { pod: pod.name, container: CONTAINERS.report } : undefined;
  return [{ kind: 'build-status', inspectionId: job.inspectionId, status, logs: logsOf(pod, CONTAINERS.build), ...(reportLog ? { reportLog } : {}) }, ...terminal];
}

export interface RunContext {
  /** Items whose result is stored. */
  stored: ReadonlySet<number>;
  /** The script (or its sha256: reportedScript), for the report's script_sha256. */
  script: string | { sha256: string };
  now: Date;
  policy: ReconcilePolicy;
}

export function reconcileRun(job: JobObservation, { stored, script, now, policy }: RunContext): ReconcileAction[] {
  const actions: ReconcileAction[] = [];
  const finished = isFinished(job);
  const deadlineHit = condition(job, 'Failed')?.reason === 'DeadlineExceeded';
  let resolved = 0;
  let gaveUp = false;
  for (let item = 0; item < job.completions; item++) {
    if (stored.has(item)) {
      resolved++;
      continue;
    }
    const pods = job.pods.filter((p) => p.index === item);
    const pod = pods.at(-1);
    let failure: Failure | undefined;
    if (job.completedIndexes.includes(item)) {
      const harness = pod?.containers.find((c) => c.name === CONTAINERS.harness);
      const ended = harness?.finishedAt ?? finishedAt(job);
      if (ended && now.getTime() - Date.parse(ended) < policy.uploadGraceSeconds * 1000) continue;
      failure = { cause: 'lost', message: `the run ended${on(pod)}, but its result never reached the store: the upload step failed (its log follows)`, exitCode: null, startedAt: harness?.startedAt ?? pod?.startTime ?? null, finishedAt: ended, pod };
    } else if (job.failedIndexes.includes(item)) {
      failure = podFailure(pod, CONTAINERS.harness);
    } else if (finished) {
      failure = deadlineHit ? deadlineFailure(job, pod) : podFailure(pod, CONTAINERS.harness);
    } else {
      failure = stuck(pods, now, policy.stuckSeconds);
      if (!failure) continue;
      gaveUp = true;
    }
    const startedAt = new Date(failure.startedAt ?? job.startTime ?? job.createdAt ?? now.toISOString());
    const finishedAtDate = new Date(failure.finishedAt ?? finishedAt(job) ?? now.toISOString());
    const report = syntheticResult({
      inspectionId: job.inspectionId,
      item,
      executor: 'kubernetes',
      reason: RUN_REASON[failure.cause],
      message: failure.message,
      script,
      startedAt,
      finishedAt: finishedAtDate < startedAt ? startedAt : finishedAtDate,
      exitCode: failure.exitCode,
      hostname: failure.pod?.name ?? '',
    });
    actions.push({ kind: 'result', inspectionId: job.inspectionId, item, report, logs: logsOf(failure.pod, CONTAINERS.harness, CONTAINERS.upload) });
    resolved++;
  }
  const everything = resolved >= job.completions;
  if (!finished) actions.push(...rememberUnschedulable(job));
  if (finished && everything) actions.push(...ttlIfDue(job, policy));
  else if (!finished && gaveUp && everything) actions.push({ kind: 'delete', job: job.name, why: 'no item of it can start' });
  else if (!everything) actions.push(...grantIfDue(job, now, policy));
  return actions;
}
