/** The commands of `amun` (commander); cli/amun.ts runs them. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { LABEL_PRESETS } from '../functions/adapters/kubernetes/manifests/placement.js';
import type { ContextFile } from '../functions/core/ports.js';
import { AUTH_MODES, type AuthMode } from './auth.js';
import { connect, redirectLogs, startEmbedded, type Backend } from './backend.js';
import type { ApiClient, InspectionStatus, MetricsAnswer } from './client.js';
import { CliError, EXIT_BAD_INPUT, EXIT_SLOWER, EXIT_FAILURE, EXIT_INTERRUPTED, formatError } from './errors.js';
import { gate } from './gate.js';
import { showLogs } from './logs.js';
import { follow, stopProgress } from './progress.js';
import { compareText, listTable, resultsTable, statusText, succeeded, summaryLine, type ResultRow } from './render.js';
import { loadSpec } from './spec.js';

interface GlobalOptions {
  url?: string;
  auth?: AuthMode;
  dataDir: string;
  verbose?: boolean;
}

const LABEL_PRESET_NAMES = Object.keys(LABEL_PRESETS);
const labelPresetOption = (): Option => new Option('--label-preset <preset>', 'node labels the hardware requests are placed by').choices(LABEL_PRESET_NAMES).env('AMUN_K8S_LABEL_PRESET');

const stdoutTty = (): boolean => process.stdout.isTTY === true && !process.env.CI;
// A live spinner needs a terminal that knows its width (some CI ptys report 0 columns).
const stderrTty = (): boolean => process.stderr.isTTY === true && !process.env.CI && (process.stderr.columns ?? 0) > 0;
const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const err = (text: string): void => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

function integer(min: number) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`expected an integer of at least ${min}`);
    return Number(value);
  };
}

function percent(value: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || Number(value) > 1000) throw new InvalidArgumentError('expected a percentage from 0 to 1000');
  return Number(value);
}

// Backends in use, so that a signal stops the embedded stack gracefully before exiting.
const open = new Set<Backend>();
let signalsHandled = false;
let interrupted = false;

async function withBackend<T>(globals: GlobalOptions, fn: (backend: Backend) => Promise<T>): Promise<T> {
  if (!signalsHandled) {
    // `on`, not `once`: signal-exit (ora's cursor restore) re-raises a signal when it is the only
    // listener left, which would kill the process before the stack has stopped.
    signalsHandled = true;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const backend = await connect({ url: globals.url, auth: globals.auth, dataDir: globals.dataDir, verbose: globals.verbose === true });
  open.add(backend);
  try {
    return await fn(backend);
  } finally {
    open.delete(backend);
    await backend.close();
  }
}

async function fetchRows(client: ApiClient, id: string, status: InspectionStatus): Promise<ResultRow[]> {
  const w = status.workflow;
  if (!w || w.has_script === false || w.build === 'failed') return [];
  const items = Array.from({ length: w.batch_size }, (_, i) => i);
  return Promise.all(items.map(async (item) => ({ item, report: await client.maybeResult(id, item) })));
}

async function printBuildFailure(client: ApiClient, id: string, status: InspectionStatus): Promise<void> {
  if (status.workflow?.build !== 'failed') return;
  const log = await client.maybeLog(id, 'build');
  if (!log) return;
  const tail = log.trimEnd().split('\n').slice(-20);
  err(`last lines of the build log (amun logs ${id} --build):\n${tail.map((l) => `  ${l}`).join('\n')}`);
}

function printResults(id: string, status: InspectionStatus, rows: ResultRow[], where: string, metrics?: MetricsAnswer['metrics']): void {
  if (rows.length > 0) out(resultsTable(rows, stdoutTty(), process.stdout.columns ?? 120, metrics));
  out(summaryLine(id, status));
  out(`stored at ${where}`);
}

export function buildProgram(): Command {
  const program = new Command('amun')
    .description('Build a software stack into an image, run a script on it on requested hardware, and record what happened.')
    .version('1.0.0')
    .addOption(new Option('--url <url>', 'v1 API to talk to; without one the embedded stack runs in-process').env('AMUN_URL'))
    .addOption(
      new Option('--auth <mode>', 'how requests to --url are authorized: token (AMUN_API_TOKEN as a Bearer token), iam (AWS SigV4 with the default credential chain), none; auto picks token when AMUN_API_TOKEN is set, iam for an execute-api URL')
        .choices(AUTH_MODES)
        .env('AMUN_AUTH')
        .default('auto'),
    )
    .addOption(new Option('--data-dir <dir>', 'data directory of the embedded stack').env('AMUN_DATA_DIR').default('.amun'))
    .addOption(
      new Option('--executor <kind>', 'executor of the embedded stack: auto picks podman/docker when one answers, else process')
        .choices(['auto', 'process', 'container', 'kubernetes'])
        .env('AMUN_EXECUTOR'),
    )
    .option('-v, --verbose', 'also show the embedded stack logs on stderr (they always go to <data-dir>/amun.log)')
    .showHelpAfterError()
    .exitOverride();

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  // The embedded stack reads its executor from the environment, as `npm start` does.
  program.hook('preAction', () => {
    const { executor } = program.opts<{ executor?: string }>();
    if (executor) process.env.AMUN_EXECUTOR = executor;
  });

  program
    .command('run')
    .description('submit a specification, follow it with live progress, and print the results')
    .argument('<spec>', 'specification file (JSON or YAML), or - for stdin')
    .addOption(new Option('--timeout <seconds>', 'give up following after this many seconds').argParser(integer(1)))
    .option('--json', 'print the status and the run reports as JSON instead of a table')
    .action(async (specPath: string, opts: { timeout?: number; json?: boolean }) => {
      const { spec } = await loadSpec(specPath);
      const code = await withBackend(globals(), async (backend) => {
        const submitted = await backend.client.submit(spec);
        const id = submitted.inspection_id;
        const status = await follow(backend.client, id, { tty: stderrTty(), timeoutSeconds: opts.timeout });
        const rows = await fetchRows(backend.client, id, status);
        await printBuildFailure(backend.client, id, status);
        if (opts.json) out(JSON.stringify({ inspection_id: id, status, results: rows.map((r) => r.report ?? null) }, null, 2));
        else printResults(id, status, rows, backend.where(id), rows.length > 0 ? (await backend.client.metrics(id)).metrics : undefined);
        return succeeded(status, rows) ? 0 : EXIT_FAILURE;
      });
      process.exitCode = code;
    });

  program
    .command('submit')
    .description('submit a specification and print the inspection id')
    .argument('<spec>', 'specification file (JSON or YAML), or - for stdin')
    .option('--json', 'print the whole answer (id and the specification with defaults)')
    .action(async (specPath: string, opts: { json?: boolean }) => {
      const { spec } = await loadSpec(specPath);
      await withBackend(globals(), async (backend) => {
        const answer = await backend.client.submit(spec);
        out(opts.json ? JSON.stringify(answer, null, 2) : answer.inspection_id);
      });
    });

  program
    .command('status')
    .description('show the state of an inspection')
    .argument('<id>', 'inspection id')
    .option('--json', 'print the API answer')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withBackend(globals(), async (backend) => {
        const answer = await backend.client.status(id);
        out(opts.json ? JSON.stringify(answer, null, 2) : statusText(id, answer.status));
      });
    });

  program
    .command('logs')
    .description('print the build log, an item log, or all of them')
    .argument('<id>', 'inspection id')
    .option('--build', 'only the build log')
    .addOption(new Option('--item <n>', 'only the log of item n').argParser(integer(0)).conflicts('build'))
    .option('-f, --follow', 'keep printing as the logs grow, until the inspection finishes')
    .action(async (id: string, opts: { build?: boolean; item?: number; follow?: boolean }) => {
      await withBackend(globals(), async (backend) => {
        await showLogs(backend.client, id, { build: opts.build === true, item: opts.item, follow: opts.follow === true, write: (t) => void process.stdout.write(t) });
      });
    });

  program
    .command('results')
    .description('print the results table of an inspection')
    .argument('<id>', 'inspection id')
    .option('--json', 'print the status and the run reports as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withBackend(globals(), async (backend) => {
        const status = (await backend.client.status(id)).status;
        const [rows, metrics] = await Promise.all([fetchRows(backend.client, id, status), backend.client.metrics(id)]);
        if (opts.json) out(JSON.stringify({ inspection_id: id, status, results: rows.map((r) => r.report ?? null), metrics: metrics.metrics }, null, 2));
        else printResults(id, status, rows, backend.where(id), metrics.metrics);
      });
    });

  program
    .command('list')
    .description('list inspections, newest first')
    .addOption(new Option('--page <n>', 'page number').argParser(integer(1)).default(1))
    .addOption(new Option('--limit <n>', 'inspections per page').argParser(integer(1)).default(20))
    .option('--json', 'print the API answer')
    .action(async (opts: { page: number; limit: number; json?: boolean }) => {
      await withBackend(globals(), async (backend) => {
        const answer = await backend.client.list(opts.page, opts.limit, true);
        if (opts.json) return out(JSON.stringify(answer, null, 2));
        out(listTable(answer, stdoutTty(), Date.now()));
        if (answer.parameters.next_page_token) err(`more: amun list --page ${opts.page + 1} --limit ${opts.limit}`);
      });
    });

  program
    .command('compare')
    .description('compare inspections with the first: per metric the medians, the ratio with its 95% interval, a Mann-Whitney p-value and a verdict')
    .argument('<baseline>', 'inspection id every other is compared with')
    .argument('<others...>', 'inspection ids to compare with it')
    .option('--json', 'print the API answer')
    .option('--fail-on-slower', `exit ${EXIT_SLOWER} when a judged metric is significantly worse: the @result metrics when the script reports any, else every metric (for CI pipelines)`)
    .addOption(new Option('--metric <name...>', 'with --fail-on-slower: judge these metrics only (e.g. wall_time elapsed)'))
    .addOption(new Option('--threshold <percent>', 'with --fail-on-slower: count only slowdowns whose whole 95% interval is beyond this many percent').argParser(percent).default(0))
    .action(async (baseline: string, others: string[], opts: { json?: boolean; failOnSlower?: boolean; metric?: string[]; threshold: number }) => {
      await withBackend(globals(), async (backend) => {
        const answer = await backend.client.compare([baseline, ...others]);
        out(opts.json ? JSON.stringify(answer, null, 2) : compareText(answer, stdoutTty()));
        if (!opts.failOnSlower) return;
        const verdict = gate(answer, { metrics: opts.metric, threshold: opts.threshold / 100 });
        if (verdict.unknown.length > 0) throw new CliError(`no compared inspection has the metric${verdict.unknown.length === 1 ? '' : 's'} ${verdict.unknown.join(', ')}`, EXIT_BAD_INPUT);
        if (verdict.slower.length > 0) throw new CliError(`significantly worse: ${verdict.slower.join(', ')}`, EXIT_SLOWER);
      });
    });

  program
    .command('reindex')
    .description("list and summarize every inspection the store holds that the listing misses (a store the original service wrote, or a listing lost); idempotent")
    .action(async () => {
      const { url, dataDir, verbose } = globals();
      if (url) throw new CliError('reindex reads the store itself: run it on the embedded data directory, or with the deployment\'s configuration (AMUN_BUCKET and its queues)', EXIT_BAD_INPUT);
      let result: { inspections: number; added: number; summaries: number };
      if (process.env.AMUN_BUCKET) {
        const [{ makeApp }, { configFromEnv }] = [await import('../functions/app.js'), await import('../functions/config.js')];
        result = await makeApp(configFromEnv()).records.reindex();
      } else {
        const dir = resolve(dataDir);
        redirectLogs(dir, verbose === true);
        const stack = await startEmbedded({ dataDir: dir, port: 0, waitTimeSeconds: 1, reindexAtStart: false });
        try {
          result = await stack.app.records.reindex();
        } finally {
          await stack.stop();
        }
      }
      out(`${result.inspections} inspection${result.inspections === 1 ? '' : 's'} in the store; ${result.added} added to the listing, ${result.summaries} summarized`);
    });

  program
    .command('dockerfile')
    .description('print the Dockerfile generated for a specification (rendered locally without --url)')
    .argument('<spec>', 'specification file (JSON or YAML), or - for stdin')
    .option('--context <dir>', 'also write the build context there, with the Dockerfile: `podman build <dir>` builds the image as Amun would')
    .action(async (specPath: string, opts: { context?: string }) => {
      const { spec } = await loadSpec(specPath);
      const { url } = globals();
      const { decodeContext } = await import('../functions/core/context.js');
      const rendered = url
        ? await withBackend(globals(), async (backend) => {
            const answer = await backend.client.dockerfile(spec);
            return { dockerfile: answer.dockerfile, context: decodeContext(Buffer.from(JSON.stringify(answer.context)), 'the build context the API answered') };
          })
        : await renderDockerfile(spec);
      if (opts.context) {
        const dir = resolve(opts.context);
        const [{ writeContext }, { writeFile }] = [await import('../functions/adapters/executors/context-files.js'), await import('node:fs/promises')];
        await writeContext(dir, rendered.context);
        await writeFile(join(dir, 'Dockerfile'), rendered.dockerfile);
        err(`wrote the Dockerfile and ${rendered.context.length} context files to ${dir}: podman build ${opts.context}`);
      }
      out(rendered.dockerfile);
    });

  program
    .command('manifests')
    .description('print the Kubernetes objects an inspection of a specification would create (YAML), for review or kubectl apply')
    .argument('<spec>', 'specification file (JSON or YAML), or - for stdin')
    .addOption(new Option('--kind <kind>', 'only the build or only the run objects').choices(['build', 'run']))
    .addOption(new Option('--namespace <namespace>', 'namespace of the objects').env('AMUN_K8S_NAMESPACE'))
    .addOption(new Option('--registry <repository>', 'repository built stacks are pushed to').env('AMUN_REGISTRY'))
    .addOption(labelPresetOption())
    .option('--exclusive', 'give each run a node to itself (pod anti-affinity against other Amun runs)')
    .option('--id <inspection-id>', 'inspection id to name the objects after (default: one derived from the specification)')
    .action(async (specPath: string, opts: ManifestOptions) => {
      const { spec } = await loadSpec(specPath);
      out(await renderManifests(spec, opts));
    });

  const cluster = program.command('cluster').description("the Kubernetes cluster the kubernetes executor uses, read with your kubeconfig's identity (not the functions')");
  cluster
    .command('check')
    .description(
      'list the nodes and report the node labels the label preset places by that no node carries, GPU nodes without the CPU labels other nodes have, and with a specification which of its placement terms no node meets; exits 1 on a problem',
    )
    .argument('[spec]', 'specification file (JSON or YAML), or - for stdin: also check where its build and runs would be placed')
    .addOption(labelPresetOption())
    .addOption(new Option('--kubeconfig <file>', "kubeconfig whose current context names the cluster and an identity that may list nodes (default: AMUN_K8S_KUBECONFIG, KUBECONFIG, ~/.kube/config)"))
    .option('--json', 'print the verdict as JSON')
    .action(async (specPath: string | undefined, opts: ClusterCheckOptions) => {
      const spec = specPath === undefined ? undefined : (await loadSpec(specPath)).spec;
      const verdict = await checkCluster(spec, opts);
      if (opts.json) out(JSON.stringify(verdict, null, 2));
      else {
        out(`cluster at ${verdict.endpoint}, label preset ${verdict.preset}: ${verdict.found}`);
        for (const problem of verdict.problems) out(`problem: ${problem}`);
        for (const warning of verdict.warnings) out(`warning: ${warning}`);
        for (const fit of verdict.fits) out(`${fit.path} fits: ${fit.nodes.join(', ')}`);
        if (verdict.problems.length === 0 && verdict.warnings.length === 0) out('no problems found');
      }
      if (verdict.problems.length > 0) process.exitCode = EXIT_FAILURE;
    });

  program
    .command('serve')
    .description('run the embedded stack in the foreground (SIGTERM or SIGINT stop it gracefully); the process to supervise')
    .addOption(new Option('--port <port>', 'API port (0 picks a free one)').env('PORT').argParser(integer(0)).default(8080))
    .addOption(new Option('--host <address>', 'address to listen on; anything but loopback needs AMUN_API_TOKEN').env('AMUN_HOST').default('127.0.0.1'))
    .option('--insecure', 'listen on a non-loopback address without AMUN_API_TOKEN: anyone who reaches it can run code on this machine')
    .option('--log-file', 'write the logs to <data-dir>/amun.log instead of stdout')
    .action(async (opts: { port: number; host: string; insecure?: boolean; logFile?: boolean }) => {
      const { dataDir, verbose } = globals();
      const dir = resolve(dataDir);
      if (!isLoopbackAddress(opts.host) && !process.env.AMUN_API_TOKEN && opts.insecure !== true) {
        throw new CliError(
          `refusing to listen on ${opts.host} without AMUN_API_TOKEN: anyone who can reach that address could run code on this machine. Set AMUN_API_TOKEN (and AMUN_ALLOWED_HOSTS to the names clients use), or pass --insecure`,
          EXIT_BAD_INPUT,
        );
      }
      if (opts.logFile) redirectLogs(dir, verbose === true);
      const stack = await startEmbedded({ dataDir: dir, port: opts.port, host: opts.host });
      const { makeLogger } = await import('../functions/logger.js');
      makeLogger('local').info('amun is listening', {
        api: `${stack.apiUrl}/api/v1`, explorer: `${stack.apiUrl}/`, storage: stack.storageEndpoint, completions: stack.queueUrls.completions,
        executor: stack.app.executor.kind, dataDir: dir, token: stack.config.apiToken !== undefined, pid: process.pid,
      });
      err(`amun is listening on ${stack.apiUrl}/api/v1 (executor ${stack.app.executor.kind}, data dir ${dir}, storage ${stack.storageEndpoint}${stack.config.apiToken ? ', token required' : ''})`);
      err(`results explorer: ${stack.apiUrl}/`);
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals): void => {
          if (stopping) return;
          stopping = true;
          err(`${signal}: stopping, letting running handlers finish`);
          stack.stop().then(done, (error: unknown) => {
            err(`stop failed: ${(error as Error).message}`);
            process.exitCode = EXIT_FAILURE;
            done();
          });
        };
        for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, stop);
      });
      err('stopped');
    });

  return program;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** The Dockerfile and build context of a specification, rendered by the same code the service runs, without a stack. */
