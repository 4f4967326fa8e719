/**
 * Gate and helpers for the browser tests (test/web/): Debian's `chromium` driven by playwright-core,
 * never a downloaded browser. Outside CI a missing browser skips the suites with a loud banner;
 * under CI (`CI=true`) each such suite fails with the reason instead (as test/support/container.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = process.env.AMUN_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts', 'screenshots');

export function checkChromium(): { usable: boolean; reason: string } {
  if (!existsSync(CHROMIUM)) return { usable: false, reason: `no browser at ${CHROMIUM}: apt-get install -y chromium (or set AMUN_CHROMIUM)` };
  const version = spawnSync(CHROMIUM, ['--headless', '--no-sandbox', '--version'], { encoding: 'utf8', timeout: 30_000 });
  if (version.status !== 0) return { usable: false, reason: `${CHROMIUM} --version failed: ${(version.stderr || version.error?.message || '').trim().slice(0, 300)}` };
  return { usable: true, reason: '' };
}

export function describeWithBrowser(name: string, body: () => void): void {
  const check = checkChromium();
  if (check.usable) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has a usable chromium (required under CI)', () => {
        throw new Error(`browser unusable under CI: ${check.reason}`);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  process.stderr.write(`\n${banner}\n!!! SKIPPING "${name}": ${check.reason}\n!!! These browser tests did not run. Under CI (CI=true) they fail instead.\n${banner}\n\n`);
  const skipped = describe.skip;
  skipped(name, body);
}

export async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}

/** Everything that went wrong on a page: console errors, uncaught exceptions, failed requests, answers >= 400. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText ?? '?'})`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`answer ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

/** A full-page screenshot under test/artifacts/screenshots/, its path printed. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  process.stdout.write(`screenshot: ${path}\n`);
  return path;
}
