/**
 * Following an inspection until it finishes. On a TTY, one live ora line: phase, elapsed time,
 * item k of n and the last log line (the build log while building). Elsewhere (CI, pipes), plain
 * timestamped lines, one per phase change and per finished item, with no spinner or ANSI codes.
 */
import ora, { type Ora } from 'ora';
import type { ApiClient, InspectionStatus } from './client.js';
import { CliError } from './errors.js';

export type Phase = 'submitted' | 'building' | 'running' | 'finished';

export function phaseOf(status: InspectionStatus): Phase {
  const workflow = status.workflow;
  if (workflow?.finished) return 'finished';
  if (workflow?.state === 'running') return 'running';
  if (workflow?.state === 'building' || status.build?.state === 'running') return 'building';
  if (workflow?.build === 'succeeded') return 'running';
  return 'submitted';
}

export function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** The last non-empty line of a log, without control characters, cut to `width`. */
export function lastLine(log: string | undefined, width: number): string {
  if (!log) return '';
  const lines = log.split(/\r?\n|\r/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] ?? '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
    if (line !== '') return line.length > width ? `${line.slice(0, Math.max(0, width - 1))}…` : line;
  }
  return '';
}

let activeSpinner: Ora | undefined;

/** Stops the live line (before printing something else, e.g. on a signal). */
export function stopProgress(): void {
  if (activeSpinner?.isSpinning) activeSpinner.stop();
}

export interface FollowOptions {
  tty: boolean;
  intervalMs?: number;
  /** Gives up after this many seconds (exit 1); 0 or undefined waits for ever. */
  timeoutSeconds?: number | undefined;
  write?: (text: string) => void;
}

/** Polls the status until the inspection is finished and returns the final status. */
export async function follow(client: ApiClient, inspectionId: string, options: FollowOptions): Promise<InspectionStatus> {
  const interval = options.intervalMs ?? 500;
  const write = options.write ?? ((text: string) => void process.stderr.write(text));
  const started = Date.now();
  const deadline = options.timeoutSeconds ? started + options.timeoutSeconds * 1000 : Infinity;
  const seenItems = new Set<number>();
  let phase: Phase | undefined;
  const spinner: Ora | undefined = options.tty ? ora({ text: `submitted ${inspectionId}`, stream: process.stderr, discardStdin: false }).start() : undefined;
  activeSpinner = spinner;
  const plain = (text: string): void => write(`${new Date().toISOString()} ${text}\n`);

  try {
    for (;;) {
      const status = (await client.status(inspectionId)).status;
      const workflow = status.workflow;
      const now = phaseOf(status);
      const total = workflow?.batch_size ?? 0;
      const hasScript = workflow?.has_script !== false;

      if (!spinner) {
        if (now !== phase) {
          if (now === 'submitted') plain(`submitted ${inspectionId}`);
          else if (now === 'building') plain('building the image');
          else if (now === 'running') plain(`running ${total} item${total === 1 ? '' : 's'}`);
        }
        for (const item of [...(workflow?.items ?? [])].sort((a, b) => a.item - b.item)) {
          if (seenItems.has(item.item)) continue;
          seenItems.add(item.item);
          const reason = item.reason ? `, ${item.reason}` : '';
          const wall = item.wall_time === null ? '' : ` in ${item.wall_time.toFixed(2)}s`;
          plain(`item ${item.item} finished: exit code ${item.exit_code ?? '-'}${reason}${wall} (${seenItems.size} of ${total})`);
        }
        if (now === 'finished') {
          const build = workflow?.build === 'failed' ? `, build failed${workflow.build_reason ? `: ${workflow.build_reason}` : ''}` : '';
          const runs = hasScript ? `, ${workflow?.items_done ?? 0} of ${total} done, ${workflow?.items_failed ?? 0} failed` : ', no script to run';
          plain(`finished: ${workflow?.state ?? 'unknown'}${build}${runs}`);
        }
      } else {
        const width = Math.max(20, (process.stderr.columns ?? 100) - 50);
        let detail = '';
        if (now === 'building') detail = lastLine(await client.maybeLog(inspectionId, 'build'), width);
        if (now === 'running') {
          const done = new Set((workflow?.items ?? []).map((i) => i.item));
          const current = Array.from({ length: total }, (_, i) => i).find((i) => !done.has(i));
          if (current !== undefined) detail = lastLine(await client.maybeLog(inspectionId, current), width);
        }
        const items = now === 'running' ? ` item ${Math.min((workflow?.items_done ?? 0) + 1, total)} of ${total}` : '';
        spinner.text = `${now} ${elapsed(Date.now() - started)}${items}${detail ? ` │ ${detail}` : ''}`;
        if (now === 'finished') {
          const text = `${workflow?.state ?? 'finished'} in ${elapsed(Date.now() - started)}: ${inspectionId}`;
          if (workflow?.state === 'succeeded') spinner.succeed(text);
          else spinner.fail(text);
        }
      }
      phase = now;
      if (now === 'finished') return status;
      if (Date.now() > deadline) {
        throw new CliError(`gave up waiting after ${options.timeoutSeconds}s: ${inspectionId} is still ${now} (follow it with \`amun status ${inspectionId}\`)`);
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  } finally {
    if (spinner?.isSpinning) spinner.stop();
    activeSpinner = undefined;
  }
}