async function renderDockerfile(spec: unknown): Promise<{ dockerfile: string; context: ContextFile[] }> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  const [{ normalizeSpecification }, { generateBuild }, { harnessFiles }, { SpecificationError }, { SERVICE_VERSION }] = await Promise.all([
    import('../functions/core/specification.js'),
    import('../functions/core/dockerfile.js'),
    import('../functions/core/generated/harness.js'),
    import('../functions/core/errors.js'),
    import('../functions/config.js'),
  ]);
  try {
    const { dockerfile, context } = generateBuild(normalizeSpecification(spec, { now: new Date(), version: SERVICE_VERSION }), harnessFiles);
    return { dockerfile, context };
  } catch (error) {
    if (error instanceof SpecificationError) throw new CliError(error.message, EXIT_BAD_INPUT, error.problems);
    throw error;
  }
}

interface ManifestOptions {
  kind?: 'build' | 'run';
  namespace?: string;
  registry?: string;
  labelPreset?: string;
  exclusive?: boolean;
  id?: string;
}

/** The manifests of a specification, rendered by the builders the kubernetes executor uses, without a cluster. */
async function renderManifests(spec: unknown, opts: ManifestOptions): Promise<string> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  const [{ normalizeSpecification, mintInspectionId }, { generateBuild }, { harnessFiles }, { SpecificationError }, { SERVICE_VERSION, kubernetesFromEnv }, { clusterSettings }, { previewManifests }, { INSPECTION_ID_RULE, isInspectionId }, { stringify }] =
    await Promise.all([
      import('../functions/core/specification.js'),
      import('../functions/core/dockerfile.js'),
      import('../functions/core/generated/harness.js'),
      import('../functions/core/errors.js'),
      import('../functions/config.js'),
      import('../functions/adapters/kubernetes/cluster.js'),
      import('../functions/adapters/kubernetes/manifests/preview.js'),
      import('../functions/core/layout.js'),
      import('yaml'),
    ]);
  if (opts.id !== undefined && !isInspectionId(opts.id)) {
    throw new CliError('invalid --id', EXIT_BAD_INPUT, [{ path: '--id', message: INSPECTION_ID_RULE }]);
  }
  const placeholderRegistry = 'registry.example.com/amun';
  const kubernetes = { ...kubernetesFromEnv(), ...(opts.namespace ? { namespace: opts.namespace } : {}), ...(opts.labelPreset ? { labelPreset: opts.labelPreset } : {}) };
  kubernetes.registry = opts.registry ?? kubernetes.registry ?? placeholderRegistry;
  try {
    const normalized = normalizeSpecification(spec, { now: new Date(0), version: SERVICE_VERSION });
    const { stackDigest } = generateBuild(normalized, harnessFiles);
    const settings = clusterSettings(
      { kubernetes, bucket: process.env.AMUN_BUCKET || 'amun', region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1', endpoint: undefined },
      { exclusiveNodes: opts.exclusive === true },
    );
    const inspectionId = opts.id ?? mintInspectionId(normalized.identifier, `manifests:${stackDigest}`);
    const manifests = previewManifests({
      inspectionId,
      spec: normalized,
      stackDigest,
      settings,
      storePrefix: (process.env.AMUN_STORE_PREFIX || 'inspections').replace(/\/+$/, ''),
      deadlineSeconds: normalized.run?.deadline_seconds ?? 3600,
      kind: opts.kind,
    });
    const head = [
      `# Kubernetes objects of ${inspectionId} (amun manifests): stack digest ${stackDigest}; the build pushes its own tag, the runs pin the digest recorded when it has ended.`,
      ...(kubernetes.registry === placeholderRegistry ? [`# No registry configured (--registry or AMUN_REGISTRY): ${placeholderRegistry} stands in.`] : []),
      ...(manifests.length === 0 ? ['# Nothing to run: the specification has no script.'] : []),
    ];
    return `${head.join('\n')}\n${manifests.map((m) => stringify(m, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')}`;
  } catch (error) {
    if (error instanceof SpecificationError) throw new CliError(error.message, EXIT_BAD_INPUT, error.problems);
    if ((error as Error).name === 'ConfigError') throw new CliError((error as Error).message, EXIT_BAD_INPUT);
    throw error;
  }
}

