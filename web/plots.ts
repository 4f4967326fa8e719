/**
 * The charts, with Observable Plot (SVG: every run is one <circle> in the mark group of class
 * "runs"). Plot puts a <style> element in each chart; the page's CSP allows no inline style, so it
 * is removed before the chart is inserted and its rules live in explorer.css (class amun-plot).
 */
import * as Plot from '@observablehq/plot';
import type { HistoryPoint, MetricStats } from '../functions/core/generated/types.js';
import { h, parseTime } from './dom.js';

const CLASS = 'amun-plot';

function finish(chart: SVGSVGElement | HTMLElement, label: string): HTMLElement {
  for (const style of Array.from(chart.querySelectorAll('style'))) style.remove();
  chart.setAttribute('role', 'img');
  chart.setAttribute('aria-label', label);
  return h('div', { class: 'chart' }, chart);
}

function width(): number {
  const main = document.getElementById('main');
  return Math.max(300, Math.min(900, (main?.clientWidth ?? 640) - 8));
}

/** One dot per run (x = item, y = value), the median as a rule, min–max as a band and q1–q3 as a darker one. */
export function batchPlot(name: string, stats: MetricStats): HTMLElement {
  const points = stats.values.flatMap((value, item) => (value === null ? [] : [{ item, value }]));
  const n = stats.values.length;
  const sorted = points.map((p) => p.value).sort((a, b) => a - b);
  const q = (p: number): number | undefined => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))] : undefined);
  const band = [{ x: -0.5 }, { x: Math.max(0.5, n - 0.5) }];
  const marks: Plot.Markish[] = [];
  if (stats.min !== null && stats.max !== null) marks.push(Plot.areaY(band, { x: 'x', y1: stats.min, y2: stats.max, fill: '#9ec5e8', fillOpacity: 0.35, className: 'min-max', ariaDescription: 'min–max' }));
  const q1 = q(0.25);
  const q3 = q(0.75);
  if (q1 !== undefined && q3 !== undefined) marks.push(Plot.areaY(band, { x: 'x', y1: q1, y2: q3, fill: '#5b9bd5', fillOpacity: 0.35, className: 'interquartile-range', ariaDescription: 'interquartile range' }));
  if (stats.median !== null) marks.push(Plot.ruleY([stats.median], { stroke: '#b03a2e', strokeWidth: 2, strokeDasharray: '6,3', className: 'median', ariaDescription: 'median' }));
  // A tooltip per dot is an element per dot more: big batches go without (the caption has the statistics).
  const title = n > 200 ? {} : { title: (d: { item: number; value: number }) => `item ${d.item}: ${d.value}` };
  marks.push(Plot.dot(points, { x: 'item', y: 'value', r: n > 200 ? 2 : 3.5, fill: '#1f4e79', className: 'runs', ariaDescription: 'runs', ...title }));
  const chart = Plot.plot({
    className: CLASS,
    width: width(),
    height: 240,
    marginLeft: 56,
    x: { label: 'item', domain: [-0.5, Math.max(0.5, n - 0.5)] },
    y: { label: name, grid: true, nice: true },
    marks,
  });
  return finish(chart, `${name} of each of ${points.length} runs, median ${stats.median ?? 'unknown'}`);
}

/** Each inspection's values of a metric, one dot per run, a tick at each median. */
export function comparePlot(name: string, series: Array<{ label: string; values: Array<number | null>; median: number | null }>): HTMLElement {
  const points = series.flatMap((s) => s.values.flatMap((value, item) => (value === null ? [] : [{ inspection: s.label, item, value }])));
  const medians = series.flatMap((s) => (s.median === null ? [] : [{ inspection: s.label, value: s.median }]));
  const chart = Plot.plot({
    className: CLASS,
    width: width(),
    height: 80 + 60 * series.length,
    marginLeft: 120,
    y: { label: null, domain: series.map((s) => s.label) },
    x: { label: name, grid: true, nice: true },
    marks: [
      Plot.tickX(medians, { x: 'value', y: 'inspection', stroke: '#b03a2e', strokeWidth: 2, className: 'median', ariaDescription: 'median' }),
      Plot.dot(points, { x: 'value', y: 'inspection', r: 3.5, fill: '#1f4e79', fillOpacity: 0.75, className: 'runs', ariaDescription: 'runs', title: (d: { inspection: string; item: number; value: number }) => `${d.inspection} item ${d.item}: ${d.value}` }),
    ],
  });
  return finish(chart, `${name} per run of ${series.length} inspections`);
}

/** The median over time with its q1–q3 band; hardware changes as vertical rules; regressions (slower than the previous point on the same hardware) as red triangles. */
export function historyPlot(metric: string, points: HistoryPoint[]): HTMLElement {
  const rows = points.flatMap((p, index) => {
    const t = parseTime(p.created);
    return t === null || p.median === null ? [] : [{ ...p, index, date: new Date(t) }];
  });
  const changed = rows.filter((r) => r.hardware_changed && r.index > 0);
  const regressions = rows.filter((r) => r.comparison?.verdict === 'slower');
  const improvements = rows.filter((r) => r.comparison?.verdict === 'faster');
  const chart = Plot.plot({
    className: CLASS,
    width: width(),
    height: 280,
    marginLeft: 56,
    x: { type: 'utc', label: 'created' },
    y: { label: metric, grid: true, nice: true },
    marks: [
      Plot.areaY(rows, { x: 'date', y1: 'q1', y2: 'q3', fill: '#5b9bd5', fillOpacity: 0.3, className: 'interquartile-range', ariaDescription: 'interquartile range' }),
      Plot.ruleX(changed, { x: 'date', stroke: '#7d5a00', strokeDasharray: '3,3', className: 'hardware-changed', ariaDescription: 'hardware changed' }),
      Plot.lineY(rows, { x: 'date', y: 'median', stroke: '#1f4e79', className: 'median-line', ariaDescription: 'median line' }),
      Plot.dot(rows, { x: 'date', y: 'median', r: 4, fill: '#1f4e79', className: 'medians', ariaDescription: 'medians', title: (d: HistoryPoint) => `${d.inspection_id}: median ${d.median}` }),
      Plot.dot(regressions, { x: 'date', y: 'median', r: 9, symbol: 'triangle', stroke: '#b03a2e', strokeWidth: 2.5, fill: 'none', className: 'regressions', ariaDescription: 'regressions' }),
      Plot.dot(improvements, { x: 'date', y: 'median', r: 9, symbol: 'diamond', stroke: '#1e7b34', strokeWidth: 2, fill: 'none', className: 'improvements', ariaDescription: 'improvements' }),
      Plot.text(regressions, { x: 'date', y: 'median', text: () => 'slower', dy: -16, fill: '#b03a2e', fontWeight: 'bold', className: 'regression-labels', ariaDescription: 'regression labels' }),
    ],
  });
  return finish(chart, `median ${metric} of ${rows.length} inspections over time; ${regressions.length} regressions, ${changed.length} hardware changes`);
}
