import fc from 'fast-check';
import { bootstrapRatioInterval, mannWhitneyU, mean, median, mulberry32, normalSf, quantile, sampleStdev } from '../../functions/core/stats.js';
import { compareMetric } from '../../functions/core/explorer.js';

// Reference values below come from scipy 1.17.1 and numpy (Python 3.11); each names the call.

describe('order statistics and moments', () => {
  const v = [3.1, 1.2, 9.7, 4.4, 2.0, 8.5, 6.3];

  it('quantile interpolates linearly, as numpy.quantile(v, q)', () => {
    // numpy.quantile([3.1, 1.2, 9.7, 4.4, 2.0, 8.5, 6.3], q)
    const expected: Array<[number, number]> = [[0, 1.2], [0.1, 1.68], [0.25, 2.55], [0.5, 4.4], [0.75, 7.4], [0.9, 8.98], [1, 9.7]];
    for (const [q, value] of expected) expect(quantile(v, q)).toBeCloseTo(value, 12);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('median of an even count is the mean of the middle two (numpy.median([4, 1, 3, 2]) = 2.5)', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    // Numbers, not strings: 10 sorts after 9.
    expect(median([10, 9, 1])).toBe(9);
  });

  it('mean and the sample standard deviation (numpy.std(v, ddof=1))', () => {
    expect(mean(v)).toBeCloseTo(5.028571428571428, 12);
    expect(sampleStdev(v)).toBeCloseTo(3.251519791171653, 12);
    expect(sampleStdev([5])).toBeNaN();
  });

  it('mulberry32 is reproducible from its seed and uniform in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const draws = Array.from({ length: 1000 }, () => a());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mean(draws)).toBeGreaterThan(0.45);
    expect(mean(draws)).toBeLessThan(0.55);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
  });

  it('normalSf matches scipy.stats.norm.sf in the body and the far tail', () => {
    expect(normalSf(0)).toBeCloseTo(0.5, 15);
    // scipy.stats.norm.sf(1.96) = 0.024997895148220435; norm.sf(-1) = 0.8413447460685429
    expect(normalSf(1.96)).toBeCloseTo(0.024997895148220435, 14);
    expect(normalSf(-1)).toBeCloseTo(0.8413447460685429, 14);
    // norm.sf(10) = 7.61985302416047e-24: relative precision in the tail
    expect(normalSf(10) / 7.61985302416047e-24).toBeCloseTo(1, 10);
  });
});

