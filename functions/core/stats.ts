/**
 * The statistics the results explorer needs, and nothing else: order statistics, moments, the
 * Mann-Whitney U test and a bootstrap interval for a ratio of medians. Pure and deterministic: the
 * same numbers give the same answer on every machine, so a comparison shown once is shown again.
 *
 * The definitions follow numpy and scipy, so that a user who checks a number in Python finds it:
 * quantile is numpy's default (linear), mannWhitneyU is scipy.stats.mannwhitneyu's default
 * (two-sided, method='auto', use_continuity=True).
 */

/** Sorted copy, numerically (Array.prototype.sort compares strings by default). */
function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Quantile of already sorted values, numpy's default ('linear': h = (n - 1) q). */
function sortedQuantile(values: readonly number[], q: number): number {
  const h = (values.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, values.length - 1);
  const a = values[lo]!;
  const b = values[hi]!;
  return a + (h - lo) * (b - a);
}

/** numpy.quantile(values, q) with its default linear interpolation; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0 || !(q >= 0 && q <= 1)) return Number.NaN;
  return sortedQuantile(sorted(values), q);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN below 2 values. */
export function sampleStdev(values: readonly number[]): number {
  if (values.length < 2) return Number.NaN;
  const m = mean(values);
  const squares = values.reduce((sum, v) => sum + (v - m) ** 2, 0);
  return Math.sqrt(squares / (values.length - 1));
}

// Bound once: a global looked up in a hot loop is slow inside a vm context (jest's), 20 times here.
const imul = Math.imul;

/** mulberry32: a small seeded generator of uniform numbers in [0, 1), enough for resampling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Mann-Whitney U

export interface MannWhitneyResult {
  /** U of the first sample (scipy's U1 for x = a): how many pairs (a_i, b_j) have a_i > b_j, ties counting one half. */
  u: number;
  /** Two-sided p-value, at most 1. */
  p: number;
  method: 'exact' | 'normal';
}

/** Mid-ranks (1-based, ties sharing the mean of their ranks) of the pooled values, and the sizes of tie groups. */
function midRanks(pooled: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = pooled.map((value, index) => ({ value, index })).sort((x, y) => x.value - y.value);
  const ranks = new Array<number>(pooled.length);
  const ties: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!.index] = rank;
    ties.push(end - start);
    start = end;
  }
  return { ranks, ties };
}

/**
 * The number of arrangements of m + n distinct values giving each U = 0 .. m n: the coefficients of
 * the Gaussian binomial [m + n choose m](q) = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i). Each step
 * leaves the Gaussian binomial [n + i choose i], a polynomial with integer coefficients, so the
 * division is exact; BigInt keeps them exact where doubles would lose the low digits to the
 * subtraction (C(1008, 8) is beyond 2^53).
 */
function exactCounts(m: number, n: number): bigint[] {
  const small = Math.min(m, n);
  const large = Math.max(m, n);
  const degree = small * large;
  const c = new Array<bigint>(degree + 1).fill(0n);
  c[0] = 1n;
  for (let i = 1; i <= small; i++) {
    // Multiply by (1 - q^(large + i)), highest degree first so each step reads the old value.
    for (let k = degree; k >= large + i; k--) c[k] = c[k]! - c[k - large - i]!;
    // Divide by (1 - q^i): the inverse of the multiplication above, lowest degree first.
    for (let k = i; k <= degree; k++) c[k] = c[k]! + c[k - i]!;
  }
  return c;
}

/** Exact two-sided p-value of U = u for sizes m, n without ties, as scipy: 2 P(U >= max(u, mn - u)). */
function exactP(u: number, m: number, n: number): number {
  const counts = exactCounts(m, n);
  const upper = Math.max(u, m * n - u);
  let tail = 0n;
  let total = 0n;
  counts.forEach((count, k) => {
    total += count;
    if (k >= upper) tail += count;
  });
  return Math.min(1, (2 * Number(tail)) / Number(total));
}

