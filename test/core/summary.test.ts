import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { BuildStatus, InspectionSpecification, RunReport } from '../../functions/core/generated/types.js';
import { addItem, computeSummary, workflowView } from '../../functions/core/summary.js';
import { fromOriginalReport, syntheticResult } from '../../functions/core/results.js';
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

describe("the original's results and workflow fields", () => {
  const example = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38', 'results', '0', 'result');
  const stored = JSON.parse(readFileSync(example, 'utf8')) as Record<string, unknown>;

  it('reads a report the original wrote (datetime only): started and finished at its datetime, wall time not measured, on the cluster', () => {
    const report = fromOriginalReport(stored);
    expect(report).toMatchObject({ started_at: '2020-08-05T14:49:50.644Z', finished_at: '2020-08-05T14:49:50.644Z', wall_time: null, executor: 'kubernetes', reason: null, exit_code: 0 });
    expect(report?.stdout).toEqual(stored.stdout);
  });

  it("takes its later start_datetime and end_datetime for the run's times and wall time", () => {
    const report = fromOriginalReport({ ...stored, start_datetime: '2020-08-05T14:49:40.500000', end_datetime: '2020-08-05T14:49:50.750000' });
    expect(report).toMatchObject({ started_at: '2020-08-05T14:49:40.500Z', finished_at: '2020-08-05T14:49:50.750Z', wall_time: 10.25 });
    // An end before the start is not a duration.
    expect(fromOriginalReport({ ...stored, start_datetime: '2020-08-05T14:49:50.750000', end_datetime: '2020-08-05T14:49:40.500000' })?.wall_time).toBeNull();
  });

  it('is no report without its keys, a readable datetime, or an integer exit code', () => {
    const { usage: _u, ...noUsage } = stored;
    expect(fromOriginalReport(noUsage)).toBeUndefined();
    expect(fromOriginalReport({ ...stored, datetime: 'yesterday' })).toBeUndefined();
    expect(fromOriginalReport({ ...stored, exit_code: '0' })).toBeUndefined();
    expect(fromOriginalReport([stored])).toBeUndefined();
  });

  it('summarizes results without a build status as built (the original stored none)', () => {
    const report = fromOriginalReport(stored) as RunReport;
    const s = computeSummary({ inspectionId: 'i', spec: { ...spec, batch_size: 20 }, build: undefined, results: new Map([[0, report]]) });
    expect(s).toMatchObject({ state: 'running', build: 'succeeded', items_done: 1, batch_size: 20 });
    expect(workflowView(s)).toEqual({ phase: 'Running', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, progress: '2/21', items_total: 20 });
  });

  it('maps states to Argo phases: Pending, Running, Succeeded, Failed for the stack or the script, Error for Amun', () => {
    const view = (b: BuildStatus | undefined, results: Array<[number, RunReport]>) => workflowView(computeSummary({ inspectionId: 'i', spec, build: b, results: new Map(results) }));
    expect(view(undefined, [])).toMatchObject({ phase: 'Pending', progress: '0/4', finishedAt: null });
    expect(view(build, [[0, report(0, 0, '2026-01-01T00:00:04Z')]])).toMatchObject({ phase: 'Running', progress: '2/4' });
    const ok = [0, 1, 2].map((i): [number, RunReport] => [i, report(i, 0, `2026-01-01T00:00:0${5 + i}Z`)]);
    expect(view(build, ok)).toEqual({ phase: 'Succeeded', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:07.000Z', progress: '4/4', items_total: 3 });
    const scriptFailed: Array<[number, RunReport]> = ok.map(([i, r]) => [i, i === 2 ? { ...r, exit_code: 1 } : r]);
    expect(view(build, scriptFailed).phase).toBe('Failed');
    const lost: Array<[number, RunReport]> = ok.map(([i, r]) => [i, i === 2 ? { ...r, exit_code: null, reason: 'executor_error' } : r]);
    expect(view(build, lost).phase).toBe('Error');
    expect(view({ ...build, state: 'failed', reason: 'build_failed' }, [])).toMatchObject({ phase: 'Failed', progress: '1/4' });
    const noScript = workflowView(computeSummary({ inspectionId: 'i', spec: { base: 'x', '@created': '2026-01-01T00:00:00.000000' }, build, results: new Map() }));
    expect(noScript).toMatchObject({ phase: 'Succeeded', progress: '1/1', items_total: 0 });
  });
});

describe('run.hardware_mismatch', () => {
  // Asked for an AMD Zen 3/4 host (family 25); item 1 ran on an Intel one.
  const asked: InspectionSpecification = { ...spec, run: { requests: { hardware: { cpu_family: 25 } } } };
  const on = (family: number, item: number): RunReport => ({
    ...report(item, 0, `2026-01-01T00:00:0${5 + item}Z`),
    hwinfo: { cpu_info: { family, model: 1, vendor_id_raw: family === 25 ? 'AuthenticAMD' : 'GenuineIntel' } } as never,
    hardware_match: undefined as never,
  });
  const results = (): Map<number, RunReport> => new Map([0, 1, 2].map((i) => [i, on(i === 1 ? 6 : 25, i)]));

  it('record (the default): the run counts, and the summary counts the mismatch', () => {
    const summary = computeSummary({ inspectionId: 'i', spec: asked, build, results: results() });
    expect(summary).toMatchObject({ state: 'succeeded', items_failed: 0, hardware_mismatches: 1 });
    expect(summary.items[1]).toMatchObject({ hardware_match: false, reason: null });
  });

  it('fail: the item on other hardware fails with reason hardware_mismatch, and so does the inspection', () => {
    const summary = computeSummary({ inspectionId: 'i', spec: { ...asked, run: { ...asked.run, hardware_mismatch: 'fail' } }, build, results: results() });
    expect(summary).toMatchObject({ state: 'failed', items_failed: 1, hardware_mismatches: 1 });
    expect(summary.items.map((i) => i.reason)).toEqual([null, 'hardware_mismatch', null]);
    expect(validators.specification({ ...asked, run: { hardware_mismatch: 'sometimes' } })).toBe(false);
  });
});

describe('addItem: one result folded into the summary without reading the others', () => {
  const batch = 7;
  const big: InspectionSpecification = { ...spec, batch_size: batch, run: { requests: { hardware: { cpu_family: 6 } } } };
  const outcome = fc.constantFrom<'ok' | 'exit' | 'invalid' | 'mismatch' | 'reason'>('ok', 'exit', 'invalid', 'mismatch', 'reason');
  const made = (item: number, kind: 'ok' | 'exit' | 'invalid' | 'mismatch' | 'reason'): RunReport | 'invalid' => {
    if (kind === 'invalid') return 'invalid';
    const r = report(item, kind === 'exit' ? 2 : 0, `2026-01-01T00:00:${String(10 + item).padStart(2, '0')}Z`);
    if (kind === 'reason') return { ...r, reason: 'deadline', message: 'late' };
    return { ...r, hardware_match: kind === 'mismatch' ? false : true };
  };

  it('gives what computeSummary gives over the same results, in any order, until the last item, which it leaves to a full recompute', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6], { minLength: batch, maxLength: batch }), fc.array(outcome, { minLength: batch, maxLength: batch }), fc.constantFrom<'record' | 'fail'>('record', 'fail'), (order, kinds, policy) => {
        const s: InspectionSpecification = { ...big, run: { ...big.run, hardware_mismatch: policy } };
        const results = new Map<number, RunReport | 'invalid'>();
        let summary = computeSummary({ inspectionId: 'i', spec: s, build, results });
        for (const [at, item] of order.entries()) {
          const r = made(item, kinds[item]!);
          const next = addItem(summary, s, item, r);
          results.set(item, r);
          const full = computeSummary({ inspectionId: 'i', spec: s, build, results });
          if (at === batch - 1) {
            expect(next).toBeUndefined();
            expect(full.finished).toBe(true);
          } else {
            expect(JSON.stringify(next)).toBe(JSON.stringify(full));
            expect(validators.summary(next)).toBe(true);
            // A redelivered item is not counted twice.
            expect(addItem(next!, s, item, r)).toBeUndefined();
            summary = next!;
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('leaves to a full recompute what it cannot decide: no successful build, no script, an item outside the batch, a finished summary', () => {
    const r = report(0, 0, '2026-01-01T00:00:10Z');
    expect(addItem(computeSummary({ inspectionId: 'i', spec: big, build: undefined, results: new Map() }), big, 0, r)).toBeUndefined();
    expect(addItem(computeSummary({ inspectionId: 'i', spec: big, build: { ...build, state: 'failed' }, results: new Map() }), big, 0, r)).toBeUndefined();
    const { script: _s, ...noScript } = big;
    expect(addItem(computeSummary({ inspectionId: 'i', spec: noScript, build, results: new Map() }), noScript, 0, r)).toBeUndefined();
    const running = computeSummary({ inspectionId: 'i', spec: big, build, results: new Map() });
    expect(addItem(running, big, batch, r)).toBeUndefined();
    expect(addItem(running, big, -1, r)).toBeUndefined();
    expect(addItem(running, big, 1.5, r)).toBeUndefined();
    expect(addItem(running, big, 0, r)).toMatchObject({ items_done: 1, state: 'running' });
  });
});