describe('mannWhitneyU', () => {
  // scipy's documentation example: ages of males and females.
  const males = [19, 22, 16, 29, 24];
  const females = [20, 11, 17, 12];

  it("gives scipy's documented U1 = 17 and exact p = 1/9 for the example", () => {
    // scipy.stats.mannwhitneyu(males, females) -> statistic 17.0, pvalue 0.1111111111111111
    const r = mannWhitneyU(males, females);
    expect(r).toEqual({ u: 17, p: expect.closeTo(1 / 9, 14) as number, method: 'exact' });
    // U of the other side is n1 n2 - U1; the two-sided p is the same.
    expect(mannWhitneyU(females, males)).toMatchObject({ u: 3, p: expect.closeTo(1 / 9, 14) as number });
  });

  it("gives scipy's asymptotic p for the example when forced", () => {
    // scipy.stats.mannwhitneyu(males, females, method='asymptotic').pvalue = 0.11134688653314041
    const r = mannWhitneyU(males, females, 'normal');
    expect(r.u).toBe(17);
    expect(r.p).toBeCloseTo(0.11134688653314041, 13);
  });

  it('uses the normal approximation with tie correction when there are ties', () => {
    // scipy.stats.mannwhitneyu([1,2,2,3,3,3,4,5], [3,4,4,5,6,6,7]) -> 7.0, 0.015984685125196244
    const r = mannWhitneyU([1, 2, 2, 3, 3, 3, 4, 5], [3, 4, 4, 5, 6, 6, 7]);
    expect(r.method).toBe('normal');
    expect(r.u).toBe(7);
    expect(r.p).toBeCloseTo(0.015984685125196244, 13);
  });

  it('uses the normal approximation when both samples have more than 8 values', () => {
    // scipy.stats.mannwhitneyu([1.1,2.3,3.5,4.2,5.9,6.1,7.7,8.4,9.0,10.5],
    //   [5.5,6.6,7.2,8.8,9.9,11.1,12.3,13.4,14.2,15.0,16.1]) -> 17.0, 0.00827421565071521
    const r = mannWhitneyU([1.1, 2.3, 3.5, 4.2, 5.9, 6.1, 7.7, 8.4, 9.0, 10.5], [5.5, 6.6, 7.2, 8.8, 9.9, 11.1, 12.3, 13.4, 14.2, 15.0, 16.1]);
    expect(r).toMatchObject({ u: 17, method: 'normal' });
    expect(r.p).toBeCloseTo(0.00827421565071521, 13);
    // scipy.stats.mannwhitneyu(range(100), range(1000, 1100)).pvalue = 2.562143669163401e-34
    const far = mannWhitneyU(Array.from({ length: 100 }, (_, i) => i), Array.from({ length: 100 }, (_, i) => 1000 + i));
    expect(far.p / 2.562143669163401e-34).toBeCloseTo(1, 9);
  });

  it('computes exact p-values of tiny samples as counted by hand', () => {
    // m = n = 2: the 6 arrangements give U = 0, 1, 2, 2, 3, 4.
    // [1,2] vs [3,4]: U = 0, P(U <= 0) = 1/6, two-sided 1/3.
    expect(mannWhitneyU([1, 2], [3, 4])).toEqual({ u: 0, p: expect.closeTo(1 / 3, 15) as number, method: 'exact' });
    // [1,3] vs [2,4]: U = 1 (3 > 2), P(U <= 1) = 2/6, two-sided 2/3.
    expect(mannWhitneyU([1, 3], [2, 4])).toEqual({ u: 1, p: expect.closeTo(2 / 3, 15) as number, method: 'exact' });
    // U at the centre: p capped at 1, not 2 P(U >= 2) = 2 * 4/6.
    expect(mannWhitneyU([1, 4], [2, 3]).p).toBe(1);
    // One value each: the two orders are equally likely.
    expect(mannWhitneyU([1], [2]).p).toBe(1);
  });

  it('stays exact when one sample is small and the other large, as scipy does', () => {
    // scipy.stats.mannwhitneyu([0.5,1.5,2.5], [2.0,3.0,...,21.0]) -> 1.0, 0.002258610954263128
    const r = mannWhitneyU([0.5, 1.5, 2.5], Array.from({ length: 20 }, (_, i) => i + 2));
    expect(r).toMatchObject({ u: 1, method: 'exact' });
    expect(r.p).toBeCloseTo(0.002258610954263128, 15);
    // scipy.stats.mannwhitneyu([i+0.5 for i in range(8)], [float(i) for i in range(3,203)])
    //   -> 15.0, 1.60634718917232e-11: counts beyond 2^53 stay exact
    const big = mannWhitneyU(Array.from({ length: 8 }, (_, i) => i + 0.5), Array.from({ length: 200 }, (_, i) => i + 3));
    expect(big).toMatchObject({ u: 15, method: 'exact' });
    expect(big.p / 1.60634718917232e-11).toBeCloseTo(1, 10);
  });

  it('gives p = 1 when every value is tied (scipy.stats.mannwhitneyu([5,5,5],[5,5,5]) -> 4.5, 1.0)', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5, 5])).toEqual({ u: 4.5, p: 1, method: 'normal' });
  });

  it('keeps p within [0, 1] and symmetric in the order of the samples', () => {
    const sample = fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 15 });
    fc.assert(
      fc.property(sample, sample, (a, b) => {
        const ab = mannWhitneyU(a, b);
        const ba = mannWhitneyU(b, a);
        expect(ab.p).toBeGreaterThanOrEqual(0);
        expect(ab.p).toBeLessThanOrEqual(1);
        expect(ab.u + ba.u).toBe(a.length * b.length);
        expect(ab.p).toBeCloseTo(ba.p, 12);
      }),
    );
  });
});