/**
 * erfc(x) to near double precision: for x < 3 as 1 - erf(x) with erf's series of positive terms
 * (erf(x) = 2/sqrt(pi) e^(-x^2) sum 2^k x^(2k+1) / (1 3 5 ... (2k+1))), whose absolute error is a
 * few ulps, small against erfc(3) = 2e-5; beyond, by its continued fraction, which converges fast
 * there and keeps the relative precision of tiny tails.
 */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) {
    let term = x;
    let sum = x;
    for (let k = 1; term > sum * 1e-17; k++) {
      term *= (2 * x * x) / (2 * k + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), from the tail.
  let t = x;
  for (let k = 60; k >= 1; k--) t = x + k / 2 / t;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * Two-sided Mann-Whitney U test of `a` against `b`, as scipy.stats.mannwhitneyu(a, b) with its
 * defaults. Method 'auto' as scipy's: the exact distribution of U when there are no ties and at
 * least one sample has 8 values or fewer (scipy chooses 'asymptotic' only when both have more than
 * 8, or there are ties); otherwise the normal approximation with the tie correction of the
 * variance and the continuity correction. 'exact' and 'normal' force one (scipy's method='exact'
 * and 'asymptotic'; exact ignores ties, as scipy's does). Both samples need a value: NaN p otherwise.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[], method: 'auto' | MannWhitneyResult['method'] = 'auto'): MannWhitneyResult {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) return { u: Number.NaN, p: Number.NaN, method: 'normal' };
  const { ranks, ties } = midRanks([...a, ...b]);
  const rankSum = ranks.slice(0, m).reduce((sum, r) => sum + r, 0);
  const u = rankSum - (m * (m + 1)) / 2;
  const tied = ties.some((t) => t > 1);
  const exact = method === 'auto' ? !tied && (m <= 8 || n <= 8) : method === 'exact';
  if (exact) return { u, p: exactP(u, m, n), method: 'exact' };

  const total = m + n;
  const tieTerm = ties.reduce((sum, t) => sum + t ** 3 - t, 0);
  const sd = Math.sqrt(((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1))));
  // U of the larger side, less the continuity correction (scipy's _get_mwu_z with U = max(U1, U2)).
  const numerator = Math.max(u, m * n - u) - (m * n) / 2 - 0.5;
  // Every value tied: no evidence either way (scipy divides by 0 and clips p to 1).
  if (!(sd > 0)) return { u, p: 1, method: 'normal' };
  return { u, p: Math.min(1, 2 * normalSf(numerator / sd)), method: 'normal' };
}

// ---------------------------------------------------------------------------------------------
// Bootstrap

export interface BootstrapOptions {
  /** Number of resamples (default 2,000). */
  resamples?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
  /** Seed of the resampling (default DEFAULT_SEED): the same data always gives the same interval. */
  seed?: number;
}

export interface RatioInterval {
  /** median(candidate) / median(baseline); null when the baseline median is 0 (or a sample is empty). */
  ratio: number | null;
  low: number | null;
  high: number | null;
}

/** Any fixed number would do; a fixed one makes an interval shown once reproducible. */
export const DEFAULT_SEED = 0x5eed1e55;

function resampledMedian(values: readonly number[], random: () => number, scratch: Float64Array): number {
  // `| 0` floors: the index is small and non-negative (and Math is slow to reach in a vm context).
  for (let i = 0; i < values.length; i++) scratch[i] = values[(random() * values.length) | 0]!;
  // A typed array sorts numerically, natively, without a comparator: the resampling's hot loop.
  scratch.sort();
  const h = (scratch.length - 1) / 2;
  const lo = Math.floor(h);
  return scratch[lo]! + (h - lo) * (scratch[Math.ceil(h)]! - scratch[lo]!);
}

/**
 * Percentile bootstrap interval of median(candidate) / median(baseline): each sample resampled
 * with replacement, independently, `resamples` times; the interval is the (1 - level)/2 and
 * (1 + level)/2 quantiles (linear, as numpy) of the resampled ratios. Resamples whose baseline
 * median is 0 have no ratio and are left out. The samples are sorted first, so the interval
 * depends on the values only, not on the order the runs finished in.
 */
export function bootstrapRatioInterval(baseline: readonly number[], candidate: readonly number[], options: BootstrapOptions = {}): RatioInterval {
  const { resamples = 2000, level = 0.95, seed = DEFAULT_SEED } = options;
  if (baseline.length === 0 || candidate.length === 0) return { ratio: null, low: null, high: null };
  const base = sorted(baseline);
  const cand = sorted(candidate);
  const baseMedian = sortedQuantile(base, 0.5);
  if (baseMedian === 0) return { ratio: null, low: null, high: null };
  const ratio = sortedQuantile(cand, 0.5) / baseMedian;

  const random = mulberry32(seed);
  const baseScratch = new Float64Array(base.length);
  const candScratch = new Float64Array(cand.length);
  const ratios: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const b = resampledMedian(base, random, baseScratch);
    const c = resampledMedian(cand, random, candScratch);
    if (b !== 0) ratios.push(c / b);
  }
  if (ratios.length === 0) return { ratio, low: null, high: null };
  ratios.sort((x, y) => x - y);
  const tail = (1 - level) / 2;
  return { ratio, low: sortedQuantile(ratios, tail), high: sortedQuantile(ratios, 1 - tail) };
}
