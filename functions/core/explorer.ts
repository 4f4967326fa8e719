/**
 * The results explorer's domain: the metrics of a run, their statistics over an inspection, the
 * comparison of inspections and the history of an identifier. Computed from the same stored
 * objects as the summary (SummaryInputs), with no I/O: the same inputs give the same answer.
 *
 * A metric is a number a run reported: one the script printed under stdout's `@result` (source
 * 'result'), or one the harness measured (source 'harness'). Statistics count only the runs that
 * ended well (exit code 0, no reason): a run that was killed or failed measured something else.
 */
import type {
  Better,
  CompareAnswer,
  HistoryAnswer,
  HistoryPoint,
  InspectionBrief,
  InspectionSpecification,
  MetricComparison,
  MetricStats,
  MetricsAnswer,
  RunHardware,
  RunReport,
  RunRow,
  Verdict,
} from './generated/types.js';
import { parseTimestamp } from './specification.js';
import { bootstrapRatioInterval, mannWhitneyU, mean, median, quantile, sampleStdev } from './stats.js';
import { computeSummary, itemOutcome, type SummaryInputs } from './summary.js';

export type MetricSource = MetricStats['source'];

/** What the harness measures for every run, in the order answers list them. */
export const HARNESS_METRICS = ['wall_time', 'usage.ru_utime', 'usage.ru_stime', 'usage.ru_maxrss', 'usage.ru_nvcsw', 'usage.ru_nivcsw'] as const;
const HARNESS_NAMES: ReadonlySet<string> = new Set(HARNESS_METRICS);

/** The significance level of the verdict. */
const ALPHA = 0.05;
/** Below this many successful runs a comparison cannot tell much: the answer warns. */
const FEW_RUNS = 5;

export interface RunMetric {
  name: string;
  source: MetricSource;
  value: number;
}

