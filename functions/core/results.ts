/** Run reports the harness could not write itself (it crashed, the engine killed it, python3 was missing). */
import { createHash } from 'node:crypto';
import type { RunReport } from './generated/types.js';
import type { ExecutorKind } from './ports.js';
import { originalTimestamp } from './specification.js';

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
  script: string;
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
    script_sha256: createHash('sha256').update(input.script).digest('hex'),
    stdout: input.stdout ?? {},
    stderr: input.stderr ?? '',
    usage: Object.fromEntries(USAGE_FIELDS.map((f) => [f, 0])) as RunReport['usage'],
    executor: input.executor,
    inspection_id: input.inspectionId,
    item: input.item,
  };
}
