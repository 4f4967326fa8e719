/**
 * `npm run bench:bundles`: the bundle budget of every function the AWS stack deploys.
 *
 * The function list and each function's environment come from the stack itself (synthesized
 * without bundling; CloudFormation references become placeholders), and each entry is bundled with
 * the stack's own esbuild options (infra/bundling.ts), the Kubernetes client on its own beside the
 * functions that call the cluster, as deployed. For every function it prints the minified bundle
 * size, the largest packages in it, and its module init time: `import()` of the bundle in a fresh
 * Node 22 process with the function's environment (NODE_OPTIONS included), median of 10 runs. For
 * the functions that call the cluster, the load of the client on first use is timed in the same
 * process right after, and counted against their budget.
 *
 * Targets: every bundle < 1 MiB; init < 150 ms, except the functions that load the Kubernetes
 * client: init plus the client's load < 300 ms. Exits 1 when a target is missed.
 *
 * Environment: BENCH_RUNS (default 10) imports per function; BENCH_KEEP=1 keeps the bundles (and
 * esbuild's metafiles) in the printed folder.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { createApp } from '../infra/amun-app.js';
import { builtinAliases, entryPath, esbuildOptions, kubernetesClientBundle, repoRoot } from '../infra/bundling.js';
import { CLUSTER_USE } from '../infra/stack.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const KEEP = process.env.BENCH_KEEP === '1';
const MiB = 1024 * 1024;
const BUDGET = { bytes: 1 * MiB, initMs: 150, kubernetesInitMs: 300 };

/** Node 22, as on Lambda: the project's pinned binary when present. */
function node22(): string {
  const pinned = join(repoRoot, 'node_modules', '.bin', 'node');
  const candidate = existsSync(pinned) ? pinned : process.execPath;
  const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (!version.startsWith('v22.')) throw new Error(`bench:bundles measures on Node 22 (the Lambda runtime); ${candidate} is ${version}`);
  return candidate;
}

/** Values CloudFormation would fill in, by variable. */
const PLACEHOLDERS: Record<string, string> = {
  AMUN_BUCKET: 'amun-bench-bucket',
  AMUN_WORK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/dev-amun-work',
  AMUN_RUN_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/dev-amun-run',
  AMUN_COMPLETION_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/dev-amun-completions',
  AMUN_K8S_ENDPOINT: 'https://0123456789ABCDEF.gr7.us-east-1.eks.amazonaws.com',
  AMUN_K8S_CA_DATA: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBbench\n-----END CERTIFICATE-----\n').toString('base64'),
  AMUN_REGISTRY: '000000000000.dkr.ecr.us-east-1.amazonaws.com/dev-amun-images',
};

interface Target {
  name: string;
  entry: string;
  env: Record<string, string>;
  /** Calls the cluster: the client ships beside the bundle and loads on first use. */
  cluster: boolean;
}

/** The functions of the default stack, with their environment as deployed. */
function targets(): Target[] {
  const { app, stack } = createApp({ bundle: false, nag: false, outdir: mkdtempSync(join(tmpdir(), 'amun-bench-cdk-')) });
  const template = app.synth().getStackByName(stack.stackName).template as { Resources: Record<string, { Properties?: { Environment?: { Variables?: Record<string, unknown> } } }> };
  const out: Target[] = [];
  for (const [name, fn] of stack.functions) {
    const logicalId = stack.getLogicalId(fn.fn.node.defaultChild as never);
    const variables = template.Resources[logicalId]?.Properties?.Environment?.Variables ?? {};
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(variables)) {
      if (typeof value === 'string') env[key] = value;
      else if (PLACEHOLDERS[key]) env[key] = PLACEHOLDERS[key];
      else throw new Error(`${name}: no placeholder for ${key} (a CloudFormation reference); add one to PLACEHOLDERS`);
    }
    out.push({ name, entry: entryPath(fn.route), env, cluster: CLUSTER_USE[name] !== undefined });
  }
  return out;
}

async function bundle(entry: string, file: string): Promise<{ file: string; bytes: number; metafile: Metafile }> {
  mkdirSync(dirname(file), { recursive: true });
  const { mainFields, banner, external, ...options } = esbuildOptions;
  const result = await build({
    ...options,
    mainFields: [...mainFields],
    external: file.includes(kubernetesClientBundle.dir) ? [] : [...external],
    banner: { js: banner },
    alias: builtinAliases(),
    entryPoints: [entry],
    outfile: file,
    metafile: true,
    logLevel: 'error',
  });
  if (KEEP) writeFileSync(`${file}.meta.json`, JSON.stringify(result.metafile));
  return { file, bytes: statSync(file).size, metafile: result.metafile };
}

/** Bytes in the bundle by package (or by project folder). */
function composition(metafile: Metafile, file: string): Array<[string, number]> {
  const output = Object.entries(metafile.outputs).find(([path]) => file.endsWith(path.replace(/^.*?([^/]+\/index\.mjs)$/, '$1')))?.[1];
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const key = m ? m[1]! : input.split('/').slice(0, 2).join('/');
    byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
  }
  return [...byPackage.entries()].sort((a, b) => b[1] - a[1]);
}

