/**
 * The API's paths outside the inspection endpoints, spelled once: the handler routes them, the CDK
 * stack gives each a gateway route (it reads this module without loading any function code), and
 * the bundler ships the Swagger UI files the UI route serves.
 */

/** The v1 API's base path (the routes table's `http` trigger names the same). */
export const API_BASE = '/api/v1';

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

/** Whether `path` answers without the token: the public paths, and the UI page with its files. */
export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.includes(path) || path === UI_PATH || path.startsWith(`${UI_PATH}/`);
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
