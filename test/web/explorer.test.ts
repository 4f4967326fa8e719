/**
 * The results explorer (web/, served at / by the API) in a real browser on the embedded stack:
 * two inspections of one identifier, the second 2x slower, run by the process executor; then the
 * list shows both, the inspection page plots one dot per run, the comparison says `slower` for
 * `elapsed`, and the history marks the regression. No console error, failed request or answer
 * >= 400 on any page; a screenshot of each page under test/artifacts/screenshots/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { describeWithBrowser, launch, screenshot, watchProblems } from '../support/browser.js';
import { api, tempDir, waitFor } from '../support/stack.js';

const V1 = '/api/v1';
const IDENTIFIER = 'explorer-bench';
const BATCH = 5;

/** Deterministic values with small noise from the item number; `factor` 2 is twice as slow (elapsed up, rate down). */
function script(factor: number): string {
  return [
    'import json, os',
    'item = int(os.environ.get("AMUN_ITEM", "0"))',
    'noise = 1 + ((item * 7919) % 11 - 5) / 1000.0',
    `print(json.dumps({"@result": {"elapsed": 0.25 * ${factor} * noise, "rate": 400.0 / ${factor} * noise}}))`,
  ].join('\n');
}

async function submit(stack: LocalStack, factor: number): Promise<string> {
  const res = await api(stack.apiUrl, 'POST', `${V1}/inspect`, { base: 'registry.fedoraproject.org/fedora:40', identifier: IDENTIFIER, batch_size: BATCH, script: script(factor) });
  expect(res.status).toBe(202);
  return res.body.inspection_id as string;
}

async function finished(stack: LocalStack, id: string): Promise<void> {
  await waitFor(`${id} finished`, async () => {
    const res = await api(stack.apiUrl, 'GET', `${V1}/inspect/${id}/status`);
    return res.body?.status?.workflow?.finished ? true : undefined;
  }, 120_000, 250);
}

describeWithBrowser('results explorer in a browser', () => {
  const dir = tempDir('amun-web-');
  let stack: LocalStack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let fast: string;
  let slow: string;

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 }), launch()]);
    fast = await submit(stack, 1);
    // Distinct creation times: the history orders by them.
    await new Promise((r) => setTimeout(r, 1100));
    slow = await submit(stack, 2);
    await Promise.all([finished(stack, fast), finished(stack, slow)]);
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    page = await context.newPage();
    problems = watchProblems(page);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    dir.remove();
  });

  afterEach(() => {
    expect(problems).toEqual([]);
  });

  it('serves the page with a strict CSP, nosniff, and only its own files', async () => {
    const res = await fetch(`${stack.apiUrl}/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|https?:\/\//);
    for (const file of ['explorer.js', 'explorer.css', 'favicon.svg']) {
      const f = await fetch(`${stack.apiUrl}/explorer/${file}`);
      expect({ file, status: f.status, nosniff: f.headers.get('x-content-type-options') }).toEqual({ file, status: 200, nosniff: 'nosniff' });
    }
    expect((await fetch(`${stack.apiUrl}/explorer/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${stack.apiUrl}/explorer/index.html`)).status).toBe(404);
  });

  it('lists both inspections, with links to each and to the history', async () => {
    await page.goto(`${stack.apiUrl}/`);
    await page.locator(`tr[data-id="${slow}"]`).waitFor();
    await page.locator(`tr[data-id="${fast}"]`).waitFor();
    for (const id of [fast, slow]) {
      const row = page.locator(`tr[data-id="${id}"]`);
      await expectText(row, 'succeeded');
      await expectText(row, `${BATCH} done of ${BATCH}`);
      expect(await row.locator(`a[href="#/history/${IDENTIFIER}"]`).count()).toBe(1);
    }
    await screenshot(page, 'list');
  });

  it('shows an inspection: timeline, specification, runs, and a plot with exactly one dot per run', async () => {
    await page.locator(`a[href="#/inspect/${fast}"]`).click();
    await page.locator('main[data-rendered="true"]').waitFor();
    await expectText(page.locator('h1'), 'Inspection');
    await expectText(page.locator('.timeline'), 'Finished');
    await expectText(page.locator('section[aria-labelledby="s-spec"] pre'), IDENTIFIER);
    expect(await page.locator('.runs-table tbody tr').count()).toBe(BATCH);
    for (const metric of ['elapsed', 'rate']) {
      expect({ metric, dots: await page.locator(`figure[data-metric="${metric}"] g.runs circle`).count() }).toEqual({ metric, dots: BATCH });
      expect(await page.locator(`figure[data-metric="${metric}"] g.median`).count()).toBe(1);
    }
    await page.locator('section[aria-labelledby="s-docker"] pre').filter({ hasNotText: 'Loading' }).waitFor();
    await screenshot(page, 'inspection');
  });

  it('compares the two: elapsed is slower, with colour and text', async () => {
    await page.goto(`${stack.apiUrl}/`);
    await page.locator(`tr[data-id="${fast}"] input[type=checkbox]`).check();
    await page.locator(`tr[data-id="${slow}"] input[type=checkbox]`).check();
    await page.locator('#compare').click();
    await page.locator('main[data-rendered="true"]').waitFor();
    const elapsed = page.locator(`section[data-id="${slow}"] tr[data-metric="elapsed"]`);
    expect(await elapsed.getAttribute('data-verdict')).toBe('slower');
    await expectText(elapsed.locator('.verdict'), 'slower');
    expect(await page.locator(`section[data-id="${slow}"] tr[data-metric="rate"]`).getAttribute('data-verdict')).toBe('slower');
    expect(await page.locator('figure[data-metric="elapsed"] g.runs circle').count()).toBe(2 * BATCH);
    await screenshot(page, 'compare');
  });

  it('shows the history with the regression marked', async () => {
    await page.goto(`${stack.apiUrl}/#/history/${IDENTIFIER}?metric=elapsed`);
    await page.locator('main[data-rendered="true"]').waitFor();
    const row = page.locator(`tr[data-id="${slow}"]`);
    expect(await row.getAttribute('data-verdict')).toBe('slower');
    await expectText(row, 'regression');
    expect(await page.locator('g.regressions > *').count()).toBe(1);
    expect(await page.locator('g.medians circle').count()).toBe(2);
    await screenshot(page, 'history');
  });

  it('fits a 390 px wide screen and works from the keyboard', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    const more = watchProblems(p);
    for (const [name, hash] of [['list', ''], ['inspection', `#/inspect/${fast}`], ['compare', `#/compare?ids=${fast},${slow}`], ['history', `#/history/${IDENTIFIER}`]] as const) {
      await p.goto(`${stack.apiUrl}/${hash}`);
      if (hash) await p.locator('main[data-rendered="true"]').waitFor();
      else await p.locator(`tr[data-id="${fast}"]`).waitFor();
      const overflow = await p.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect({ name, overflow }).toEqual({ name, overflow: 0 });
      await screenshot(p, `${name}-390px`);
    }
    // Keyboard: the skip link comes first, then the navigation.
    await p.goto(`${stack.apiUrl}/`);
    await p.keyboard.press('Tab');
    expect(await p.evaluate<string | undefined>('document.activeElement?.textContent')).toBe('Skip to content');
    await phone.close();
    expect(more).toEqual([]);
  });
});

async function expectText(locator: import('playwright-core').Locator, text: string): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ timeout: 10_000 });
}
