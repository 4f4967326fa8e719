import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hwinfo, InspectionSpecification, RunReport } from '../../functions/core/generated/types.js';
import { betterOf, brief, compareInspections, compareMetric, history, inspectionMetrics, runHardware, runMetrics } from '../../functions/core/explorer.js';
import { fromOriginalReport, syntheticResult } from '../../functions/core/results.js';
import { mulberry32 } from '../../functions/core/stats.js';
import type { SummaryInputs } from '../../functions/core/summary.js';
import { validators } from '../../functions/core/validation.js';

const exampleDir = join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38');
const exampleSpec = JSON.parse(readFileSync(join(exampleDir, 'build', 'specification'), 'utf8')) as InspectionSpecification;
const exampleReports = [0, 1, 2].map((item) => fromOriginalReport(JSON.parse(readFileSync(join(exampleDir, 'results', String(item), 'result'), 'utf8')))!);
const example: SummaryInputs = { inspectionId: 'inspection-rhtf-conv2d-0f845f38', spec: exampleSpec, build: undefined, results: new Map(exampleReports.map((r, i) => [i, r])) };
const exampleHwinfo = exampleReports[0]!.hwinfo!;

/** A run that ended well, with the given stdout, wall time and hardware. */
function run(item: number, fields: { stdout?: unknown; wall?: number | null; hwinfo?: Hwinfo | null; exit?: number; reason?: RunReport['reason'] } = {}): RunReport {
  const r = syntheticResult({ inspectionId: 'i', item, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)', startedAt: new Date('2026-01-01T00:00:00Z'), finishedAt: new Date('2026-01-01T00:00:10Z') });
  return {
    ...r,
    reason: fields.reason ?? null,
    message: null,
    exit_code: fields.exit ?? 0,
    wall_time: fields.wall === undefined ? 10 : fields.wall,
    stdout: fields.stdout ?? {},
    hwinfo: fields.hwinfo === undefined ? exampleHwinfo : fields.hwinfo,
    usage: { ...r.usage, ru_utime: 1.5, ru_stime: 0.25, ru_maxrss: 2048, ru_nvcsw: 3, ru_nivcsw: 4 },
  };
}

function hwinfoWith(brand: string, count: number, gpus: string[] = []): Hwinfo {
  return { ...exampleHwinfo, cpu_info: { ...exampleHwinfo.cpu_info, brand_raw: brand, count }, gpus: gpus.map((name, index) => ({ index, name })) };
}

/** An inspection whose runs print @result.elapsed (and report the same wall time). */
function inspection(id: string, created: string, elapsed: Array<number | 'failed'>, hwinfo: Hwinfo = exampleHwinfo, spec: Partial<InspectionSpecification> = {}): SummaryInputs {
  return {
    inspectionId: id,
    spec: { base: 'x', script: 'print(1)', identifier: 'bench', batch_size: elapsed.length, '@created': created, ...spec },
    build: undefined,
    results: new Map(
      elapsed.map((e, item) => [item, e === 'failed' ? run(item, { exit: 1, wall: 1, hwinfo, stdout: 'Traceback' }) : run(item, { stdout: { '@result': { elapsed: e } }, wall: e, hwinfo })]),
    ),
  };
}

/** n values around `centre`, ±10 %, from a seeded generator. */
function around(seed: number, n: number, centre: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => centre * (0.9 + 0.2 * random()));
}

