/**
 * `amun compare --fail-on-slower`'s judgement on compare answers: the @result metrics when there
 * are any (a noisy harness figure alone does not fail a CI job), every metric otherwise, the
 * metrics named with --metric, and a threshold the whole interval must lie beyond.
 */
import { gate } from '../../cli/gate.js';
import type { CompareAnswer } from '../../cli/client.js';

type Metric = CompareAnswer['comparisons'][number]['metrics'][number];

function metric(name: string, source: Metric['source'], better: Metric['better'], ratio: number, low: number, high: number, verdict: Metric['verdict']): Metric {
  return { name, source, better, baseline_median: 1, median: ratio, baseline_n: 6, n: 6, ratio, ci_low: low, ci_high: high, p_value: verdict === 'no significant difference' ? 0.5 : 0.002, test: 'exact', verdict };
}

const answer = (metrics: Metric[]): Pick<CompareAnswer, 'comparisons'> => ({ comparisons: [{ inspection_id: 'inspection-b-00000000', metrics, warnings: [] }] });

describe('compare gate', () => {
  const wallSlower = metric('wall_time', 'harness', 'lower', 1.08, 1.03, 1.12, 'slower');
  const elapsedSame = metric('elapsed', 'result', 'lower', 1, 0.98, 1.02, 'no significant difference');

  it('judges the @result metrics when the script reports any: a slower wall time alone passes', () => {
    expect(gate(answer([elapsedSame, wallSlower]), { threshold: 0 })).toEqual({ slower: [], unknown: [] });
  });

  it('judges every metric when there are no @result metrics', () => {
    expect(gate(answer([wallSlower]), { threshold: 0 }).slower).toEqual(['inspection-b-00000000 wall_time (ratio 1.08)']);
  });

  it('judges the named metrics only, and names the ones no comparison has', () => {
    expect(gate(answer([elapsedSame, wallSlower]), { metrics: ['wall_time'], threshold: 0 }).slower).toEqual(['inspection-b-00000000 wall_time (ratio 1.08)']);
    expect(gate(answer([elapsedSame, wallSlower]), { metrics: ['elapsed', 'usage.ru_maxrss'], threshold: 0 })).toEqual({ slower: [], unknown: ['usage.ru_maxrss'] });
  });

  it('counts a slowdown only when its whole interval is beyond the threshold, either way up', () => {
    expect(gate(answer([wallSlower]), { threshold: 0.02 }).slower).toHaveLength(1);
    // 1.03 is the interval's low end: 5 % is not certain.
    expect(gate(answer([wallSlower]), { threshold: 0.05 }).slower).toEqual([]);
    const rate = metric('rate', 'result', 'higher', 0.5, 0.45, 0.55, 'slower');
    expect(gate(answer([rate]), { threshold: 0.5 }).slower).toEqual(['inspection-b-00000000 rate (ratio 0.5)']);
    expect(gate(answer([rate]), { threshold: 1 }).slower).toEqual([]);
  });

  it('never counts faster or undecided metrics', () => {
    const faster = metric('elapsed', 'result', 'lower', 0.5, 0.4, 0.6, 'faster');
    const noRatio = { ...metric('elapsed', 'result', 'lower', 0, 0, 0, 'slower'), ratio: null, ci_low: null, ci_high: null };
    expect(gate(answer([faster]), { threshold: 0 }).slower).toEqual([]);
    expect(gate(answer([noRatio]), { threshold: 0 }).slower).toEqual([]);
  });
});
