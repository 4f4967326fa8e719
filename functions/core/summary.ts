/**
 * The inspection summary, computed from stored objects only. Same inputs, same bytes: any number
 * of index invocations, in any order, converge to one summary.
 */
import type { BuildStatus, InspectionSpecification, InspectionSummary, RunReport } from './generated/types.js';
import { compareHardware } from './hardware.js';
import { parseTimestamp } from './specification.js';

export interface SummaryInputs {
  inspectionId: string;
  spec: InspectionSpecification;
  build: BuildStatus | undefined;
  /** Valid reports by item; an item whose report was invalid maps to `invalid`. */
  results: ReadonlyMap<number, RunReport | 'invalid'>;
}

/**
 * One item as the summary and the explorer show it. Reports that arrived without the hardware
 * comparison (written by a cluster run) are compared here; with run.hardware_mismatch: fail, a run
 * on other hardware than asked is an item failed with reason hardware_mismatch.
 */
export function itemOutcome(spec: InspectionSpecification, report: RunReport | 'invalid'): { exit_code: number | null; reason: string | null; wall_time: number | null; hardware_match: boolean | null } {
  if (report === 'invalid') return { exit_code: null, reason: 'invalid_result', wall_time: null, hardware_match: null };
  const match = report.hardware_match !== undefined ? report.hardware_match : compareHardware(spec.run?.requests, report.hwinfo).match;
  const reason = report.reason ?? (spec.run?.hardware_mismatch === 'fail' && match === false ? 'hardware_mismatch' : null);
  return { exit_code: report.exit_code, reason, wall_time: report.wall_time, hardware_match: match };
}

export function itemFailed(report: RunReport | 'invalid'): boolean {
  return report === 'invalid' || report.exit_code !== 0 || report.reason !== null;
}

type ItemEntry = InspectionSummary['items'][number];

/** An item as the summary counts it: failed when it did not exit 0 or has a reason (hardware_mismatch included). */
function entryFailed(entry: Pick<ItemEntry, 'exit_code' | 'reason'>): boolean {
  return entry.exit_code !== 0 || entry.reason !== null;
}

/** The counts the summary derives from its items. */
function counts(items: ReadonlyArray<ItemEntry>): Pick<InspectionSummary, 'items_done' | 'items_failed' | 'hardware_mismatches'> {
  return { items_done: items.length, items_failed: items.filter(entryFailed).length, hardware_mismatches: items.filter((i) => i.hardware_match === false).length };
}

export function computeSummary({ inspectionId, spec, build, results }: SummaryInputs): InspectionSummary {
  // The original service wrote no build status: results exist only from a stack that built.
  const buildState = build?.state ?? (results.size > 0 ? 'succeeded' : undefined);
  const batchSize = spec.batch_size ?? 1;
  const hasScript = typeof spec.script === 'string' && spec.script.length > 0;
  const items: ItemEntry[] = [...results.entries()]
    .filter(([item]) => item >= 0 && item < batchSize)
    .sort(([a], [b]) => a - b)
    .map(([item, report]) => ({ item, ...itemOutcome(spec, report) }));
  const { items_failed: failed } = counts(items);

  let state: InspectionSummary['state'];
  let finished = false;
  if (!buildState) {
    state = 'pending';
  } else if (buildState === 'failed') {
    state = 'failed';
    finished = true;
  } else if (!hasScript) {
    state = 'succeeded';
    finished = true;
  } else if (items.length < batchSize) {
    state = 'running';
  } else {
    state = failed > 0 ? 'failed' : 'succeeded';
    finished = true;
  }

  const ends = [...results.values()].flatMap((r) => (r === 'invalid' ? [] : [r.finished_at]));
  if (build?.finished_at) ends.push(build.finished_at);
  const finishedAt = finished ? (ends.sort().at(-1) ?? null) : null;

  return {
    inspection_id: inspectionId,
    state,
    created: spec['@created'] ?? null,
    batch_size: batchSize,
    build: buildState ?? null,
    build_reason: build?.reason ?? null,
    ...counts(items),
    finished,
    finished_at: finishedAt,
    has_script: hasScript,
    items,
  };
}

/**
 * The summary with one more item's result, without reading the others: what computeSummary gives
 * over the same results, for an inspection whose runs are under way (built, with a script) and
 * that this item does not finish. Undefined when the fold cannot tell, and the caller computes
 * the summary from every stored object instead: the item is counted already or outside the
 * batch, the build is not a success the summary knows, or this is the last item (its finished_at
 * and the metrics need every result).
 */
export function addItem(summary: InspectionSummary, spec: InspectionSpecification, item: number, report: RunReport | 'invalid'): InspectionSummary | undefined {
  if (summary.finished || summary.build !== 'succeeded' || summary.has_script !== true || summary.state !== 'running') return undefined;
  if (!Number.isInteger(item) || item < 0 || item >= summary.batch_size) return undefined;
  if (summary.items.some((i) => i.item === item)) return undefined;
  if (summary.items.length + 1 >= summary.batch_size) return undefined;
  const items = [...summary.items, { item, ...itemOutcome(spec, report) }].sort((a, b) => a.item - b.item);
  return { ...summary, ...counts(items), items };
}

/** Reasons that mean Amun could not build or run, not that the stack or the script failed. */
const AMUN_FAILURES = new Set(['executor_error', 'harness_error', 'lost', 'invalid_result']);

/**
 * The Argo workflow fields clients of the original read from `status.workflow`, derived from the
 * summary: phase, startedAt (submission), finishedAt, and progress over the build and the items;
 * and items_total, the items the inspection runs.
 */
export function workflowView(summary: InspectionSummary): Pick<InspectionSummary, 'phase' | 'startedAt' | 'finishedAt' | 'progress' | 'items_total'> {
  let phase: NonNullable<InspectionSummary['phase']>;
  if (summary.state === 'succeeded') phase = 'Succeeded';
  else if (summary.state === 'failed') {
    const amun = AMUN_FAILURES.has(summary.build_reason ?? '') || summary.items.some((i) => AMUN_FAILURES.has(i.reason ?? ''));
    phase = amun ? 'Error' : 'Failed';
  } else if (summary.state === 'pending') phase = 'Pending';
  else phase = 'Running';
  const items = summary.has_script === false ? 0 : summary.batch_size;
  const total = 1 + items;
  const done = (summary.build ? 1 : 0) + (summary.build === 'succeeded' ? summary.items_done : 0);
  return {
    phase,
    startedAt: summary.created ? rfc3339(summary.created) : null,
    finishedAt: summary.finished_at ? rfc3339(summary.finished_at) : null,
    progress: `${Math.min(done, total)}/${total}`,
    items_total: items,
  };
}

/** The original's zone-less UTC timestamps (and ours) as RFC 3339. */
function rfc3339(timestamp: string): string {
  const parsed = parseTimestamp(timestamp);
  return Number.isNaN(parsed) ? timestamp : new Date(parsed).toISOString();
}