describe('runMetrics', () => {
  it('flattens @result numbers with dots, skipping arrays, booleans, strings and non-finite numbers; then the harness metrics', () => {
    const stdout = { '@result': { rate: 5, nested: { deep: { x: 1.5 }, s: '3', b: true, list: [1, 2], inf: Number.POSITIVE_INFINITY } }, '@parameters': { size: 4 }, other: 9 };
    const { metrics, parameters } = runMetrics(run(0, { stdout, wall: 2.5 }));
    expect(metrics).toEqual([
      { name: 'rate', source: 'result', value: 5 },
      { name: 'nested.deep.x', source: 'result', value: 1.5 },
      { name: 'wall_time', source: 'harness', value: 2.5 },
      { name: 'usage.ru_utime', source: 'harness', value: 1.5 },
      { name: 'usage.ru_stime', source: 'harness', value: 0.25 },
      { name: 'usage.ru_maxrss', source: 'harness', value: 2048 },
      { name: 'usage.ru_nvcsw', source: 'harness', value: 3 },
      { name: 'usage.ru_nivcsw', source: 'harness', value: 4 },
    ]);
    expect(parameters).toEqual({ size: 4 });
  });

  it('renames an @result metric that has a harness metric name', () => {
    const { metrics } = runMetrics(run(0, { stdout: { '@result': { wall_time: 7, usage: { ru_utime: 8, other: 1 } } }, wall: 2 }));
    expect(metrics.filter((m) => m.source === 'result')).toEqual([
      { name: '@result.wall_time', source: 'result', value: 7 },
      { name: '@result.usage.ru_utime', source: 'result', value: 8 },
      { name: 'usage.other', source: 'result', value: 1 },
    ]);
    expect(metrics.find((m) => m.name === 'wall_time')).toEqual({ name: 'wall_time', source: 'harness', value: 2 });
  });

  it('reads nothing from stdout that is text, or whose @result or @parameters is not an object; an unmeasured wall time is no metric', () => {
    const text = runMetrics(run(0, { stdout: '{"@result": {"x": 1}}', wall: null }));
    expect(text.parameters).toBeNull();
    expect(text.metrics.map((m) => m.name)).toEqual(['usage.ru_utime', 'usage.ru_stime', 'usage.ru_maxrss', 'usage.ru_nvcsw', 'usage.ru_nivcsw']);
    const array = runMetrics(run(0, { stdout: { '@result': [1, 2], '@parameters': [1] } }));
    expect(array.parameters).toBeNull();
    expect(array.metrics.every((m) => m.source === 'harness')).toBe(true);
  });
});

describe('betterOf', () => {
  it('calls rates higher and times, memory and anything else lower', () => {
    const cases: Array<[string, 'higher' | 'lower']> = [
      ['rate', 'higher'], ['throughput', 'higher'], ['samples_per_second', 'higher'], ['items_per_batch', 'higher'], ['images_per_sec', 'higher'],
      ['gflops', 'higher'], ['TFLOPS', 'higher'], ['qps', 'higher'], ['iops', 'higher'], ['tokens_ps', 'higher'], ['it/s', 'higher'], ['MB/s', 'higher'],
      ['bandwidth', 'higher'], ['speed', 'higher'], ['score', 'higher'], ['accuracy', 'higher'], ['trainThroughput', 'higher'], ['resnet.rate', 'higher'],
      ['elapsed', 'lower'], ['latency', 'lower'], ['p99_latency_ms', 'lower'], ['peak_memory', 'lower'], ['seconds_per_op', 'lower'], ['time_per_iteration', 'lower'],
      ['error_rate', 'lower'], ['cache_miss_rate', 'lower'], ['loss', 'lower'], ['count', 'lower'], ['value', 'lower'],
      // The leaf names the quantity; an uninformative leaf defers to its parent.
      ['throughput.p50_latency', 'lower'], ['latency.mean', 'lower'], ['throughput.mean', 'higher'], ['throughput.min', 'higher'],
    ];
    for (const [name, better] of cases) expect([name, betterOf(name, 'result')]).toEqual([name, better]);
  });

  it('calls harness metrics lower, and lets the specification override any rule by the name answers show', () => {
    expect(betterOf('usage.ru_nvcsw', 'harness')).toBe('lower');
    expect(betterOf('rate', 'result', { rate: 'lower' })).toBe('lower');
    expect(betterOf('widgets', 'result', { widgets: 'higher' })).toBe('higher');
    expect(betterOf('@result.wall_time', 'result', { '@result.wall_time': 'higher' })).toBe('higher');
    // Another metric's override does not leak, nor does an inherited property.
    expect(betterOf('widgets', 'result', { gadgets: 'higher' })).toBe('lower');
    expect(betterOf('constructor', 'result', {})).toBe('lower');
  });
});

