/**
 * Tables and summaries. On a TTY the results are a cli-table3 table; elsewhere plain columns
 * separated by spaces (no box characters, no ANSI codes), easy to read in CI logs and to cut.
 */
import Table from 'cli-table3';
import type { CompareAnswer, InspectionStatus, ListingAnswer, MetricsAnswer, RunReport } from './client.js';

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

function table(head: string[], cells: string[][], tty: boolean): string {
  if (!tty) return plainColumns(head, cells);
  const t = new Table({ head, style: { head: ['cyan'], compact: true } });
  for (const c of cells) t.push(c);
  return t.toString();
}

/** A metric value with 4 significant digits, whatever its scale. */
export function metricText(value: number | null | undefined): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '-';
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/**
 * The results: with @result metrics, one column each (in the metrics answer's order, the widest
 * spread first) and a last row of medians; without any, the run's stdout, cut to fit.
 */
export function resultsTable(rows: ResultRow[], tty: boolean, columns = 120, metrics?: MetricsAnswer['metrics']): string {
  const measured = Object.entries(metrics ?? {}).filter(([, m]) => m.source === 'result');
  if (measured.length === 0) {
    const stdoutWidth = tty ? Math.max(20, Math.min(80, columns - 90)) : 60;
    return table(HEAD, rows.map((r) => rowCells(r, stdoutWidth)), tty);
  }
  const head = [...HEAD.slice(0, -2), ...measured.map(([name]) => name)];
  const cells = rows.map((r) => [...rowCells(r, 0).slice(0, -2), ...measured.map(([, m]) => metricText(m.values[r.item]))]);
  const wall = metrics?.wall_time;
  const utime = metrics?.['usage.ru_utime'];
  const rss = metrics?.['usage.ru_maxrss'];
  cells.push(['median', '', '', metricText(wall?.median), metricText(utime?.median), rss?.median == null ? '-' : (rss.median / 1024).toFixed(1), ...measured.map(([, m]) => metricText(m.median))]);
  return table(head, cells, tty);
}

const AGE_UNITS: ReadonlyArray<[number, string]> = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];

/** How long ago a zone-less UTC (or RFC 3339) timestamp was: "3 h", "12 min". */
export function age(created: string | null, now: number): string {
  if (!created) return '-';
  const at = Date.parse(/[zZ]$|[+-][0-9]{2}:?[0-9]{2}$/.test(created) ? created : `${created}Z`);
  if (Number.isNaN(at)) return '-';
  const ms = Math.max(0, now - at);
  const [unit, name] = AGE_UNITS.find(([u]) => ms >= u) ?? [1000, 's'];
  return `${Math.floor(ms / unit)} ${name}`;
}

/** `amun list`: id, identifier, state, runs done/failed of the batch, age. */
export function listTable(answer: ListingAnswer, tty: boolean, now: number): string {
  const details = answer.details ?? answer.inspections.map((id) => ({ inspection_id: id, identifier: null, created: null, state: '-', batch_size: 0, items_done: 0, items_failed: 0, finished_at: null }));
  const cells = details.map((d) => [d.inspection_id, d.identifier ?? '-', d.state, `${d.items_done}/${d.batch_size}${d.items_failed ? ` (${d.items_failed} failed)` : ''}`, age(d.created, now)]);
  return table(['inspection', 'identifier', 'state', 'runs', 'age'], cells, tty);
}

/** `amun compare`: per candidate, one row per metric both have; then the warnings. */
export function compareText(answer: CompareAnswer, tty: boolean): string {
  const parts: string[] = [];
  for (const c of answer.comparisons) {
    parts.push(`${c.inspection_id} against ${answer.baseline}:`);
    const cells = c.metrics.map((m) => [
      m.name,
      m.better === 'lower' ? 'lower' : 'higher',
      metricText(m.baseline_median),
      metricText(m.median),
      m.ratio === null ? '-' : `${metricText(m.ratio)} [${metricText(m.ci_low)}, ${metricText(m.ci_high)}]`,
      m.p_value < 0.001 ? '<0.001' : m.p_value.toFixed(3),
      m.verdict,
    ]);
    parts.push(table(['metric', 'better', 'baseline', 'median', 'ratio [95% CI]', 'p', 'verdict'], cells, tty));
    for (const w of c.warnings) parts.push(`warning: ${w}`);
  }
  return parts.join('\n');
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
