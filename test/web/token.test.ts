/**
 * The results explorer on a server with AMUN_API_TOKEN: the page and its files load without the
 * token (they hold no data), every data call without it answers 401 and the page asks for the
 * token once; a wrong token is asked for again; the right one lists the inspections and is sent
 * as a Bearer header on every later data call, never in a URL; no console error but the 401s.
 */
import type { Browser, Page, Request } from 'playwright-core';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { describeWithBrowser, launch, screenshot } from '../support/browser.js';
import { api, tempDir } from '../support/stack.js';

const TOKEN = 'explorer-web-s3cret';

describeWithBrowser('results explorer with a token', () => {
  const dir = tempDir('amun-web-token-');
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;
  let id: string;
  // The list links each inspection (its id is shortened on screen).
  const link = (): ReturnType<Page['locator']> => page.locator(`a[href="#/inspect/${id}"]`);
  const requests: Request[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1, apiToken: TOKEN }), launch()]);
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'registry.fedoraproject.org/fedora:40', identifier: 'token-page' }, { authorization: `Bearer ${TOKEN}` });
    expect(submitted.status).toBe(202);
    id = submitted.body.inspection_id as string;
    page = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
    page.on('request', (r) => requests.push(r));
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // The browser logs each 401 answer as a console error; anything else is a problem.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(`console error: ${m.text()}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    dir.remove();
  });

  it('asks for the token, asks again after a wrong one, then lists with the right one and sends it as a header only', async () => {
    const answer = await page.goto(`${stack.apiUrl}/`);
    expect(answer?.status()).toBe(200);
    const heading = page.getByRole('heading', { name: 'This server needs a token' });
    await heading.waitFor();
    // Nothing of the data was shown: the inspection is not on the page yet.
    expect(await link().count()).toBe(0);

    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Use token' }).click();
    await heading.waitFor();
    expect(await link().count()).toBe(0);

    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await link().first().waitFor({ timeout: 30_000 });
    expect(await heading.count()).toBe(0);
    await screenshot(page, 'token-list');

    const data = requests.filter((r) => new URL(r.url()).pathname.startsWith('/api/v1/'));
    expect(data.length).toBeGreaterThan(0);
    for (const r of requests) expect(r.url()).not.toContain(TOKEN);
    const sent = await Promise.all(data.map(async (r) => (await r.allHeaders()).authorization ?? null));
    expect(sent).toContain(`Bearer ${TOKEN}`);
    // The files of the page went without it.
    const files = requests.filter((r) => /\/explorer\/|\/$/.test(new URL(r.url()).pathname));
    expect(await Promise.all(files.map(async (r) => (await r.allHeaders()).authorization ?? null))).toEqual(files.map(() => null));
    expect(errors).toEqual([]);
  });
});
