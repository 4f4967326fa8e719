/**
 * The API's paths outside the inspection endpoints, spelled once: the handler routes them, the CDK
 * stack gives each a gateway route (it reads this module without loading any function code), and
 * the bundler ships the Swagger UI files the UI route serves.
 */

/** The v1 API's base path (the routes table's `http` trigger names the same). */
export const API_BASE = '/api/v1';

/**
 * The path parameter API Gateway fills for a greedy route (`ANY /api/v1/{proxy+}`): the gateway's
 * own, never one of the API's, so answers do not echo it.
 */
export const GATEWAY_PROXY_PARAMETER = 'proxy';

/** Health and metrics, at the root as the original served them. */
export const OPERATIONS_PATHS = { readiness: '/readiness', liveness: '/liveness', metrics: '/metrics' } as const;

/** The interactive documentation: `${API_BASE}/ui/` and its files below it. */
export const UI_PATH = `${API_BASE}/ui`;

/**
 * Paths that answer without the token (AMUN_API_TOKEN) and, on AWS, without the gateway's
 * authorizer: they reveal nothing about inspections (docs/SECURITY.md, "Public endpoints").
 * `/metrics` is not among them: it tells how much the service is used and how it fails.
 */
export const PUBLIC_PATHS: ReadonlyArray<string> = [
  `${API_BASE}/version`,
  `${API_BASE}/openapi.json`,
  OPERATIONS_PATHS.readiness,
  OPERATIONS_PATHS.liveness,
];

/**
 * The results explorer (web/, functions/api/explorer-page.ts): its page at the root, its files below
 * `EXPLORER_FILES_PATH`. Public like the documentation page: they hold no data; the page's own
 * requests to the v1 API carry the token.
 */
export const EXPLORER_PATH = '/';
export const EXPLORER_FILES_PATH = '/explorer';

/** The explorer's files, by name, with their media types: the page loads these and nothing else. */
export const EXPLORER_FILES: Readonly<Record<string, string>> = {
  'explorer.js': 'text/javascript; charset=utf-8',
  'explorer.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** Folder name of the explorer's built files inside a Lambda bundle (infra/bundling.ts writes them). */
export const EXPLORER_BUNDLE_DIR = 'explorer';

/**
 * How web/main.ts becomes explorer.js, in esbuild's terms: built in-process at the first request
 * locally (functions/api/explorer-page.ts), by the esbuild CLI when the API function is bundled
 * (infra/bundling.ts). One script, no eval, no inline code (the page's CSP allows neither).
 */
export const EXPLORER_ESBUILD = {
  entry: 'web/main.ts',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'eof',
} as const;

/** Whether `path` answers without the token: the public paths, the UI page with its files, the explorer's page and files. */
export function isPublicPath(path: string): boolean {
  return (
    PUBLIC_PATHS.includes(path) ||
    path === UI_PATH ||
    path.startsWith(`${UI_PATH}/`) ||
    path === EXPLORER_PATH ||
    path.startsWith(`${EXPLORER_FILES_PATH}/`)
  );
}

/**
 * The swagger-ui-dist files the UI serves, with their media types. Lambda bundles carry them in
 * `SWAGGER_UI_BUNDLE_DIR` beside the function's code (infra/bundling.ts copies them there); locally
 * they are read from the installed package.
 */
export const SWAGGER_UI_FILES: Readonly<Record<string, string>> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/** Folder name of the Swagger UI files inside a Lambda bundle. */
export const SWAGGER_UI_BUNDLE_DIR = 'swagger-ui';

/** What CORS allows a listed origin (AMUN_ALLOWED_ORIGINS; on AWS the gateway's CORS): the methods and request headers the API uses, the header it adds. */
export const CORS_POLICY = {
  methods: 'GET, POST',
  headers: 'authorization, content-type',
  exposeHeaders: 'x-amun-version',
  maxAgeSeconds: 600,
} as const;