export interface RunMetrics {
  /** @result metrics in the order the script printed them, then the harness's in HARNESS_METRICS order. */
  metrics: RunMetric[];
  /** stdout's @parameters when it is an object. */
  parameters: Record<string, unknown> | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Nesting deeper than this is not a metric anyone reads; the limit keeps a hostile stdout off the stack. */
const MAX_DEPTH = 32;

/** Every finite number under `value`, nested keys joined with '.'; arrays, booleans and strings are not metrics. */
function flatten(value: Record<string, unknown>, prefix: string, out: Array<[string, number]>, depth = 0): void {
  for (const [key, v] of Object.entries(value)) {
    const name = prefix + key;
    if (typeof v === 'number' && Number.isFinite(v)) out.push([name, v]);
    else if (isObject(v) && depth < MAX_DEPTH) flatten(v, `${name}.`, out, depth + 1);
  }
}

function harnessValues(report: RunReport): Array<[string, number]> {
  const usage: Record<string, unknown> = isObject(report.usage) ? report.usage : {};
  const raw: Record<string, unknown> = { wall_time: report.wall_time };
  for (const name of HARNESS_METRICS) if (name.startsWith('usage.')) raw[name] = usage[name.slice('usage.'.length)];
  return HARNESS_METRICS.flatMap((name) => {
    const v = raw[name];
    return typeof v === 'number' && Number.isFinite(v) ? [[name, v] as [string, number]] : [];
  });
}

/**
 * The metrics of one run. A script's @result key that is also a harness metric's name (its own
 * `wall_time`, say) is renamed `@result.<name>`, so neither hides the other.
 */
export function runMetrics(report: RunReport): RunMetrics {
  const stdout = isObject(report.stdout) ? report.stdout : null;
  const printed: Array<[string, number]> = [];
  if (stdout && isObject(stdout['@result'])) flatten(stdout['@result'], '', printed);
  const metrics: RunMetric[] = printed.map(([name, value]) => ({ name: HARNESS_NAMES.has(name) ? `@result.${name}` : name, source: 'result', value }));
  for (const [name, value] of harnessValues(report)) metrics.push({ name, source: 'harness', value });
  const parameters = stdout && isObject(stdout['@parameters']) ? stdout['@parameters'] : null;
  return { metrics, parameters };
}

// ---------------------------------------------------------------------------------------------
// Which way is better

/** Words that make a name a rate, whatever else it says: more per unit of time or a score. */
const HIGHER_WORDS = new Set(['rate', 'rates', 'throughput', 'ops', 'flops', 'qps', 'fps', 'tps', 'iops', 'bandwidth', 'speed', 'speedup', 'score', 'accuracy', 'ps']);
/** Prefixed rates: gflops, tflops, mops, kops... */
const HIGHER_PATTERN = /^[kmgtpe]?(?:flop|op)s$/;
/** Counts that, followed by "per", are throughput (samples_per_second, items_per_batch). */
const COUNTED = new Set(['samples', 'items', 'images', 'tokens', 'requests', 'queries', 'iterations', 'iters', 'it', 'steps', 'frames', 'records', 'rows', 'bytes', 'ops', 'operations', 'transactions']);
/** Units and words of time and memory: less is better. */
const LOWER_WORDS = new Set([
  'time', 'times', 'elapsed', 'duration', 'latency', 'wall', 'runtime', 'seconds', 'second', 'secs', 'sec', 's', 'ms', 'us', 'ns', 'minutes',
  'memory', 'mem', 'rss', 'maxrss', 'bytes', 'kb', 'mb', 'gb', 'kib', 'mib', 'gib',
]);
/** Words that make a rate a bad thing: error_rate, miss_rate, drop_rate, loss. */
const BAD_WORDS = new Set(['error', 'errors', 'err', 'miss', 'misses', 'loss', 'fail', 'failure', 'failures', 'drop', 'drops', 'dropped', 'retries', 'retry', 'timeout', 'timeouts']);
const TIME_UNITS = new Set(['s', 'sec', 'secs', 'second', 'seconds', 'ms', 'us', 'ns', 'min', 'minute', 'minutes', 'hour', 'hours', 'h']);

/** Lower-case words of a key: snake_case, kebab-case, camelCase and spaces alike. */
function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

/** The direction one dotted segment of a name tells, or undefined when it tells none. */
function segmentBetter(segment: string): Better | undefined {
  const w = words(segment);
  if (w.some((x) => BAD_WORDS.has(x))) return 'lower';
  // "x/s", "it/s", "MB/sec": something per unit of time.
  if (/\/\s*(?:s|sec|second)s?$/i.test(segment)) return 'higher';
  const per = w.indexOf('per');
  if (per >= 0) {
    const before = w[per - 1];
    const after = w[per + 1];
    if (after !== undefined && TIME_UNITS.has(after)) return 'higher';
    if (before !== undefined && COUNTED.has(before)) return 'higher';
    // seconds_per_op, time_per_batch: a time.
    if (before !== undefined && LOWER_WORDS.has(before)) return 'lower';
  }
  if (w.some((x) => HIGHER_WORDS.has(x) || HIGHER_PATTERN.test(x))) return 'higher';
  if (w.some((x) => LOWER_WORDS.has(x))) return 'lower';
  return undefined;
}

/**
 * Which way is better for a metric. In order:
 *   1. the specification's `run.metrics` by the metric's name as answers show it (a renamed
 *      collision is `@result.<name>` there too): the user knows best;
 *   2. harness metrics are lower: time, memory and context switches;
 *   3. an @result name, read from its last dotted segment back to its first (the leaf names the
 *      quantity: `throughput.p50_latency` is a latency, `latency.mean` too): a word of failure
 *      (error, miss, loss, drop, ...) is lower, so `error_rate` is not a rate; something per unit
 *      of time (`per_sec`, `per_second`, `/s`, `it/s`), a count per something (`samples_per_...`,
 *      `items_per_...`) or a rate word (rate, throughput, ops, flops, qps, fps, tps, iops, _ps,
 *      bandwidth, speed, score, accuracy) is higher; time, latency or memory (`seconds_per_op`
 *      included) is lower;
 *   4. anything else lower, as asv assumes of a benchmark's numbers.
 */
export function betterOf(name: string, source: MetricSource, overrides?: Readonly<Record<string, Better>>): Better {
  const override = overrides !== undefined && Object.hasOwn(overrides, name) ? overrides[name] : undefined;
  if (override === 'higher' || override === 'lower') return override;
  if (source === 'harness') return 'lower';
  const segments = name.replace(/^@result\./, '').split('.');
  for (let i = segments.length - 1; i >= 0; i--) {
    const better = segmentBetter(segments[i]!);
    if (better) return better;
  }
  return 'lower';
}

function overridesOf(spec: InspectionSpecification): Record<string, Better> {
  return spec.run?.metrics ?? {};
}

function sourceOf(name: string): MetricSource {
  return HARNESS_NAMES.has(name) ? 'harness' : 'result';
}

// ---------------------------------------------------------------------------------------------
// One inspection

interface Collected {
  source: MetricSource;
  /** Every value by item, failed runs' included. */
  values: Array<number | null>;
  /** The values of the runs that ended well, in item order: what statistics count. */
  ok: number[];
}

interface Inspection {
  batchSize: number;
  /** Stored results within the batch, in item order. */
  results: Array<[number, RunReport | 'invalid']>;
  metrics: Map<string, Collected>;
}

function batchSizeOf(spec: InspectionSpecification): number {
  return spec.batch_size ?? 1;
}

/** The results within the batch, in item order (as the summary counts them). */
function storedResults(inputs: SummaryInputs): Array<[number, RunReport | 'invalid']> {
  const batchSize = batchSizeOf(inputs.spec);
  return [...inputs.results.entries()].filter(([item]) => Number.isInteger(item) && item >= 0 && item < batchSize).sort(([a], [b]) => a - b);
}

/** A run that ended well as the summary counts it: exit 0, no reason (a run on other hardware under run.hardware_mismatch: fail has one). */
function endedWell(spec: InspectionSpecification, report: RunReport | 'invalid'): boolean {
  const outcome = itemOutcome(spec, report);
  return outcome.exit_code === 0 && outcome.reason === null;
}

function collect(inputs: SummaryInputs): Inspection {
  const batchSize = batchSizeOf(inputs.spec);
  const results = storedResults(inputs);
  const metrics = new Map<string, Collected>();
  for (const [item, report] of results) {
    if (report === 'invalid') continue;
    // As the summary counts the item: a run on other hardware than asked, under run.hardware_mismatch: fail, failed.
    const ok = endedWell(inputs.spec, report);
    for (const { name, source, value } of runMetrics(report).metrics) {
      let entry = metrics.get(name);
      if (!entry) metrics.set(name, (entry = { source, values: new Array<number | null>(batchSize).fill(null), ok: [] }));
      entry.values[item] = value;
      if (ok) entry.ok.push(value);
    }
  }
  return { batchSize, results, metrics };
}

function nullable(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function statsOf(name: string, entry: Collected, overrides: Record<string, Better>): MetricStats {
  const { ok } = entry;
  const m = nullable(mean(ok));
  const stdev = nullable(sampleStdev(ok));
  return {
    source: entry.source,
    better: betterOf(name, entry.source, overrides),
    n: ok.length,
    median: nullable(median(ok)),
    mean: m,
    min: ok.length > 0 ? Math.min(...ok) : null,
    max: ok.length > 0 ? Math.max(...ok) : null,
    stdev,
    cv: m !== null && stdev !== null && m !== 0 ? stdev / Math.abs(m) : null,
    values: entry.values,
  };
}

/** @result metrics widest spread first (cv descending, unknown cv last, then by name), then the harness's in HARNESS_METRICS order. */
function orderedNames(stats: ReadonlyMap<string, MetricStats>): string[] {
  const printed = [...stats.entries()].filter(([, s]) => s.source === 'result');
  printed.sort(([a, x], [b, y]) => {
    if (x.cv !== y.cv) {
      if (x.cv === null) return 1;
      if (y.cv === null) return -1;
      return y.cv - x.cv;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return [...printed.map(([name]) => name), ...HARNESS_METRICS.filter((name) => stats.has(name))];
}

function statsByName(inputs: SummaryInputs, inspection: Inspection): Map<string, MetricStats> {
  const overrides = overridesOf(inputs.spec);
  const stats = new Map<string, MetricStats>();
  for (const [name, entry] of inspection.metrics) stats.set(name, statsOf(name, entry, overrides));
  return new Map(orderedNames(stats).map((name) => [name, stats.get(name)!]));
}

function runRow(spec: InspectionSpecification, item: number, report: RunReport | 'invalid'): RunRow {
  // As the summary shows the item (its hardware comparison and run.hardware_mismatch included).
  return { item, ...itemOutcome(spec, report), parameters: report === 'invalid' ? null : runMetrics(report).parameters };
}

/**
 * Every metric of an inspection with its statistics, and one row per stored result. A metric's
 * `values` show every value a run reported, a failed run's too (what it printed before failing
 * may explain the failure); n, median, mean, min, max, stdev and cv count only the runs that ended
 * well (exit code 0, no reason). A metric no run reported is not listed: a report the original
 * service wrote has no wall time, for one. Results outside the batch are left out, as the summary
 * does. (A metric named like an array index, "0", would be listed first: JavaScript objects order
 * such keys before the others.)
 */
export function inspectionMetrics(inputs: SummaryInputs): Omit<MetricsAnswer, 'parameters'> {
  const inspection = collect(inputs);
  return {
    inspection_id: inputs.inspectionId,
    batch_size: inspection.batchSize,
    metrics: Object.fromEntries(statsByName(inputs, inspection)),
    runs: inspection.results.map(([item, report]) => runRow(inputs.spec, item, report)),
  };
}

// ---------------------------------------------------------------------------------------------
// Hardware

interface HardwareOfRun {
  cpu: string | null;
  cpus: number | null;
  gpus: string[];
}

/** A run's CPU model name: py-cpuinfo's brand_raw (older versions: brand), or /proc/cpuinfo's "model name". */
function cpuName(cpuInfo: Record<string, unknown>): string | null {
  for (const key of ['brand_raw', 'brand', 'model name']) {
    const v = cpuInfo[key];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return null;
}

/** What one run saw, read defensively: hwinfo is whatever the node's harness could collect. */
function hardwareOfRun(report: RunReport): HardwareOfRun | undefined {
  const hwinfo: unknown = report.hwinfo;
  if (!isObject(hwinfo)) return undefined;
  const cpuInfo = isObject(hwinfo.cpu_info) ? hwinfo.cpu_info : {};
  const count = cpuInfo.count;
  const gpus = Array.isArray(hwinfo.gpus) ? hwinfo.gpus : [];
  return {
    cpu: cpuName(cpuInfo),
    cpus: typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : null,
    gpus: gpus.flatMap((g: unknown) => (isObject(g) && typeof g.name === 'string' ? [g.name] : [])),
  };
}

/** The most common value by its JSON form; a tie goes to the value seen first (lowest item). */
function mostCommon<T>(values: readonly T[], fallback: T): T {
  const counts = new Map<string, { value: T; count: number }>();
  for (const value of values) {
    const key = JSON.stringify(value);
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { value, count: 1 });
  }
  let best: { value: T; count: number } | undefined;
  for (const entry of counts.values()) if (!best || entry.count > best.count) best = entry;
  return best ? best.value : fallback;
}

/**
 * What an inspection's runs ran on: the most common CPU model, CPU count and GPU list over the
 * runs that have hwinfo (failed runs too: they ran on it). The key is the JSON of the three, so it
 * differs exactly when one of them does; an inspection with no hwinfo at all is all nulls.
 */
export function runHardware(inputs: SummaryInputs): RunHardware {
  const seen = storedResults(inputs).flatMap(([, report]) => {
    const hw = report === 'invalid' ? undefined : hardwareOfRun(report);
    return hw ? [hw] : [];
  });
  const cpu = mostCommon(seen.map((h) => h.cpu), null);
  const cpus = mostCommon(seen.map((h) => h.cpus), null);
  const gpus = mostCommon(seen.map((h) => h.gpus), []);
  return { key: JSON.stringify([cpu, cpus, gpus]), cpu, cpus, gpus };
}

/** The hardware in words, for warnings. */
function describeHardware(hw: RunHardware): string {
  if (hw.cpu === null && hw.cpus === null && hw.gpus.length === 0) return 'unknown hardware (no hwinfo)';
  const cpu = `${hw.cpu ?? 'an unknown CPU'}${hw.cpus !== null ? ` (${hw.cpus} CPUs)` : ''}`;
  return hw.gpus.length > 0 ? `${cpu} with ${hw.gpus.join(', ')}` : `${cpu}, no GPU`;
}

export function brief(inputs: SummaryInputs): InspectionBrief {
  const summary = computeSummary(inputs);
  return {
    inspection_id: inputs.inspectionId,
    identifier: inputs.spec.identifier ?? null,
    created: inputs.spec['@created'] ?? null,
    state: summary.state,
    batch_size: summary.batch_size,
    items_done: summary.items_done,
    items_failed: summary.items_failed,
    hardware: runHardware(inputs),
  };
}

// ---------------------------------------------------------------------------------------------
// Comparison

function verdictOf(better: Better, p: number, low: number | null, high: number | null): Verdict {
  if (!(p < ALPHA) || low === null || high === null) return 'no significant difference';
  // The interval must lie on one side of 1: the difference is not only significant but has a direction.
  const up = low > 1;
  const down = high < 1;
  if (!up && !down) return 'no significant difference';
  return up === (better === 'higher') ? 'faster' : 'slower';
}

/**
 * One metric of a candidate against the baseline: medians, the ratio median / baseline median
 * with its 95 % bootstrap interval (2,000 seeded resamples), and the two-sided Mann-Whitney U
 * p-value. The verdict is significant only when p < 0.05 and the interval excludes 1 (two
 * independent signs, so a noisy batch rarely cries wolf); it is then faster or slower by which
 * side of 1 the interval lies on and which way is better. A baseline median of 0 has no ratio:
 * no significant difference. Undefined when either side has no value: nothing to compare.
 */
export function compareMetric(name: string, source: MetricSource, better: Better, baselineValues: readonly number[], candidateValues: readonly number[]): MetricComparison | undefined {
  if (baselineValues.length === 0 || candidateValues.length === 0) return undefined;
  const { p, method } = mannWhitneyU(candidateValues, baselineValues);
  const { ratio, low, high } = bootstrapRatioInterval(baselineValues, candidateValues);
  return {
    name,
    source,
    better,
    baseline_median: median(baselineValues),
    median: median(candidateValues),
    baseline_n: baselineValues.length,
    n: candidateValues.length,
    ratio,
    ci_low: low,
    ci_high: high,
    p_value: p,
    test: method,
    verdict: verdictOf(better, p, low, high),
  };
}

interface Prepared {
  inputs: SummaryInputs;
  brief: InspectionBrief;
  inspection: Inspection;
  /** Metric names in answer order. */
  order: string[];
  /** Runs that ended well. */
  okRuns: number;
}

function prepare(inputs: SummaryInputs): Prepared {
  const inspection = collect(inputs);
  const okRuns = inspection.results.filter(([, report]) => endedWell(inputs.spec, report)).length;
  return { inputs, brief: brief(inputs), inspection, order: [...statsByName(inputs, inspection).keys()], okRuns };
}

function warningsOf(baseline: Prepared, candidate: Prepared): string[] {
  const warnings: string[] = [];
  const [a, b] = [baseline.brief, candidate.brief];
  if (a.hardware.key !== b.hardware.key) {
    warnings.push(`Different hardware: ${a.inspection_id} ran on ${describeHardware(a.hardware)}, ${b.inspection_id} on ${describeHardware(b.hardware)}; a difference may be the hardware's.`);
  }
  for (const side of [baseline, candidate]) {
    if (side.okRuns < FEW_RUNS) {
      warnings.push(`${side.brief.inspection_id} has ${side.okRuns} successful run${side.okRuns === 1 ? '' : 's'}: too few runs to tell (${FEW_RUNS} or more make a comparison meaningful).`);
    }
  }
  for (const side of [baseline, candidate]) {
    const failed = side.brief.items_failed;
    if (failed > 0) warnings.push(`${failed} of ${side.brief.batch_size} runs failed in ${side.brief.inspection_id}; only successful runs are compared.`);
  }
  return warnings;
}

function compareWith(baseline: Prepared, candidate: Prepared): CompareAnswer['comparisons'][number] {
  // The candidate's declared directions win: it is the newer statement of what the script prints.
  const overrides = { ...overridesOf(baseline.inputs.spec), ...overridesOf(candidate.inputs.spec) };
  const metrics = baseline.order.flatMap((name) => {
    const base = baseline.inspection.metrics.get(name)!;
    const cand = candidate.inspection.metrics.get(name);
    if (!cand) return [];
    const comparison = compareMetric(name, base.source, betterOf(name, base.source, overrides), base.ok, cand.ok);
    return comparison ? [comparison] : [];
  });
  return { inspection_id: candidate.inputs.inspectionId, metrics, warnings: warningsOf(baseline, candidate) };
}

/**
 * Every inspection after the first compared with the first, on every metric both have values of
 * (@result metrics first, in the baseline's order), with warnings in words: different hardware,
 * fewer than 5 successful runs on either side, failed runs. Throws on an empty list.
 */
export function compareInspections(list: readonly SummaryInputs[]): Omit<CompareAnswer, 'parameters'> {
  if (list.length === 0) throw new Error('compareInspections needs at least one inspection');
  const prepared = list.map(prepare);
  const baseline = prepared[0]!;
  return {
    baseline: baseline.inputs.inspectionId,
    inspections: prepared.map((p) => p.brief),
    comparisons: prepared.slice(1).map((candidate) => compareWith(baseline, candidate)),
  };
}

// ---------------------------------------------------------------------------------------------
// History

/** Oldest first by @created; an inspection without one is taken as older than any with one (it predates the field), ties by id. */
function chronological(list: readonly SummaryInputs[]): SummaryInputs[] {
  const at = (i: SummaryInputs): number => {
    const t = parseTimestamp(i.spec['@created']);
    return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
  };
  return [...list].sort((x, y) => at(x) - at(y) || (x.inspectionId < y.inspectionId ? -1 : x.inspectionId > y.inspectionId ? 1 : 0));
}

/** @result names sorted, then the harness's in HARNESS_METRICS order. */
function metricUnion(prepared: readonly Prepared[]): string[] {
  const names = new Set(prepared.flatMap((p) => [...p.inspection.metrics.keys()]));
  const printed = [...names].filter((name) => sourceOf(name) === 'result').sort();
  return [...printed, ...HARNESS_METRICS.filter((name) => names.has(name))];
}

function defaultMetric(prepared: readonly Prepared[]): string {
  const newest = prepared.at(-1);
  return newest?.order.find((name) => sourceOf(name) === 'result') ?? 'wall_time';
}

function pointOf(metric: string, current: Prepared, earlier: readonly Prepared[], points: readonly HistoryPoint[]): HistoryPoint {
  const ok = current.inspection.metrics.get(metric)?.ok ?? [];
  const hardware = current.brief.hardware;
  const before = points.at(-1);
  // The latest earlier point on the same hardware that measured the metric: the one to compare with.
  let previous: Prepared | undefined;
  for (let i = earlier.length - 1; i >= 0 && !previous; i--) {
    const p = earlier[i]!;
    if (p.brief.hardware.key === hardware.key && (p.inspection.metrics.get(metric)?.ok.length ?? 0) > 0) previous = p;
  }
  const source = sourceOf(metric);
  const overrides = previous ? { ...overridesOf(previous.inputs.spec), ...overridesOf(current.inputs.spec) } : {};
  const comparison = previous ? compareMetric(metric, source, betterOf(metric, source, overrides), previous.inspection.metrics.get(metric)!.ok, ok) : undefined;
  return {
    inspection_id: current.inputs.inspectionId,
    created: current.brief.created,
    state: current.brief.state,
    n: ok.length,
    median: nullable(median(ok)),
    min: ok.length > 0 ? Math.min(...ok) : null,
    max: ok.length > 0 ? Math.max(...ok) : null,
    q1: nullable(quantile(ok, 0.25)),
    q3: nullable(quantile(ok, 0.75)),
    hardware,
    hardware_changed: before !== undefined && before.hardware.key !== hardware.key,
    previous: previous ? previous.inputs.inspectionId : null,
    comparison: comparison ?? null,
  };
}

/**
 * One metric over an identifier's inspections, oldest first: each point's spread over its
 * successful runs, whether the hardware changed from the point before, and the comparison with
 * the latest earlier point on the same hardware that measured the metric (a regression shows as
 * 'slower' there). Without a metric: the newest inspection's first @result metric (its widest
 * spread), else wall_time.
 */
export function history(identifier: string, metric: string | undefined, list: readonly SummaryInputs[]): Omit<HistoryAnswer, 'parameters'> {
  const prepared = chronological(list).map(prepare);
  const chosen = metric ?? defaultMetric(prepared);
  const points: HistoryPoint[] = [];
  prepared.forEach((current, i) => points.push(pointOf(chosen, current, prepared.slice(0, i), points)));
  return { identifier, metric: chosen, metrics: metricUnion(prepared), points };
}
