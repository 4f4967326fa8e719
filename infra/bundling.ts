/**
 * How every function is bundled: one set of esbuild options, read by the stack (NodejsFunction,
 * local esbuild, never Docker) and by the bundle benchmark (bench/bundles.ts), so the numbers the
 * benchmark prints are the numbers of what is deployed.
 *
 * The Kubernetes client (@kubernetes/client-node with undici: about 4 MB minified, more than the
 * rest of a function together) stays out of every function bundle. Functions that call the cluster
 * get it bundled on its own beside theirs, as `node_modules/@kubernetes/client-node/index.mjs`,
 * which their lazy `import('@kubernetes/client-node')` (functions/adapters/kubernetes/kube-api.ts)
 * loads on first use; the others do not ship it at all.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutputFormat, SourceMapMode, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Route } from '../functions/routes.js';
import { EXPLORER_BUNDLE_DIR, EXPLORER_ESBUILD, EXPLORER_FILES, SWAGGER_UI_BUNDLE_DIR, SWAGGER_UI_FILES } from '../functions/api/paths.js';

/** The repository root: infra/ sits directly below it. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const functionsDir = join(repoRoot, 'functions');

/** The module a route's handler lives in (`functions/<entry>`). */
export function entryPath(route: Pick<Route, 'entry'>): string {
  return join(functionsDir, route.entry);
}

export const KUBERNETES_CLIENT = '@kubernetes/client-node';

/**
 * ESM output still meets CommonJS dependencies that `require()` Node built-ins; esbuild turns those
 * into a `require` that ESM lacks. This gives the bundle a real one.
 */
export const esmRequireShim = "import{createRequire as __amunCreateRequire}from'node:module';const require=__amunCreateRequire(import.meta.url);";

/**
 * Node built-ins the bundles use. An ESM `import … from 'node:http'` makes Node build a module
 * facade that reads every export of the built-in, and `http`'s lazy getters then load Node's
 * internal undici: 60 ms of a cold start for `http`, 20 for `net`, against 6 and 3 through
 * `require`. Each is aliased to a one-line CommonJS module that hands over the built-in as
 * `require` would (`process.getBuiltinModule`, Node 22.3+). One not listed still works, as an ESM
 * import; a subpath of a listed one (`util/types`) must be listed itself, or bundling fails.
 */
export const SHIMMED_BUILTINS = [
  'assert', 'assert/strict', 'async_hooks', 'buffer', 'child_process', 'console', 'crypto', 'dns', 'dns/promises', 'events',
  'fs', 'fs/promises', 'http', 'http2', 'https', 'net', 'os', 'path', 'path/posix', 'path/win32', 'perf_hooks', 'process',
  'querystring', 'readline', 'readline/promises', 'stream', 'stream/consumers', 'stream/promises', 'stream/web',
  'string_decoder', 'timers', 'timers/promises', 'tls', 'tty', 'url', 'util', 'util/types', 'worker_threads', 'zlib',
] as const;

/** Writes the built-in shims (idempotent) and returns esbuild's alias map for them. */
export function builtinAliases(): Record<string, string> {
  const dir = join(repoRoot, 'node_modules', '.cache', 'amun-node-builtins');
  mkdirSync(dir, { recursive: true });
  const aliases: Record<string, string> = {};
  for (const name of SHIMMED_BUILTINS) {
    const file = join(dir, `${name.replace(/\//g, '__')}.cjs`);
    const content = `module.exports = process.getBuiltinModule('node:${name}');\n`;
    if (!existsSync(file) || readFileSync(file, 'utf8') !== content) writeFileSync(file, content);
    aliases[name] = file;
    aliases[`node:${name}`] = file;
  }
  return aliases;
}

/** The esbuild options every bundle shares, in esbuild's own terms (plus `builtinAliases()`). */
export const esbuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  /** ESM builds of dependencies first: they tree-shake (the AWS SDK v3 above all). */
  mainFields: ['module', 'main'],
  banner: esmRequireShim,
  /** The AWS SDK is bundled (pinned, tree-shaken); only the Kubernetes client is left out (see above). */
  external: [KUBERNETES_CLIENT],
} as const;

/** The Kubernetes client's own bundle: entry, and where it goes in a function's asset. */
export const kubernetesClientBundle = {
  entry: join(repoRoot, 'infra', 'kubernetes-client.ts'),
  dir: join('node_modules', ...KUBERNETES_CLIENT.split('/')),
  file: 'index.mjs',
  packageJson: { name: KUBERNETES_CLIENT, type: 'module', exports: './index.mjs' },
} as const;

