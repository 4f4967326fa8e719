/** `amun logs`: the build log, an item's log, or all of them in order; `--follow` prints as they grow. */
import type { ApiClient, InspectionStatus } from './client.js';
import { CliError } from './errors.js';

export type LogTarget = 'build' | number;

export interface LogsOptions {
  build?: boolean;
  item?: number | undefined;
  follow?: boolean;
  intervalMs?: number;
  write: (text: string) => void;
}

const header = (target: LogTarget): string => (target === 'build' ? '==> build <==\n' : `==> item ${target} <==\n`);

function targetsOf(status: InspectionStatus, options: LogsOptions): LogTarget[] {
  if (options.build) return ['build'];
  if (options.item !== undefined) return [options.item];
  const w = status.workflow;
  const items = w && w.has_script !== false ? Array.from({ length: w.batch_size }, (_, i) => i) : [];
  return ['build', ...items];
}

/** A log is complete when nothing more will be appended to it. */
function complete(status: InspectionStatus, target: LogTarget): boolean {
  const w = status.workflow;
  if (w?.finished) return true;
  if (target === 'build') return status.build?.state === 'terminated';
  return (w?.items ?? []).some((i) => i.item === target);
}

export async function showLogs(client: ApiClient, inspectionId: string, options: LogsOptions): Promise<void> {
  let status = (await client.status(inspectionId)).status;
  const targets = targetsOf(status, options);
  const single = targets.length === 1;
  if (typeof options.item === 'number' && status.workflow && options.item >= status.workflow.batch_size) {
    throw new CliError(`item ${options.item} is outside 0..${status.workflow.batch_size - 1}`);
  }

  if (!options.follow) {
    for (const target of targets) {
      const log = await client.maybeLog(inspectionId, target);
      if (single) {
        if (log === undefined) throw new CliError(`no ${target === 'build' ? 'build log' : `log for item ${target}`} of ${inspectionId} yet`);
        options.write(log.endsWith('\n') || log === '' ? log : `${log}\n`);
      } else if (log !== undefined) {
        options.write(header(target) + (log.endsWith('\n') || log === '' ? log : `${log}\n`));
      }
    }
    return;
  }

  const printed = new Map<LogTarget, number>();
  const closed = new Set<LogTarget>();
  let lastHeader: LogTarget | undefined;
  for (;;) {
    const finished = status.workflow?.finished === true;
    for (const target of targets) {
      const done = complete(status, target);
      const log = await client.maybeLog(inspectionId, target);
      const already = printed.get(target) ?? 0;
      if (log !== undefined && log.length > already) {
        if (!single && lastHeader !== target) {
          if (lastHeader !== undefined) options.write('\n');
          options.write(header(target));
          lastHeader = target;
        }
        // Logs are rewritten whole as they grow: print what is new since the last look.
        options.write(log.slice(already));
        printed.set(target, log.length);
      }
      if (!done) break;
      if (!closed.has(target)) {
        closed.add(target);
        if (log !== undefined && log.length > 0 && !log.endsWith('\n')) options.write('\n');
      }
    }
    if (finished) return;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
    status = (await client.status(inspectionId)).status;
  }
}
