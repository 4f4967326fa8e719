/**
 * The API's interactive documentation at /api/v1/ui/: Swagger UI (swagger-ui-dist) pointed at
 * /api/v1/openapi.json, every file served by the API itself (no CDN: it works offline and behind a
 * firewall). The page's Content-Security-Policy allows scripts, styles, images and requests from
 * the API's own origin only; Swagger UI needs inline styles (React style attributes) and data:
 * images (its icons), nothing else. The spec-validator badge (an outside service) is off, and so is
 * reading a spec URL from the query string.
 *
 * With AMUN_API_TOKEN set, the page and its files still load without it (they hold nothing but the
 * API's description); the document declares a bearer scheme, so "Authorize" takes the token and
 * "Try it out" sends it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { NotFoundError } from '../core/errors.js';
import type { HttpResult } from './http.js';
import { SWAGGER_UI_BUNDLE_DIR, SWAGGER_UI_FILES, UI_PATH } from './paths.js';

export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Amun API</title>
    <link rel="stylesheet" href="swagger-ui.css">
    <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="swagger-ui-bundle.js"></script>
    <script src="amun-ui.js"></script>
  </body>
</html>
`;

/** The initializer, a file of its own (the CSP allows no inline script). The document is relative to the page: works behind a path prefix. */
const INITIALIZER = `'use strict';
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: new URL('../openapi.json', window.location.href).toString(),
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
    queryConfigEnabled: false,
    persistAuthorization: false,
  });
});
`;

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer | undefined;
  etag: string;
}

/** Where the swagger-ui-dist files are: beside the Lambda bundle, else the installed package. */
export function swaggerUiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, SWAGGER_UI_BUNDLE_DIR);
  if (existsSync(join(bundled, 'swagger-ui-bundle.js'))) return bundled;
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

function asset(type: string, body: Buffer): Asset {
  const compressible = !type.startsWith('image/');
  return { type, body, gzip: compressible ? gzipSync(body, { level: 9 }) : undefined, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** The UI's routes' handlers: the page (with the redirect that makes its relative links work) and its files. */
export class SwaggerUi {
  private readonly assets = new Map<string, Asset>();

  /** Every file the page loads, by name, as served. */
  static readonly FILES: ReadonlyArray<string> = ['amun-ui.js', ...Object.keys(SWAGGER_UI_FILES)];

  private load(name: string): Asset {
    let found = this.assets.get(name);
    if (found) return found;
    if (name === 'index.html') found = asset('text/html; charset=utf-8', Buffer.from(PAGE));
    else if (name === 'amun-ui.js') found = asset('text/javascript; charset=utf-8', Buffer.from(INITIALIZER));
    else {
      const type = SWAGGER_UI_FILES[name];
      if (!type) throw new NotFoundError(`no file ${name} in the UI`);
      found = asset(type, readFileSync(join(swaggerUiDir(), name)));
    }
    this.assets.set(name, found);
    return found;
  }

  private serve(event: APIGatewayProxyEventV2, name: string, extra: Record<string, string>): HttpResult {
    const a = this.load(name);
    const headers: Record<string, string> = { 'content-type': a.type, etag: a.etag, vary: 'Accept-Encoding', ...extra };
    if (header(event, 'if-none-match') === a.etag) return { statusCode: 304, headers, body: '' };
    const gzip = a.gzip !== undefined && /\bgzip\b/i.test(header(event, 'accept-encoding') ?? '');
    const body = gzip ? a.gzip! : a.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    const text = !gzip && !a.type.startsWith('image/');
    return { statusCode: 200, headers, body: text ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !text };
  }

  /** GET /api/v1/ui and /api/v1/ui/: the page; without the slash, a redirect to it (its links are relative). */
  page(event: APIGatewayProxyEventV2): HttpResult {
    if (!event.rawPath.endsWith('/')) return { statusCode: 308, headers: { location: `${UI_PATH.slice(UI_PATH.lastIndexOf('/') + 1)}/`, 'content-type': 'text/plain; charset=utf-8' }, body: '' };
    return this.serve(event, 'index.html', { 'content-security-policy': UI_CSP, 'cache-control': 'no-cache', 'referrer-policy': 'no-referrer' });
  }

  /** GET /api/v1/ui/{file}: one of the page's files; 404 for anything else. */
  file(event: APIGatewayProxyEventV2): HttpResult {
    const name = event.pathParameters?.file ?? '';
    if (!SwaggerUi.FILES.includes(name)) throw new NotFoundError(`no file ${JSON.stringify(name)} in the UI`);
    return this.serve(event, name, { 'cache-control': 'public, max-age=3600' });
  }
}
