/**
 * Tables and summaries. On a TTY the results are a cli-table3 table; elsewhere plain columns
 * separated by spaces (no box characters, no ANSI codes), easy to read in CI logs and to cut.
 */
import Table from 'cli-table3';
import type { InspectionStatus, RunReport } from './client.js';

export interface ResultRow {
  item: number;
  report: RunReport | undefined;
}

const HEAD = ['item', 'exit code', 'reason', 'wall (s)', 'user CPU (s)', 'max RSS (MiB)', 'host', 'stdout'];

function num(value: unknown, digits: number): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** JSON of a run's stdout on one line, cut to `width` characters. */
export function truncatedJson(value: unknown, width: number): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? '');
  } catch {
    text = String(value);
  }
  return text.length > width ? `${text.slice(0, Math.max(0, width - 3))}...` : text;
}

/** The cells of one row: ru_maxrss is KiB on Linux, where the harness runs. */
export function rowCells(row: ResultRow, stdoutWidth: number): string[] {
  const r = row.report;
  if (!r) return [String(row.item), '-', 'no result', '-', '-', '-', '-', ''];
  const maxRss = typeof r.usage?.ru_maxrss === 'number' ? r.usage.ru_maxrss / 1024 : undefined;
  return [
    String(row.item),
    r.exit_code === null ? '-' : String(r.exit_code),
    r.reason ?? '',
    num(r.wall_time, 2),
    num(r.usage?.ru_utime, 2),
    num(maxRss, 1),
    r.hostname ?? '-',
    truncatedJson(r.stdout, stdoutWidth),
  ];
}

export function plainColumns(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function resultsTable(rows: ResultRow[], tty: boolean, columns = 120): string {
  const stdoutWidth = tty ? Math.max(20, Math.min(80, columns - 90)) : 60;
  const cells = rows.map((r) => rowCells(r, stdoutWidth));
  if (!tty) return plainColumns(HEAD, cells);
  const table = new Table({ head: HEAD, style: { head: ['cyan'], compact: true } });
  for (const c of cells) table.push(c);
  return table.toString();
}

/** Whether an inspection counts as a success for `amun run`: build succeeded, every run exited 0 with no reason. */
export function succeeded(status: InspectionStatus, rows: ResultRow[]): boolean {
  const workflow = status.workflow;
  if (!workflow || workflow.build !== 'succeeded' || workflow.state !== 'succeeded') return false;
  if (workflow.has_script === false) return true;
  return rows.length === workflow.batch_size && rows.every((r) => r.report !== undefined && r.report.exit_code === 0 && r.report.reason === null);
}

/** The closing line: summary state, counts and the inspection id. */
export function summaryLine(inspectionId: string, status: InspectionStatus): string {
  const w = status.workflow;
  if (!w) return `${inspectionId}: no summary yet`;
  const parts = [`${w.state}`];
  if (w.build === 'failed') parts.push(`build failed${w.build_reason ? ` (${w.build_reason})` : ''}`);
  if (w.has_script === false) parts.push('no script');
  else parts.push(`${w.items_done} of ${w.batch_size} runs done, ${w.items_failed} failed`);
  if (w.hardware_mismatches > 0) parts.push(`${w.hardware_mismatches} on mismatching hardware`);
  return `${parts.join(', ')} — inspection ${inspectionId}`;
}

/** `amun status` in words. */
export function statusText(inspectionId: string, status: InspectionStatus): string {
  const w = status.workflow;
  const b = status.build;
  const lines = [`inspection  ${inspectionId}`, `state       ${w?.state ?? 'unknown'}${w?.finished ? ' (finished)' : ''}`];
  if (b) {
    const exit = b.exit_code === null ? '' : `, exit code ${b.exit_code}`;
    lines.push(`build       ${w?.build ?? b.state}${exit}${b.reason ? `, ${b.reason}` : ''}${b.container ? `, image ${b.container}` : ''}`);
  }
  if (w) {
    if (w.has_script === false) lines.push('runs        none (no script)');
    else lines.push(`runs        ${w.items_done} of ${w.batch_size} done, ${w.items_failed} failed`);
    if (w.created) lines.push(`created     ${w.created}`);
    if (w.finished_at) lines.push(`finished    ${w.finished_at}`);
  }
  lines.push(`data stored ${status.data_stored ? 'yes' : 'no'}`);
  return lines.join('\n');
}