describe('inspectionMetrics', () => {
  it("gives the original example's metrics, widest spread first, and validates against the schema", () => {
    const answer = inspectionMetrics(example);
    expect(validators.metricsAnswer({ ...answer, parameters: {} })).toBe(true);
    // cv of rate 0.1038 > cv of elapsed 0.0979 (numpy: std(ddof=1) / mean); no wall time measured by the original.
    expect(Object.keys(answer.metrics)).toEqual(['rate', 'elapsed', 'usage.ru_utime', 'usage.ru_stime', 'usage.ru_maxrss', 'usage.ru_nvcsw', 'usage.ru_nivcsw']);
    expect(answer.batch_size).toBe(20);
    const elapsed = answer.metrics.elapsed!;
    expect(elapsed).toMatchObject({ source: 'result', better: 'lower', n: 3, median: 15.05692908540368, min: 12.65812711790204, max: 15.099027077667415 });
    // numpy: mean, std(ddof=1), std/mean of the three elapsed values
    expect(elapsed.mean).toBeCloseTo(14.271361093657712, 12);
    expect(elapsed.stdev).toBeCloseTo(1.397260160327166, 12);
    expect(elapsed.cv).toBeCloseTo(0.09790658025940621, 12);
    expect(elapsed.values).toHaveLength(20);
    expect(elapsed.values.slice(0, 4)).toEqual([12.65812711790204, 15.099027077667415, 15.05692908540368, null]);
    expect(answer.metrics.rate).toMatchObject({ better: 'higher', median: 47.90352640361541 });
    expect(answer.runs).toHaveLength(3);
    expect(answer.runs[0]).toEqual({ item: 0, exit_code: 0, reason: null, wall_time: null, hardware_match: true, parameters: (exampleReports[0]!.stdout as Record<string, unknown>)['@parameters'] });
  });

  it("shows a failed run's values but counts only runs that ended well; an invalid result is a row of nulls", () => {
    const inputs: SummaryInputs = {
      inspectionId: 'i',
      spec: { base: 'x', script: 'print(1)', batch_size: 4, run: { metrics: { elapsed: 'higher' } } },
      build: undefined,
      results: new Map<number, RunReport | 'invalid'>([
        [3, 'invalid'],
        [0, run(0, { stdout: { '@result': { elapsed: 2 } } })],
        [1, run(1, { stdout: { '@result': { elapsed: 100 } }, exit: 0, reason: 'deadline' })],
        [2, run(2, { stdout: { '@result': { elapsed: 4 } } })],
        [7, run(7, { stdout: { '@result': { elapsed: 5 } } })],
      ]),
    };
    const answer = inspectionMetrics(inputs);
    expect(answer.metrics.elapsed).toMatchObject({ better: 'higher', n: 2, median: 3, max: 4, values: [2, 100, 4, null] });
    // Item 7 lies outside the batch of 4: left out, as the summary does.
    expect(answer.runs.map((r) => [r.item, r.reason])).toEqual([[0, null], [1, 'deadline'], [2, null], [3, 'invalid_result']]);
    expect(answer.runs[3]).toEqual({ item: 3, exit_code: null, reason: 'invalid_result', wall_time: null, hardware_match: null, parameters: null });
    expect(validators.metricsAnswer({ ...answer, parameters: {} })).toBe(true);
  });

  it('under run.hardware_mismatch: fail, a run on other hardware than asked counts as failed: its values are shown, not in the statistics', () => {
    const requests = { hardware: { cpu_family: 25 } };
    const base = inspection('i', '2026-01-01T00:00:00', [2, 4, 6], exampleHwinfo, { run: { requests } });
    // As the pipeline stamps them: the runs were not on the hardware asked for.
    const asked = { ...base, results: new Map([...base.results].map(([item, r]) => [item, r === 'invalid' ? r : { ...r, hardware_match: false }])) };
    const record = inspectionMetrics(asked);
    expect(record.metrics.elapsed).toMatchObject({ n: 3, values: [2, 4, 6] });
    expect(record.runs.map((r) => r.hardware_match)).toEqual([false, false, false]);
    const fail = inspectionMetrics({ ...asked, spec: { ...asked.spec, run: { requests, hardware_mismatch: 'fail' } } });
    expect(fail.metrics.elapsed).toMatchObject({ n: 0, median: null, values: [2, 4, 6] });
    expect(fail.runs.map((r) => r.reason)).toEqual(['hardware_mismatch', 'hardware_mismatch', 'hardware_mismatch']);
  });

  it('leaves statistics null where fewer values than they need', () => {
    const one = inspectionMetrics(inspection('i', '2026-01-01T00:00:00', [3]));
    expect(one.metrics.elapsed).toMatchObject({ n: 1, median: 3, mean: 3, stdev: null, cv: null });
    const none = inspectionMetrics(inspection('i', '2026-01-01T00:00:00', ['failed']));
    expect(none.metrics.wall_time).toMatchObject({ n: 0, median: null, mean: null, min: null, max: null, values: [1] });
  });
});

