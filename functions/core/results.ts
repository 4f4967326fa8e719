/** Run reports the harness could not write itself (it crashed, the engine killed it, python3 was missing). */
import { createHash } from 'node:crypto';
import type { RunReport } from './generated/types.js';
import type { ExecutorKind } from './ports.js';
import { originalTimestamp, parseTimestamp } from './specification.js';

export const USAGE_FIELDS = [
  'ru_utime', 'ru_stime', 'ru_maxrss', 'ru_ixrss', 'ru_idrss', 'ru_isrss', 'ru_minflt', 'ru_majflt',
  'ru_nswap', 'ru_inblock', 'ru_oublock', 'ru_msgsnd', 'ru_msgrcv', 'ru_nsignals', 'ru_nvcsw', 'ru_nivcsw',
] as const;

export interface SyntheticResultInput {
  inspectionId: string;
  item: number;
  executor: ExecutorKind;
  reason: NonNullable<RunReport['reason']>;
  message: string;
  /** The script's text, or its sha256 when only that is known (a fetched script: reportedScript()). */
  script: string | { sha256: string };
  startedAt: Date;
  finishedAt: Date;
  exitCode?: number | null;
  hostname?: string;
  stdout?: unknown;
  stderr?: string;
}

export function syntheticResult(input: SyntheticResultInput): RunReport {
  return {
    datetime: originalTimestamp(input.finishedAt),
    start_datetime: originalTimestamp(input.startedAt),
    end_datetime: originalTimestamp(input.finishedAt),
    started_at: input.startedAt.toISOString(),
    finished_at: input.finishedAt.toISOString(),
    wall_time: Math.max(0, (input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
    exit_code: input.exitCode ?? null,
    reason: input.reason,
    message: input.message,
    hostname: input.hostname ?? '',
    hwinfo: null,
    os_release: null,
    runtime_environment: { cuda_version: null, hardware: { cpu_family: null, cpu_model: null }, operating_system: { name: null, version: null }, python_version: null },
    script_sha256: typeof input.script === 'string' ? createHash('sha256').update(input.script).digest('hex') : input.script.sha256,
    stdout: input.stdout ?? {},
    stderr: input.stderr ?? '',
    usage: Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as RunReport['usage'],
    executor: input.executor,
    inspection_id: input.inspectionId,
    item: input.item,
  };
}

/** The keys of every report the original service wrote (its amun/inspect.py). */
const ORIGINAL_KEYS = ['datetime', 'exit_code', 'hwinfo', 'os_release', 'runtime_environment', 'script_sha256', 'stderr', 'stdout', 'usage'] as const;


/**
 * A report the original service wrote (its keys only: no executor or reason) as ours: started and
 * finished at its `start_datetime` and `end_datetime` when it has them (its later versions), at
 * its `datetime` otherwise; wall time from those two, or not measured; run on the original's
 * Kubernetes; no reason. Undefined when the value is not one.
 */
export function fromOriginalReport(value: unknown): RunReport | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const report = value as Record<string, unknown>;
  if (!ORIGINAL_KEYS.every((key) => key in report)) return undefined;
  if (!(report.exit_code === null || Number.isInteger(report.exit_code))) return undefined;
  const at = parseTimestamp(report.datetime);
  if (Number.isNaN(at)) return undefined;
  const start = parseTimestamp(report.start_datetime);
  const end = parseTimestamp(report.end_datetime);
  const timed = !Number.isNaN(start) && !Number.isNaN(end) && end >= start;
  return {
    ...(report as Omit<RunReport, 'started_at' | 'finished_at' | 'wall_time' | 'executor' | 'reason' | 'hostname'>),
    hostname: typeof report.hostname === 'string' ? report.hostname : '',
    started_at: typeof report.started_at === 'string' ? report.started_at : new Date(timed ? start : at).toISOString(),
    finished_at: typeof report.finished_at === 'string' ? report.finished_at : new Date(timed ? end : at).toISOString(),
    wall_time: typeof report.wall_time === 'number' ? report.wall_time : timed ? (end - start) / 1000 : null,
    executor: report.executor === 'process' || report.executor === 'container' || report.executor === 'kubernetes' ? report.executor : 'kubernetes',
    reason: (report.reason as RunReport['reason'] | undefined) ?? null,
  };
}
