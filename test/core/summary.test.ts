import fc from 'fast-check';
import type { BuildStatus, InspectionSpecification, RunReport } from '../../functions/core/generated/types.js';
import { computeSummary } from '../../functions/core/summary.js';
import { syntheticResult } from '../../functions/core/results.js';
import { validators } from '../../functions/core/validation.js';

const spec: InspectionSpecification = { base: 'x', batch_size: 3, script: 'print(1)', '@created': '2026-01-01T00:00:00.000000' };
const build: BuildStatus = { inspection_id: 'inspection-a-00000000', state: 'succeeded', started_at: '2026-01-01T00:00:01.000Z', finished_at: '2026-01-01T00:00:02.000Z', exit_code: 0, reason: null, executor: 'process', image: '/w', image_digest: null, cached: false };

function report(item: number, exitCode: number, end: string): RunReport {
  const r = syntheticResult({ inspectionId: 'inspection-a-00000000', item, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)', startedAt: new Date('2026-01-01T00:00:03Z'), finishedAt: new Date(end) });
  return { ...r, reason: null, message: null, exit_code: exitCode };
}

describe('computeSummary', () => {
  it('is pending before a build, running while items are missing, and final when all are in', () => {
    expect(computeSummary({ inspectionId: 'i', spec, build: undefined, results: new Map() }).state).toBe('pending');
    const partial = computeSummary({ inspectionId: 'i', spec, build, results: new Map([[0, report(0, 0, '2026-01-01T00:00:04Z')]]) });
    expect(partial).toMatchObject({ state: 'running', finished: false, items_done: 1, finished_at: null });
    const all = computeSummary({ inspectionId: 'i', spec, build, results: new Map([0, 1, 2].map((i) => [i, report(i, i === 1 ? 3 : 0, `2026-01-01T00:00:0${5 + i}Z`)])) });
    expect(all).toMatchObject({ state: 'failed', finished: true, items_done: 3, items_failed: 1, finished_at: '2026-01-01T00:00:07.000Z' });
    expect(validators.summary(all)).toBe(true);
  });

  it('a failed build is final; a build without a script succeeds once built', () => {
    expect(computeSummary({ inspectionId: 'i', spec, build: { ...build, state: 'failed', reason: 'build_failed' }, results: new Map() })).toMatchObject({ state: 'failed', finished: true, build_reason: 'build_failed' });
    const { script: _s, ...noScript } = spec;
    expect(computeSummary({ inspectionId: 'i', spec: noScript, build, results: new Map() })).toMatchObject({ state: 'succeeded', finished: true, has_script: false });
  });

  it('does not depend on the order results arrive in', () => {
    const reports = [0, 1, 2].map((i) => [i, report(i, 0, `2026-01-01T00:00:0${5 + i}Z`)] as const);
    fc.assert(
      fc.property(fc.shuffledSubarray(reports, { minLength: 3, maxLength: 3 }), (order) => {
        const a = computeSummary({ inspectionId: 'i', spec, build, results: new Map(order) });
        const b = computeSummary({ inspectionId: 'i', spec, build, results: new Map(reports) });
        expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      }),
    );
  });

  it('counts invalid reports as failed items', () => {
    const s = computeSummary({ inspectionId: 'i', spec, build, results: new Map([[0, 'invalid' as const]]) });
    expect(s.items).toEqual([{ item: 0, exit_code: null, reason: 'invalid_result', wall_time: null, hardware_match: null }]);
    expect(s.items_failed).toBe(1);
  });
});
