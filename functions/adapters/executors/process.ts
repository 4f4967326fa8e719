/**
 * The process executor: no engine, no isolation. The build prepares a work directory (context
 * files, the script, a venv when a Python section is given) and the runs execute the harness on
 * the host. Results say `executor: "process"`, so nobody mistakes them for an isolated run.
 * Native packages cannot be installed on the host: the build checks they are present and fails
 * with the list of missing ones otherwise.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { BuildOutcome, BuildRequest, ContextFile, Executor, LogSink, RunOutput, RunRequest } from '../../core/ports.js';
import { syntheticResult } from '../../core/results.js';
import { CONTEXT_PATHS } from '../../core/dockerfile.js';
import { run } from './spawn.js';

export interface ProcessExecutorOptions {
  /** Work directories live under `<dataDir>/work/<stack digest>`. */
  dataDir: string;
  python?: string;
  buildTimeoutMs?: number;
}

const MARKER = '.amun-build.json';

export class ProcessExecutor implements Executor {
  readonly kind = 'process' as const;
  private readonly python: string;

  constructor(private readonly options: ProcessExecutorOptions) {
    this.python = options.python ?? 'python3';
  }

  workDir(stackDigest: string): string {
    return join(this.options.dataDir, 'work', stackDigest);
  }

  async build(request: BuildRequest): Promise<BuildOutcome> {
    const startedAt = new Date().toISOString();
    const final = this.workDir(request.stackDigest);
    const { log } = request;
    log.write(`process executor: no isolation; the stack is prepared on this host in ${final}\n`);
    if (existsSync(join(final, MARKER))) {
      log.write(`stack ${request.stackDigest} was prepared before: reusing it\n`);
      return outcome('succeeded', startedAt, 0, null, null, final, request.stackDigest, true);
    }
    await mkdir(dirname(final), { recursive: true });
    const dir = await mkdtemp(`${final}.tmp-`);
    try {
      await writeContext(dir, request.context);
      await placeFiles(dir, request.spec);
      const missing = await missingNativePackages(request.spec.packages ?? [], log);
      if (missing.length > 0) {
        const message = `native packages are not installed on this host and the process executor cannot install them: ${missing.join(', ')}`;
        log.write(`${message}\n`);
        return outcome('failed', startedAt, 1, 'build_failed', message, null, request.stackDigest, false);
      }
      const steps = pythonSteps(request, dir, this.python);
      for (const step of steps) {
        log.write(`$ ${[step.command, ...step.args].join(' ')}\n`);
        const result = await run(step.command, step.args, { cwd: dir, log, timeoutMs: this.options.buildTimeoutMs ?? 30 * 60_000, ...(request.signal ? { signal: request.signal } : {}) });
        if (result.code !== 0) {
          const message = result.timedOut ? `${step.what} timed out` : `${step.what} failed with exit code ${result.code ?? result.signal}`;
          log.write(`${message}\n`);
          return outcome('failed', startedAt, result.code, result.timedOut ? 'timeout' : 'build_failed', message, null, request.stackDigest, false);
        }
      }
      await writeFile(join(dir, MARKER), JSON.stringify({ stack_digest: request.stackDigest }));
      await rm(final, { recursive: true, force: true });
      await rename(dir, final);
      log.write('stack prepared\n');
      return outcome('succeeded', startedAt, 0, null, null, final, request.stackDigest, false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async runItem(request: RunRequest): Promise<RunOutput> {
    const startedAt = new Date();
    const dir = request.build.image ?? this.workDir(request.build.stack_digest ?? '');
    const script = request.spec.script ?? '';
    const fail = (reason: 'harness_error' | 'executor_error' | 'no_python', message: string, stderr = ''): RunOutput => ({
      result: Buffer.from(JSON.stringify(syntheticResult({ inspectionId: request.inspectionId, item: request.item, executor: 'process', reason, message, script, startedAt, finishedAt: new Date(), hostname: hostname(), stderr }))),
      log: Buffer.from(stderr),
    });
    if (!existsSync(join(dir, MARKER))) {
      // The work directory is a cache: rebuild it from the stored context when it is gone.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeContext(dir, await request.context());
      await placeFiles(dir, request.spec);
    }
    const out = await mkdtemp(join(this.options.dataDir, 'run-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const { name, value } of request.spec.environment ?? []) env[name] = value;
      Object.assign(env, { AMUN_INSPECTION_ID: request.inspectionId, AMUN_ITEM: String(request.item), AMUN_FILES_ROOT: join(dir, 'rootfs') });
      const args = [
        join(dir, 'amun', 'harness', 'entrypoint.py'),
        '--script', join(dir, 'amun', 'script'),
        '--output', out,
        '--item', String(request.item),
        '--inspection-id', request.inspectionId,
        '--executor', 'process',
        '--deadline', String(request.deadlineSeconds),
        '--venv', join(dir, 'venv'),
        '--workdir', dir,
      ];
      let result;
      try {
        result = await run(this.python, args, { cwd: dir, env, timeoutMs: (request.deadlineSeconds + 60) * 1000, ...(request.signal ? { signal: request.signal } : {}) });
      } catch (error) {
        return fail('no_python', `could not start ${this.python}: ${(error as Error).message}`);
      }
      const read = async (name: string): Promise<Buffer | undefined> => readFile(join(out, name)).catch(() => undefined);
      const [resultFile, log, hwinfo] = await Promise.all([read('result'), read('log'), read('hwinfo')]);
      if (!resultFile) return fail('harness_error', `the harness wrote no result (exit ${result.code ?? result.signal})`, result.stderr);
      return { result: resultFile, log: log ?? Buffer.alloc(0), ...(hwinfo ? { hwinfo } : {}) };
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }
}

function outcome(state: 'succeeded' | 'failed', startedAt: string, exitCode: number | null, reason: string | null, message: string | null, image: string | null, stackDigest: string, cached: boolean): BuildOutcome {
  return { state, started_at: startedAt, finished_at: new Date().toISOString(), exit_code: exitCode, reason, message, image, image_digest: null, stack_digest: stackDigest, cached };
}

async function writeContext(dir: string, context: ReadonlyArray<ContextFile>): Promise<void> {
  for (const file of context) {
    if (file.path.split('/').some((s) => s === '..' || s === '') || file.path.startsWith('/')) throw new Error(`unsafe context path ${file.path}`);
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
  }
}

async function missingNativePackages(packages: ReadonlyArray<string>, log: LogSink): Promise<string[]> {
  if (packages.length === 0) return [];
  const names = packages.map((p) => p.split(/[=:]/)[0] ?? p);
  const missing: string[] = [];
  for (const name of names) {
    const dpkg = await run('dpkg-query', ['-W', '-f=${Status}', name]).catch(() => undefined);
    if (dpkg && dpkg.code === 0 && dpkg.stdout.includes('install ok installed')) continue;
    const rpm = dpkg ? undefined : await run('rpm', ['-q', name]).catch(() => undefined);
    if (rpm && rpm.code === 0) continue;
    missing.push(name);
  }
  log.write(`native packages present on the host: ${names.filter((n) => !missing.includes(n)).join(', ') || 'none'}\n`);
  return missing;
}

interface Step {
  what: string;
  command: string;
  args: string[];
}

/**
 * The Python part of the generated build, replayed on the host into `<work dir>/venv`: the same
 * requirement files the image build installs (hash-pinned ones from a lock with --require-hashes).
 * python_packages go into the venv too, since the host's own python3 is not ours to change.
 */
function pythonSteps(request: BuildRequest, dir: string, python: string): Step[] {
  const { spec, context } = request;
  const needsVenv = spec.python !== undefined || (spec.python_packages?.length ?? 0) > 0;
  if (!needsVenv) return [];
  const venvPython = join(dir, 'venv', 'bin', 'python3');
  const pip = (what: string, ...args: string[]): Step => ({ what, command: venvPython, args: ['-m', 'pip', 'install', '--disable-pip-version-check', ...args] });
  const steps: Step[] = [{ what: 'creating the venv', command: python, args: ['-m', 'venv', join(dir, 'venv')] }];
  if (spec.upgrade_pip) steps.push(pip('upgrading pip', '--upgrade', 'pip'));
  if (context.some((f) => f.path === CONTEXT_PATHS.pythonPackages)) steps.push(pip('installing python_packages', '-r', join(dir, CONTEXT_PATHS.pythonPackages)));
  const files = (prefix: string): string[] => context.map((f) => f.path).filter((p) => p.startsWith(prefix)).sort();
  if (spec.python !== undefined && spec.package_manager === 'pipenv') {
    steps.push({ what: 'installing the Pipfile stack with pipenv', command: 'pipenv', args: ['install', ...(spec.python.requirements_locked ? ['--deploy'] : [])] });
  } else {
    for (const file of files(CONTEXT_PATHS.lockRequirementsPrefix)) steps.push(pip('installing the locked stack', '--require-hashes', '--no-deps', '-r', join(dir, file)));
    for (const file of files(CONTEXT_PATHS.pipfileRequirementsPrefix)) steps.push(pip('installing the Pipfile stack', '-r', join(dir, file)));
  }
  return steps;
}

/** User files at their paths under `<work dir>/rootfs` (AMUN_FILES_ROOT tells the script where). */
async function placeFiles(dir: string, spec: BuildRequest['spec']): Promise<void> {
  for (const [i, file] of (spec.files ?? []).entries()) {
    const target = join(dir, 'rootfs', file.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await readFile(join(dir, `${CONTEXT_PATHS.filesDir}${i}`)));
  }
}