/** esbuild's command-line flags for the shared options (NodejsFunction hooks run the CLI). */
export function esbuildCliFlags(): string[] {
  const o = esbuildOptions;
  return [
    '--bundle',
    `--platform=${o.platform}`,
    `--target=${o.target}`,
    `--format=${o.format}`,
    ...(o.minify ? ['--minify'] : []),
    ...(o.sourcemap ? ['--sourcemap'] : []),
    `--sources-content=${o.sourcesContent}`,
    `--main-fields=${o.mainFields.join(',')}`,
    `--banner:js=${o.banner}`,
    ...Object.entries(builtinAliases()).map(([from, to]) => `--alias:${from}=${to}`),
    '--log-level=warning',
  ];
}

/** POSIX shell quoting. */
function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Shell commands that bundle the Kubernetes client into `outputDir` (run from the project root). */
export function kubernetesClientCommands(inputDir: string, outputDir: string): string[] {
  const dir = join(outputDir, kubernetesClientBundle.dir);
  const esbuild = join(inputDir, 'node_modules', '.bin', 'esbuild');
  return [
    `mkdir -p ${sh(dir)}`,
    [esbuild, kubernetesClientBundle.entry, ...esbuildCliFlags(), `--outfile=${join(dir, kubernetesClientBundle.file)}`].map(sh).join(' '),
    `printf '%s\\n' ${sh(JSON.stringify(kubernetesClientBundle.packageJson))} > ${sh(join(dir, 'package.json'))}`,
  ];
}

/**
 * Shell commands that copy the Swagger UI files the API serves (functions/api/ui.ts) from the
 * installed swagger-ui-dist into `outputDir/swagger-ui/`, with the package's licence and notice.
 */
export function swaggerUiCommands(inputDir: string, outputDir: string): string[] {
  const from = join(inputDir, 'node_modules', 'swagger-ui-dist');
  const to = join(outputDir, SWAGGER_UI_BUNDLE_DIR);
  return [`mkdir -p ${sh(to)}`, ...[...Object.keys(SWAGGER_UI_FILES), 'LICENSE', 'NOTICE'].map((file) => `cp ${sh(join(from, file))} ${sh(join(to, file))}`)];
}

/**
 * Shell commands that build the results explorer (functions/api/explorer-page.ts) into
 * `outputDir/explorer/`: web/main.ts bundled by the esbuild CLI with the options the embedded
 * server builds it with in-process, plus the page and its static files from web/.
 */
export function explorerCommands(inputDir: string, outputDir: string): string[] {
  const o = EXPLORER_ESBUILD;
  const to = join(outputDir, EXPLORER_BUNDLE_DIR);
  const esbuild = join(inputDir, 'node_modules', '.bin', 'esbuild');
  const flags = [
    '--bundle',
    `--format=${o.format}`,
    `--platform=${o.platform}`,
    `--target=${o.target}`,
    ...(o.minify ? ['--minify'] : []),
    `--legal-comments=${o.legalComments}`,
    '--log-level=warning',
  ];
  const statics = ['index.html', ...Object.keys(EXPLORER_FILES).filter((f) => f !== 'explorer.js')];
  return [
    `mkdir -p ${sh(to)}`,
    [esbuild, join(inputDir, o.entry), ...flags, `--outfile=${join(to, 'explorer.js')}`].map(sh).join(' '),
    ...statics.map((file) => `cp ${sh(join(inputDir, 'web', file))} ${sh(join(to, file))}`),
  ];
}

/** The same options for NodejsFunction, which runs the project's esbuild locally. */
export function lambdaBundling(options: { kubernetesClient: boolean; swaggerUi?: boolean }): BundlingOptions {
  const after = (inputDir: string, outputDir: string): string[] => [
    ...(options.kubernetesClient ? kubernetesClientCommands(inputDir, outputDir) : []),
    ...(options.swaggerUi ? swaggerUiCommands(inputDir, outputDir) : []),
    ...(options.swaggerUi ? explorerCommands(inputDir, outputDir) : []),
  ];
  return {
    forceDockerBundling: false,
    format: OutputFormat.ESM,
    target: esbuildOptions.target,
    minify: esbuildOptions.minify,
    sourceMap: esbuildOptions.sourcemap,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: esbuildOptions.sourcesContent,
    mainFields: [...esbuildOptions.mainFields],
    banner: esbuildOptions.banner,
    externalModules: [...esbuildOptions.external],
    bundleAwsSDK: true,
    esbuildArgs: { '--alias': Object.entries(builtinAliases()).map(([from, to]) => `${from}=${to}`) },
    ...(options.kubernetesClient || options.swaggerUi
      ? {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: after,
          },
        }
      : {}),
  };
}
