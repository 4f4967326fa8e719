/**
 * The results explorer's page at `/`: a single page (web/index.html), one script (web/main.ts bundled
 * with Observable Plot by esbuild) and one stylesheet, every file served by the API itself (no CDN:
 * it works offline). The page reads the v1 API with the token the user gives it (kept in
 * sessionStorage); the page and its files are public and hold no data.
 *
 * Where the files come from:
 * - in a Lambda bundle, `explorer/` beside the function's code (infra/bundling.ts builds and copies
 *   them when the API function is bundled);
 * - otherwise (the embedded stack: `npm start`, `amun serve`, tests) built in-process from `web/`
 *   by esbuild (a devDependency) at the first request and kept in memory, so a clean clone needs
 *   nothing but `npm ci`. Nothing generated is checked in.
 *
 * Content-Security-Policy: scripts, styles, images and requests from the page's own origin only;
 * no inline script, no inline style (Plot's own <style> element is dropped before a chart is
 * inserted; its rules are in explorer.css).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '../core/errors.js';
import type { HttpResult } from './http.js';
import { EXPLORER_BUNDLE_DIR, EXPLORER_ESBUILD, EXPLORER_FILES } from './paths.js';

export const EXPLORER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

function asset(type: string, body: Buffer): Asset {
  return { type, body, gzip: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** The built files beside a Lambda bundle, when there. */
function bundledDir(): string | undefined {
  const dir = join(dirname(fileURLToPath(import.meta.url)), EXPLORER_BUNDLE_DIR);
  return existsSync(join(dir, 'explorer.js')) ? dir : undefined;
}

/** The repository's web/ folder (this module is functions/api/explorer-page.ts). */
export function webSourceDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

/** Bundles web/main.ts with esbuild's JS API (loaded only here: the Lambda bundle never reaches this). */
export async function buildExplorerScript(webDir = webSourceDir()): Promise<Buffer> {
  const specifier = 'esbuild';
  const esbuild = (await import(specifier)) as typeof import('esbuild');
  const { entry, ...options } = EXPLORER_ESBUILD;
  const out = await esbuild.build({
    ...options,
    entryPoints: [join(webDir, '..', entry)],
    write: false,
    logLevel: 'silent',
    absWorkingDir: resolve(webDir, '..'),
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for the explorer');
  return Buffer.from(file.contents);
}

/** The explorer's routes' handlers: the page and its files. */
export class ExplorerPage {
  private readonly assets = new Map<string, Promise<Asset>>();

  private read(name: string): Promise<Buffer> {
    const dir = bundledDir();
    if (dir) return Promise.resolve(readFileSync(join(dir, name)));
    if (name === 'explorer.js') return buildExplorerScript();
    return Promise.resolve(readFileSync(join(webSourceDir(), name)));
  }

  private load(name: string, type: string): Promise<Asset> {
    let found = this.assets.get(name);
    if (!found) {
      found = this.read(name).then((body) => asset(type, body));
      // A failed build is not kept: the next request tries again.
      found.catch(() => this.assets.delete(name));
      this.assets.set(name, found);
    }
    return found;
  }

  private async serve(event: APIGatewayProxyEventV2, name: string, type: string, extra: Record<string, string>): Promise<HttpResult> {
    const a = await this.load(name, type);
    const headers: Record<string, string> = { 'content-type': a.type, etag: a.etag, vary: 'Accept-Encoding', 'x-content-type-options': 'nosniff', ...extra };
    if (header(event, 'if-none-match') === a.etag) return { statusCode: 304, headers, body: '' };
    const gzip = /\bgzip\b/i.test(header(event, 'accept-encoding') ?? '');
    if (gzip) headers['content-encoding'] = 'gzip';
    return gzip ? { statusCode: 200, headers, body: a.gzip.toString('base64'), isBase64Encoded: true } : { statusCode: 200, headers, body: a.body.toString('utf8') };
  }

  /** GET /: the page. */
  page(event: APIGatewayProxyEventV2): Promise<HttpResult> {
    return this.serve(event, 'index.html', 'text/html; charset=utf-8', {
      'content-security-policy': EXPLORER_CSP,
      'cache-control': 'no-cache',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
  }

  /** GET /explorer/{file}: one of the page's files; 404 for anything else (no path is ever joined from the request). */
  file(event: APIGatewayProxyEventV2): Promise<HttpResult> {
    const name = event.pathParameters?.file ?? '';
    const type = Object.hasOwn(EXPLORER_FILES, name) ? EXPLORER_FILES[name] : undefined;
    if (!type) throw new NotFoundError(`no file ${JSON.stringify(name)} in the explorer`);
    return this.serve(event, name, type, { 'cache-control': 'no-cache', 'content-security-policy': EXPLORER_CSP });
  }

}
