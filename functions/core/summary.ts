/**
 * The inspection summary, computed from stored objects only. Same inputs, same bytes: any number
 * of index invocations, in any order, converge to one summary.
 */
import type { BuildStatus, InspectionSpecification, InspectionSummary, RunReport } from './generated/types.js';
import { compareHardware } from './hardware.js';

export interface SummaryInputs {
  inspectionId: string;
  spec: InspectionSpecification;
  build: BuildStatus | undefined;
  /** Valid reports by item; an item whose report was invalid maps to `invalid`. */
  results: ReadonlyMap<number, RunReport | 'invalid'>;
}

export function itemFailed(report: RunReport | 'invalid'): boolean {
  return report === 'invalid' || report.exit_code !== 0 || report.reason !== null;
}

export function computeSummary({ inspectionId, spec, build, results }: SummaryInputs): InspectionSummary {
  const batchSize = spec.batch_size ?? 1;
  const hasScript = typeof spec.script === 'string' && spec.script.length > 0;
  const items = [...results.entries()]
    .filter(([item]) => item >= 0 && item < batchSize)
    .sort(([a], [b]) => a - b)
    .map(([item, report]) => ({
      item,
      exit_code: report === 'invalid' ? null : report.exit_code,
      reason: report === 'invalid' ? 'invalid_result' : report.reason,
      wall_time: report === 'invalid' ? null : report.wall_time,
      // Reports that arrived without the comparison (written by a cluster run) are compared here.
      hardware_match: report === 'invalid' ? null : report.hardware_match !== undefined ? report.hardware_match : compareHardware(spec.run?.requests, report.hwinfo).match,
    }));
  const failed = [...results.entries()].filter(([item, r]) => item < batchSize && itemFailed(r)).length;
  const mismatches = items.filter((i) => i.hardware_match === false).length;

  let state: InspectionSummary['state'];
  let finished = false;
  if (!build) {
    state = 'pending';
  } else if (build.state === 'failed') {
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
    build: build?.state ?? null,
    build_reason: build?.reason ?? null,
    items_done: items.length,
    items_failed: failed,
    hardware_mismatches: mismatches,
    finished,
    finished_at: finishedAt,
    has_script: hasScript,
    items,
  };
}