interface ClusterCheckOptions {
  labelPreset?: string;
  kubeconfig?: string;
  json?: boolean;
}

/**
 * `amun cluster check`: the nodes (and, for Karpenter and EKS Auto Mode, the NodePools) of the
 * kubeconfig's current cluster against the label preset, and the specification's placement
 * against them (functions/adapters/kubernetes/model/placement-check.ts).
 */
async function checkCluster(spec: unknown, opts: ClusterCheckOptions) {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  const [{ normalizeSpecification }, { SpecificationError }, { SERVICE_VERSION, kubernetesFromEnv }, { kubeconfigFile, readNodes, NodeListError }, { judgeNodes, judgeRequests }, { homedir }] = await Promise.all([
    import('../functions/core/specification.js'),
    import('../functions/core/errors.js'),
    import('../functions/config.js'),
    import('../functions/adapters/kubernetes/kube-api.js'),
    import('../functions/adapters/kubernetes/model/placement-check.js'),
    import('node:os'),
  ]);
  let kubernetes: ReturnType<typeof kubernetesFromEnv>;
  let normalized: ReturnType<typeof normalizeSpecification> | undefined;
  try {
    kubernetes = kubernetesFromEnv();
    normalized = spec === undefined ? undefined : normalizeSpecification(spec, { now: new Date(0), version: SERVICE_VERSION });
  } catch (error) {
    if (error instanceof SpecificationError) throw new CliError(error.message, EXIT_BAD_INPUT, error.problems);
    if ((error as Error).name === 'ConfigError') throw new CliError((error as Error).message, EXIT_BAD_INPUT);
    throw error;
  }
  const preset = opts.labelPreset ?? kubernetes.labelPreset;
  const labels = LABEL_PRESETS[preset as keyof typeof LABEL_PRESETS];
  const kubeconfig = opts.kubeconfig ?? kubernetes.kubeconfig ?? join(homedir(), '.kube', 'config');
  let listed: Awaited<ReturnType<typeof readNodes>>;
  try {
    listed = await readNodes(kubeconfigFile(kubeconfig), { timeoutSeconds: kubernetes.timeoutSeconds, nodePools: labels.provisioner !== undefined });
  } catch (error) {
    if (error instanceof NodeListError) {
      const denied = error.status === 401 || error.status === 403;
      throw new CliError(`${error.message}${denied ? `: the identity of ${kubeconfig} may not list nodes (cluster-wide read; the functions' own Role never may)` : ''}`, EXIT_FAILURE);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES') throw new CliError(`cannot read the kubeconfig ${kubeconfig} (${code}): give one with --kubeconfig`, EXIT_BAD_INPUT);
    throw new CliError(`cannot use the kubeconfig ${kubeconfig}: ${(error as Error).message}`, EXIT_BAD_INPUT);
  }
  const nodes = judgeNodes(listed.nodes, labels, listed.nodePools);
  const requests = normalized ? judgeRequests(listed.nodes, labels, normalized, listed.nodePools) : { problems: [], warnings: [], fits: [] };
  return {
    endpoint: listed.endpoint,
    preset,
    found: nodes.found,
    problems: [...nodes.problems, ...requests.problems],
    warnings: [...nodes.warnings, ...requests.warnings],
    fits: requests.fits,
  };
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted || open.size === 0) process.exit(EXIT_INTERRUPTED);
  interrupted = true;
  stopProgress();
  err(`${signal}: stopping, letting running handlers finish (again to quit at once)`);
  void Promise.allSettled([...open].map((b) => b.close())).finally(() => process.exit(EXIT_INTERRUPTED));
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    // Requests cut short by a signal fail; the signal handler reports and exits.
    if (interrupted) return EXIT_INTERRUPTED;
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return error.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
    }
    if (error instanceof CliError) {
      err(formatError(error));
      return error.exitCode;
    }
    err(`amun: unexpected error: ${(error as Error).stack ?? String(error)}`);
    return EXIT_FAILURE;
  }
}

