/**
 * What `amun compare --fail-on-slower` fails on. A CI gate must not cry wolf: the harness's own
 * figures (wall time, CPU, memory) move with the machine's load, while the `@result` metrics are
 * what the script says it measures. So the gate looks, by default, at the `@result` metrics of a
 * comparison when it has any and at every metric otherwise; `--metric` names the ones to look at,
 * and `--threshold` asks for a slowdown larger than a given fraction (the whole 95 % interval of
 * the ratio beyond it), not merely a significant one.
 */
import type { CompareAnswer } from './client.js';

type Comparison = CompareAnswer['comparisons'][number];
type Metric = Comparison['metrics'][number];

export interface GateOptions {
  /** Metric names to judge; empty or absent: the `@result` metrics, or every metric when there are none. */
  metrics?: readonly string[];
  /** The least slowdown that counts, as a fraction (0.05: 5 % slower); 0: any significant one. */
  threshold: number;
}

export interface GateVerdict {
  /** `<inspection id> <metric> (ratio …)` of each metric that is worse beyond the threshold. */
  slower: string[];
  /** Metric names asked for with `--metric` that no comparison has. */
  unknown: string[];
}

/** Whether a metric's whole interval lies beyond `threshold` on the worse side of 1. */
function worseBeyond(m: Metric, threshold: number): boolean {
  if (m.verdict !== 'slower' || m.ci_low === null || m.ci_high === null) return false;
  return m.better === 'lower' ? m.ci_low > 1 + threshold : m.ci_high < 1 / (1 + threshold);
}

function judged(c: Comparison, names: ReadonlySet<string> | null): Metric[] {
  if (names) return c.metrics.filter((m) => names.has(m.name));
  const results = c.metrics.filter((m) => m.source === 'result');
  return results.length > 0 ? results : c.metrics;
}

const ratioText = (m: Metric): string => (m.ratio === null ? '' : ` (ratio ${Number(m.ratio.toPrecision(3))})`);

export function gate(answer: Pick<CompareAnswer, 'comparisons'>, options: GateOptions): GateVerdict {
  const names = options.metrics && options.metrics.length > 0 ? new Set(options.metrics) : null;
  const known = new Set(answer.comparisons.flatMap((c) => c.metrics.map((m) => m.name)));
  const unknown = names ? [...names].filter((n) => !known.has(n)) : [];
  const slower = answer.comparisons.flatMap((c) => judged(c, names).filter((m) => worseBeyond(m, options.threshold)).map((m) => `${c.inspection_id} ${m.name}${ratioText(m)}`));
  return { slower, unknown };
}