/** Runs in the function's folder: `@kubernetes/client-node` resolves as it does from the bundle. */
const IMPORT_PROBE = `
const cpu0 = process.cpuUsage();
const started = performance.now();
let client = 0;
let cpu = 0;
try {
  await import(process.argv[1]);
  const init = performance.now() - started;
  const used = process.cpuUsage(cpu0);
  cpu = (used.user + used.system) / 1000;
  if (process.argv[2] === 'cluster') {
    const before = performance.now();
    await import('@kubernetes/client-node');
    client = performance.now() - before;
  }
  process.stdout.write(JSON.stringify({ ms: init, cpu, client }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ms: performance.now() - started, cpu, client, error: String(error && error.message || error).split('\\n')[0] }));
}`;

interface Times {
  median: number;
  min: number;
  max: number;
  /** CPU time of the import (all threads): less sensitive than wall time to a busy machine. */
  cpuMedian: number;
  clientMedian: number;
  error?: string;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Sample {
  ms: number;
  cpu: number;
  client: number;
  error?: string;
}

/** One import of the bundle in a fresh process. */
function sample(node: string, file: string, env: Record<string, string>, cluster: boolean): Sample {
  const child = spawnSync(node, ['--input-type=module', '-e', IMPORT_PROBE, pathToFileURL(file).href, cluster ? 'cluster' : 'plain'], {
    encoding: 'utf8',
    cwd: dirname(file),
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
      ...env,
    },
  });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Sample;
  } catch {
    throw new Error(`import of ${file} failed (exit ${child.status}): ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

function summarize(samples: Sample[]): Times {
  const times = samples.map((s) => s.ms);
  const error = samples.find((s) => s.error)?.error;
  return {
    median: median(times),
    min: Math.min(...times),
    max: Math.max(...times),
    cpuMedian: median(samples.map((s) => s.cpu)),
    clientMedian: median(samples.map((s) => s.client)),
    ...(error ? { error } : {}),
  };
}

const node = node22();
const dir = mkdtempSync(join(tmpdir(), 'amun-bundles-'));
const list = targets();
const client = await bundle(kubernetesClientBundle.entry, join(dir, 'client', kubernetesClientBundle.dir, kubernetesClientBundle.file));
writeFileSync(join(dirname(client.file), 'package.json'), JSON.stringify(kubernetesClientBundle.packageJson));

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const top = (metafile: Metafile, file: string) =>
  composition(metafile, file)
    .slice(0, 4)
    .map(([name, b]) => `${name} ${(b / 1024).toFixed(0)}K`)
    .join(', ');

console.log(`bundle budget: ${list.length} functions, esbuild ${esbuildOptions.format} ${esbuildOptions.target} minified, init = import() in a fresh ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()} process, median of ${RUNS}`);
console.log(`Kubernetes client, beside the functions that call the cluster, loaded on first use: ${kib(client.bytes)} (${top(client.metafile, client.file)})\n`);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`machine: ${cpus().length} CPUs, load average ${load()} (wall times grow with load; CPU time much less)\n`);
console.log(`${'function'.padEnd(10)} ${'bundle'.padStart(11)} ${'init p50'.padStart(9)} ${'min'.padStart(7)} ${'max'.padStart(7)} ${'cpu p50'.padStart(8)} ${'+client'.padStart(9)}  budget                  largest parts`);

const built = [];
for (const target of list) {
  const { file, bytes, metafile } = await bundle(target.entry, join(dir, target.name, 'index.mjs'));
  if (target.cluster) {
    const beside = join(dir, target.name, kubernetesClientBundle.dir);
    mkdirSync(beside, { recursive: true });
    copyFileSync(client.file, join(beside, kubernetesClientBundle.file));
    copyFileSync(join(dirname(client.file), 'package.json'), join(beside, 'package.json'));
  }
  built.push({ target, file, bytes, metafile, samples: [] as Sample[] });
}

// Round robin: a busy moment of the machine falls on every function alike, not on one.
for (let run = 0; run < RUNS; run++) {
  for (const b of built) b.samples.push(sample(node, b.file, b.target.env, b.target.cluster));
}

let missed = 0;
for (const { target, file, bytes, metafile, samples } of built) {
  const bundled = Object.keys(metafile.inputs).some((input) => input.includes('node_modules/@kubernetes/client-node/'));
  const init = summarize(samples);
  const budgetMs = target.cluster ? BUDGET.kubernetesInitMs : BUDGET.initMs;
  const spent = init.median + (target.cluster ? init.clientMedian : 0);
  const ok = bytes < BUDGET.bytes && spent < budgetMs && !init.error && !bundled;
  if (!ok) missed++;
  const budget = target.cluster ? `<1MiB init+client<${budgetMs}ms` : `<1MiB init<${budgetMs}ms`;
  console.log(
    `${target.name.padEnd(10)} ${kib(bytes).padStart(11)} ${`${init.median.toFixed(1)} ms`.padStart(9)} ${init.min.toFixed(1).padStart(7)} ${init.max.toFixed(1).padStart(7)} ${init.cpuMedian.toFixed(1).padStart(8)} ${(target.cluster ? `${init.clientMedian.toFixed(1)} ms` : '-').padStart(9)}  ${ok ? 'ok  ' : 'MISS'} ${budget.padEnd(19)} ${top(metafile, file)}`,
  );
  if (init.error) console.log(`${''.padEnd(10)} init threw: ${init.error}`);
  if (bundled) console.log(`${''.padEnd(10)} the Kubernetes client is inside the bundle: a static import of it crept in`);
}

console.log(`\nload average at the end: ${load()}`);
if (KEEP) console.log(`bundles kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
if (missed > 0) {
  console.log(`\n${missed} function(s) over budget`);
  process.exitCode = 1;
}