describe('runHardware and brief', () => {
  it("reads the example's CPU model, count and no GPU", () => {
    const hw = runHardware(example);
    expect(hw).toMatchObject({ cpu: 'Intel Xeon Processor (Skylake, IBRS)', cpus: 64, gpus: [] });
    expect(brief(example)).toEqual({ inspection_id: example.inspectionId, identifier: 'rhtf-conv2d', created: '2020-08-05T14:41:01.756319', state: 'running', batch_size: 20, items_done: 3, items_failed: 0, hardware: hw });
  });

  it('takes the most common hardware over the runs with hwinfo, and a key that differs with any field', () => {
    const gpu = hwinfoWith('AMD EPYC 7R13', 8, ['NVIDIA H100 80GB HBM3']);
    const inputs: SummaryInputs = {
      inspectionId: 'i',
      spec: { base: 'x', script: 'print(1)', batch_size: 4 },
      build: undefined,
      results: new Map([[0, run(0, { hwinfo: null })], [1, run(1, { hwinfo: gpu })], [2, run(2, { hwinfo: hwinfoWith('Other', 4) })], [3, run(3, { hwinfo: gpu })]]),
    };
    const hw = runHardware(inputs);
    expect(hw).toMatchObject({ cpu: 'AMD EPYC 7R13', cpus: 8, gpus: ['NVIDIA H100 80GB HBM3'] });
    const keys = new Set([hw, runHardware({ ...inputs, results: new Map([[0, run(0, { hwinfo: hwinfoWith('AMD EPYC 7R13', 16, ['NVIDIA H100 80GB HBM3']) })]]) }), runHardware({ ...inputs, results: new Map([[0, run(0, { hwinfo: hwinfoWith('AMD EPYC 7R13', 8) })]]) })].map((h) => h.key));
    expect(keys.size).toBe(3);
    expect(runHardware({ ...inputs, results: new Map<number, RunReport | 'invalid'>([[0, run(0, { hwinfo: null })], [1, 'invalid']]) })).toMatchObject({ cpu: null, cpus: null, gpus: [] });
  });
});

describe('compareMetric', () => {
  it('needs a value on each side', () => {
    expect(compareMetric('x', 'result', 'lower', [], [1])).toBeUndefined();
    expect(compareMetric('x', 'result', 'lower', [1], [])).toBeUndefined();
  });

  it('is not significant when p < 0.05 but the baseline median is 0 (no ratio)', () => {
    const c = compareMetric('x', 'result', 'lower', [0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]);
    expect(c).toMatchObject({ ratio: null, ci_low: null, verdict: 'no significant difference' });
    expect(c!.p_value).toBeLessThan(0.05);
  });

  it('reports the exact test for small samples and calls a clear improvement faster', () => {
    const c = compareMetric('elapsed', 'result', 'lower', [10, 11, 12, 13, 14, 15], [5, 5.5, 6, 6.5, 7, 7.5]);
    expect(c).toMatchObject({ test: 'exact', baseline_median: 12.5, median: 6.25, ratio: 0.5, baseline_n: 6, n: 6, verdict: 'faster' });
    expect(c!.ci_high!).toBeLessThan(1);
    // 2 / C(12, 6): the candidate is below every baseline value.
    expect(c!.p_value).toBeCloseTo(2 / 924, 12);
  });
});