/** n values around `centre`, spread uniformly by ±10 %, from a seeded generator. */
function draw(random: () => number, n: number, centre: number): number[] {
  return Array.from({ length: n }, () => centre * (0.9 + 0.2 * random()));
}

describe('bootstrapRatioInterval', () => {
  const baseline = [10.2, 9.8, 10.5, 10.1, 9.9, 10.3, 10.0, 9.7, 10.4, 10.6];
  const doubled = baseline.map((v) => 2 * v + 0.05);

  it('is deterministic: the same data give the same interval, whatever the order', () => {
    const a = bootstrapRatioInterval(baseline, doubled);
    expect(bootstrapRatioInterval(baseline, doubled)).toEqual(a);
    expect(bootstrapRatioInterval([...baseline].reverse(), [...doubled].reverse())).toEqual(a);
    // The seed is what makes it so: another seed resamples otherwise.
    expect(bootstrapRatioInterval(baseline, doubled, { seed: 7 })).not.toEqual(a);
  });

  it('contains the true ratio of clearly separated samples, and excludes 1 for a 2x difference with n = 10', () => {
    const r = bootstrapRatioInterval(baseline, doubled);
    expect(r.ratio).toBeCloseTo(median(doubled) / median(baseline), 12);
    expect(r.low!).toBeLessThanOrEqual(2);
    expect(r.high!).toBeGreaterThanOrEqual(2);
    expect(r.low!).toBeGreaterThan(1);
    // A 95 % interval of medians of such tight samples is narrow.
    expect(r.high! - r.low!).toBeLessThan(0.2);
  });

  it('widens with the level and stays between the extreme ratios', () => {
    const narrow = bootstrapRatioInterval(baseline, doubled, { level: 0.5 });
    const wide = bootstrapRatioInterval(baseline, doubled, { level: 0.99 });
    expect(wide.low!).toBeLessThanOrEqual(narrow.low!);
    expect(wide.high!).toBeGreaterThanOrEqual(narrow.high!);
    expect(wide.low!).toBeGreaterThanOrEqual(Math.min(...doubled) / Math.max(...baseline));
    expect(wide.high!).toBeLessThanOrEqual(Math.max(...doubled) / Math.min(...baseline));
  });

  it('has no ratio when the baseline median is 0 or a sample is empty', () => {
    expect(bootstrapRatioInterval([0, 0, 1], [1, 2, 3])).toEqual({ ratio: null, low: null, high: null });
    expect(bootstrapRatioInterval([], [1])).toEqual({ ratio: null, low: null, high: null });
  });
});

describe('the verdict on seeded samples', () => {
  it('finds no significant difference between samples of one distribution in at least 95 % of 200 trials', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const random = mulberry32(seed);
        let quiet = 0;
        for (let trial = 0; trial < 200; trial++) {
          const c = compareMetric('t', 'harness', 'lower', draw(random, 10, 1), draw(random, 10, 1));
          if (c?.verdict === 'no significant difference') quiet++;
        }
        expect(quiet).toBeGreaterThanOrEqual(190);
      }),
      { numRuns: 3 },
    );
  });

  it('calls a 2x slower candidate with 10 runs slower, its interval above 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const random = mulberry32(seed);
        const c = compareMetric('t', 'harness', 'lower', draw(random, 10, 1), draw(random, 10, 2));
        expect(c).toMatchObject({ verdict: 'slower', test: 'normal' });
        expect(c!.ci_low!).toBeGreaterThan(1);
        // The same numbers for a metric where more is better: faster.
        expect(compareMetric('t', 'result', 'higher', draw(random, 10, 1), draw(random, 10, 2))?.verdict).toBe('faster');
      }),
      { numRuns: 20 },
    );
  });
});
