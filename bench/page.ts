/**
 * npm run bench:page: time from navigation to a rendered inspection page (timeline, the runs table,
 * one dot per run in every plot) for an inspection of 1,000 runs, in Debian's chromium on the
 * embedded stack. Target: under 1 s.
 *
 * One real run (process executor) gives a genuine report, hwinfo and build; 999 more items are
 * written through the store (InspectionRecords) as copies with varied @result values, the stack is
 * restarted and the summary written once, then the page is loaded several times. The
 * explorer's script is fetched once first (the embedded server builds it at the first request).
 */
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../local/stack.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CHROMIUM = process.env.AMUN_CHROMIUM ?? '/usr/bin/chromium';
const dataDir = mkdtempSync(join(tmpdir(), 'amun-bench-page-'));
// The index stage is left out: it re-reads every result per result event (O(n^2), issue 14's
// target), which would keep the stack busy for minutes and measure that instead of the page. The
// summary is written once, by the same code, after the results are in.
const start = (): Promise<LocalStack> =>
  startLocalStack({ dataDir, port: 0, executor: 'process', waitTimeSeconds: 1, wrapHandler: (name, handler) => (name === 'index' ? async () => ({ batchItemFailures: [] }) : handler) });

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 300_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const statusOf = async (stack: LocalStack, id: string): Promise<any> => ((await (await fetch(`${stack.apiUrl}/api/v1/inspect/${id}/status`)).json()) as any).status?.workflow;

let stack = await start();
try {
  const script = 'import json, os\nitem = int(os.environ.get("AMUN_ITEM", "0"))\nprint(json.dumps({"@result": {"elapsed": 1.0, "rate": 100.0}}))';
  const submitted = (await (await fetch(`${stack.apiUrl}/api/v1/inspect`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ base: 'registry.fedoraproject.org/fedora:40', identifier: 'bench-page', batch_size: RUNS, script }) })).json()) as { inspection_id: string };
  const id = submitted.inspection_id;
  const records = stack.app.records;
  // Let item 0 run for real, then write every other item before its run does (a run finds its result there and does nothing).
  const report = await until('item 0', async () => ((await records.report(id, 0)) as any) ?? undefined);
  if (report === 'invalid') throw new Error('item 0 wrote an invalid report');
  const log = (await records.itemLog(id, 0)) ?? '';
  const started = performance.now();
  for (let item = 1; item < RUNS; item += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, RUNS - item) }, (_, k) => {
        const n = item + k;
        const noise = 1 + (((n * 7919) % 101) - 50) / 1000;
        return records.writeItem(id, n, { report: { ...report, item: n, stdout: { '@result': { elapsed: 1.0 * noise, rate: 100 / noise } } }, log });
      }),
    );
  }
  console.error(`wrote ${RUNS - 1} results through the store in ${Math.round(performance.now() - started)} ms; waiting for the stack to settle`);
  await stack.stop();
  stack = await start();
  await stack.app.pipeline.refresh(id);
  await until('summary of every run', async () => {
    const w = await statusOf(stack, id);
    return w?.finished && w.items_done + w.items_failed >= RUNS ? true : undefined;
  });
  // The queued run messages of the written items (each finds its result and stops) drain first:
  // the page is timed on an idle server.
  await stack.idle();
  await (await fetch(`${stack.apiUrl}/explorer/explorer.js`)).arrayBuffer();

  // Where the time goes on the server: each call the page makes, once.
  const calls: string[] = [];
  for (const path of ['status', 'specification', 'build/log', 'metrics']) {
    const t = performance.now();
    const r = await fetch(`${stack.apiUrl}/api/v1/inspect/${id}/${path}`);
    await r.arrayBuffer();
    calls.push(`${path} ${r.status} ${Math.round(performance.now() - t)} ms`);
  }
  console.log(`API calls of the page: ${calls.join(', ')}`);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const t0 = performance.now();
    await page.goto(`${stack.apiUrl}/#/inspect/${id}`);
    await page.locator('main[data-rendered="true"]').waitFor({ timeout: 60_000 });
    const ms = performance.now() - t0;
    const dots = await page.locator('figure[data-metric="elapsed"] g.runs circle').count();
    if (dots !== RUNS) {
      const m = await fetch(`${stack.apiUrl}/api/v1/inspect/${id}/metrics`);
      const body = await m.text();
      throw new Error(`the elapsed plot has ${dots} dots, not ${RUNS} (metrics: ${m.status} ${body.slice(0, 400)}; page: ${(await page.locator('#main').innerText()).slice(0, 400)})`);
    }
    times.push(ms);
    if (round === ROUNDS - 1) {
      // Where the time went in the browser, on the last load.
      const timing = await page.evaluate(() => {
        // Runs in the page: its Performance API, typed loosely here (this file compiles for Node).
        const perf = (globalThis as unknown as { performance: { getEntriesByType(type: string): unknown[] } }).performance;
        const nav = perf.getEntriesByType('navigation')[0] as { domContentLoadedEventEnd?: number } | undefined;
        const res = perf.getEntriesByType('resource') as Array<{ name: string; startTime: number; responseEnd: number }>;
        const measures = (perf.getEntriesByType('measure') as Array<{ name: string; duration: number }>).map((m) => `${m.name.replace(/^amun:/, '')} ${Math.round(m.duration)} ms`);
        return { measures, domContentLoaded: Math.round(nav?.domContentLoadedEventEnd ?? 0), resources: res.map((r) => `${new URL(r.name).pathname.split('/').slice(-2).join('/')} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`) };
      });
      console.log(`last load: DOMContentLoaded at ${timing.domContentLoaded} ms; requests (start-end ms): ${timing.resources.join(', ')}; drawing: ${timing.measures.join(', ')}`);
    }
    await page.close();
  }
  await browser.close();
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`inspection page with ${RUNS} runs: navigation to rendered, median ${Math.round(median)} ms over ${ROUNDS} loads (min ${Math.round(times[0]!)}, max ${Math.round(times.at(-1)!)}); target < 1000 ms: ${median < 1000 ? 'met' : 'NOT met'}`);
} finally {
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