describe('compareInspections', () => {
  it('compares each with the first and warns of other hardware, too few runs and failed runs', () => {
    const baseline = inspection('inspection-a', '2026-01-01T00:00:00', around(1, 10, 1));
    const slower = inspection('inspection-b', '2026-01-02T00:00:00', [...around(2, 10, 2), 'failed'], hwinfoWith('AMD EPYC 7R13', 8));
    const few = inspection('inspection-c', '2026-01-03T00:00:00', around(3, 3, 1));
    const answer = compareInspections([baseline, slower, few]);
    expect(validators.compareAnswer({ ...answer, parameters: {} })).toBe(true);
    expect(answer.baseline).toBe('inspection-a');
    expect(answer.inspections.map((i) => i.inspection_id)).toEqual(['inspection-a', 'inspection-b', 'inspection-c']);
    const [b, c] = answer.comparisons;
    // @result metrics first, then the harness's both have (usage.* are constant here: no difference).
    expect(b!.metrics.map((m) => m.name)).toEqual(['elapsed', 'wall_time', 'usage.ru_utime', 'usage.ru_stime', 'usage.ru_maxrss', 'usage.ru_nvcsw', 'usage.ru_nivcsw']);
    expect(b!.metrics[0]).toMatchObject({ name: 'elapsed', verdict: 'slower', baseline_n: 10, n: 10 });
    expect(b!.metrics[0]!.ci_low!).toBeGreaterThan(1);
    expect(b!.metrics[2]).toMatchObject({ verdict: 'no significant difference', p_value: 1 });
    expect(b!.warnings).toHaveLength(2);
    expect(b!.warnings[0]).toMatch(/hardware.*inspection-a.*Intel Xeon Processor \(Skylake, IBRS\) \(64 CPUs\).*inspection-b.*AMD EPYC 7R13 \(8 CPUs\)/);
    expect(b!.warnings[1]).toMatch(/1 of 11 runs failed in inspection-b/);
    expect(c!.warnings).toEqual([expect.stringMatching(/inspection-c has 3 successful runs: too few runs to tell/)]);
    expect(c!.metrics[0]).toMatchObject({ name: 'elapsed', test: 'exact', verdict: 'no significant difference' });
  });

  it("takes the candidate's declared direction over the baseline's", () => {
    const a = inspection('a', '2026-01-01T00:00:00', around(1, 10, 1), exampleHwinfo, { run: { metrics: { elapsed: 'lower' } } });
    const b = inspection('b', '2026-01-02T00:00:00', around(2, 10, 2), exampleHwinfo, { run: { metrics: { elapsed: 'higher' } } });
    expect(compareInspections([a, b]).comparisons[0]!.metrics[0]).toMatchObject({ name: 'elapsed', better: 'higher', verdict: 'faster' });
    expect(compareInspections([b, a]).comparisons[0]!.metrics[0]).toMatchObject({ name: 'elapsed', better: 'lower', verdict: 'faster' });
  });

  it('needs an inspection', () => {
    expect(() => compareInspections([])).toThrow();
  });
});

describe('history', () => {
  const other = hwinfoWith('AMD EPYC 7R13', 8);
  const first = inspection('inspection-1', '2026-01-01T00:00:00', around(1, 10, 1));
  const moved = inspection('inspection-2', '2026-01-02T00:00:00', around(2, 10, 0.5), other);
  const regressed = inspection('inspection-3', '2026-01-03T00:00:00', around(3, 10, 2));
  const steady = inspection('inspection-4', '2026-01-04T00:00:00', around(4, 10, 2));

  it('orders points oldest first and compares each with the latest earlier one on the same hardware', () => {
    const answer = history('bench', undefined, [steady, regressed, first, moved]);
    expect(validators.historyAnswer({ ...answer, parameters: {} })).toBe(true);
    expect(answer.metric).toBe('elapsed');
    expect(answer.metrics).toEqual(['elapsed', 'wall_time', 'usage.ru_utime', 'usage.ru_stime', 'usage.ru_maxrss', 'usage.ru_nvcsw', 'usage.ru_nivcsw']);
    const [p1, p2, p3, p4] = answer.points;
    expect(answer.points.map((p) => p.inspection_id)).toEqual(['inspection-1', 'inspection-2', 'inspection-3', 'inspection-4']);
    expect(p1).toMatchObject({ hardware_changed: false, previous: null, comparison: null, n: 10 });
    expect(p1!.q1!).toBeLessThanOrEqual(p1!.median!);
    expect(p1!.q3!).toBeGreaterThanOrEqual(p1!.median!);
    // Faster, but on other hardware: nothing earlier to compare with.
    expect(p2).toMatchObject({ hardware_changed: true, previous: null, comparison: null });
    // Back on the first hardware: compared with inspection-1, past inspection-2, and marked as a regression.
    expect(p3).toMatchObject({ hardware_changed: true, previous: 'inspection-1', comparison: { verdict: 'slower' } });
    expect(p4).toMatchObject({ hardware_changed: false, previous: 'inspection-3', comparison: { verdict: 'no significant difference' } });
  });

  it('follows the metric asked for and skips earlier points without its values', () => {
    const failedAll = inspection('inspection-0', '2025-12-31T00:00:00', ['failed', 'failed']);
    const answer = history('bench', 'wall_time', [first, failedAll, regressed]);
    expect(answer.metric).toBe('wall_time');
    expect(answer.points.map((p) => [p.inspection_id, p.n, p.previous])).toEqual([['inspection-0', 0, null], ['inspection-1', 10, null], ['inspection-3', 10, 'inspection-1']]);
    expect(answer.points[0]).toMatchObject({ median: null, q1: null, state: 'failed' });
  });

  it('defaults to wall_time when the newest inspection printed no @result', () => {
    expect(history('bench', undefined, [inspection('x', '2026-01-01T00:00:00', ['failed'])]).metric).toBe('wall_time');
  });
});
