/**
 * The process executor: no engine, no filesystem isolation. The build prepares a stack directory
 * (context files, the script, the user's files, a venv when a Python section is given) and the
 * runs execute the harness on the host. Results say `executor: "process"`, so nobody mistakes
 * them for an isolated run. Native packages cannot be installed on the host: the build checks
 * they are present and fails with the list of missing ones otherwise.
 *
 * What it does isolate (docs/SECURITY.md):
 * - processes: every process a run starts ends with it (containment.ts: a PID namespace where one
 *   can be made, else the harness's subreaper; the chain dies with the server; orphans of a killed
 *   server are reaped before their item runs again);
 * - environment: the script sees a minimal one (PATH, HOME, LANG, TZ, the spec's environment and
 *   Amun's own variables), never the server's (tokens, cloud credentials);
 * - state between runs: each run works in a fresh directory (its own HOME, TMPDIR and working
 *   directory, and a fresh copy of the spec's files under $AMUN_FILES_ROOT);
 * - HOME: the run's own writable directory, never the server's, so `~/.cache` (pip, matplotlib,
 *   torch hub) lands in the run; where the run has a mount namespace, getpwuid() names it too
 *   (passwdOverlay), as the image's passwd entry for the run user does under the other executors;
 * - stacks: a stack directory is written once, under a lock, and never changed while in use.
 *
 * The venv of a stack is shared by the runs of that stack (copying it per run would cost as much
 * as installing it); a script that installs into it changes it for later runs.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { DEFAULT_OUTPUT_LIMITS, type OutputLimits } from '../../config.js';
import type { BuildOutcome, BuildRequest, Executor, LogSink, RunOutput, RunRequest } from '../../core/ports.js';
import { syntheticResult } from '../../core/results.js';
import { CONTEXT_PATHS, imagePath } from '../../core/dockerfile.js';
import { lockOf, pythonStack, reportedScript } from '../../core/specification.js';
import { RUN_TOKEN_VARIABLE, RunRegistry, containmentPrefix, makesPidNamespace } from './containment.js';
import { writeContext } from './context-files.js';
import { run } from './spawn.js';

export interface ProcessExecutorOptions {
  /** Stacks live under `<dataDir>/work/<stack digest>`, runs under `<dataDir>/runs/`. */
  dataDir: string;
  python?: string;
  buildTimeoutMs?: number;
  output?: OutputLimits;
  /** Variables of the server's environment a script may see besides PATH, LANG and TZ (none by default). */
  passEnvironment?: ReadonlyArray<string>;
}

const MARKER = '.amun-build.json';
const LOCK_POLL_MS = 200;

export class ProcessExecutor implements Executor {
  readonly kind = 'process' as const;
  private readonly python: string;
  /** The interpreter `python` names, resolved once it answered (see interpreter()). */
  private resolved: string | undefined;
  private readonly registry: RunRegistry;
  private readonly swept: Promise<unknown>;

  constructor(private readonly options: ProcessExecutorOptions) {
    this.python = options.python ?? 'python3';
    this.registry = new RunRegistry(options.dataDir, this.runsRoot());
    // Runs of a server that died (kill -9) may still be running: end them before anything else
    // runs, then remove what is left of them (nothing of this process runs yet).
    this.swept = this.registry
      .sweep()
      .then(() => rm(this.runsRoot(), { recursive: true, force: true }))
      .catch(() => undefined);
  }

  /**
   * The interpreter itself: what `sys.executable` says `python` is, asked once. A version
   * manager's shim (pyenv's is a shell script that runs `pyenv exec`) costs about 120 ms at every
   * start, more than the harness and a trivial script together; a venv's python stays itself (its
   * path, not the file it links to). Until it answers (not installed yet, say), the name is used.
   */
  private async interpreter(): Promise<string> {
    if (this.resolved) return this.resolved;
    const answer = await run(this.python, ['-I', '-S', '-c', 'import sys; sys.stdout.write(sys.executable or "")'], { timeoutMs: 30_000 }).catch(() => undefined);
    const path = answer?.code === 0 ? answer.stdout.trim() : '';
    if (!isAbsolute(path) || !existsSync(path)) return this.python;
    this.resolved = path;
    return path;
  }

  workDir(stackDigest: string): string {
    return join(this.options.dataDir, 'work', stackDigest);
  }

  private runsRoot(): string {
    return join(this.options.dataDir, 'runs');
  }

  async build(request: BuildRequest): Promise<BuildOutcome> {
    const startedAt = new Date().toISOString();
    const { log } = request;
    const final = this.workDir(request.stackDigest);
    log.write(`process executor: no isolation; the stack is prepared on this host in ${final}\n`);
    const missing = await missingNativePackages(request.spec.packages ?? [], log);
    if (missing.length > 0) {
      const message = `native packages are not installed on this host and the process executor cannot install them: ${missing.join(', ')}`;
      log.write(`${message}\n`);
      return outcome('failed', startedAt, 1, 'build_failed', message, null, request.stackDigest, false);
    }
    let failure: BuildOutcome | undefined;
    const prepared = await this.ensureStack(request.stackDigest, log, async (dir) => {
      await writeContext(dir, request.context);
      await placeFiles(dir, request.spec);
      const steps = pythonSteps(request, dir, await this.interpreter());
      const env = steps.length > 0 ? await pipEnvironment(request, dir) : undefined;
      const cwd = join(dir, 'rootfs', 'home', 'amun');
      if (steps.length > 0) await mkdir(cwd, { recursive: true });
      for (const step of steps) {
        log.write(`$ ${[step.command, ...step.args].join(' ')}\n`);
        const result = await run(step.command, step.args, { cwd, env, log, timeoutMs: this.options.buildTimeoutMs ?? 30 * 60_000, ...(request.signal ? { signal: request.signal } : {}) });
        if (result.code !== 0) {
          const message = result.timedOut ? `${step.what} timed out` : `${step.what} failed with exit code ${result.code ?? result.signal}`;
          log.write(`${message}\n`);
          failure = outcome('failed', startedAt, result.code, result.timedOut ? 'timeout' : 'build_failed', message, null, request.stackDigest, false);
          return false;
        }
      }
      return true;
    });
    if (failure) return failure;
    if (prepared === 'reused') log.write(`stack ${request.stackDigest} was prepared before: reusing it\n`);
    else log.write('stack prepared\n');
    return outcome('succeeded', startedAt, 0, null, null, final, request.stackDigest, prepared === 'reused');
  }

  /**
   * The stack directory, prepared once: `prepare` fills it under a lock (a directory created
   * atomically beside it), the marker is written last, and a directory with a marker is never
   * written again. Builds of one stack that meet wait for each other instead of replacing a
   * directory in use. The venv is made in place, so the paths it records stay true.
   */
  private async ensureStack(digest: string, log: LogSink | undefined, prepare: (dir: string) => Promise<boolean>): Promise<'reused' | 'prepared' | 'failed'> {
    const final = this.workDir(digest);
    const lock = `${final}.lock`;
    await mkdir(dirname(final), { recursive: true });
    for (let waited = false; ; waited = true) {
      if (existsSync(join(final, MARKER))) return 'reused';
      try {
        await mkdir(lock);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        if (await staleLock(lock)) {
          await rm(lock, { recursive: true, force: true });
          continue;
        }
        if (!waited) log?.write(`another inspection is preparing stack ${digest}: waiting for it\n`);
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
        continue;
      }
      try {
        await writeFile(join(lock, 'owner'), String(process.pid));
        if (existsSync(join(final, MARKER))) return 'reused';
        // No marker: nothing runs from this directory (runs start only from marked stacks).
        await rm(final, { recursive: true, force: true });
        await mkdir(final);
        if (!(await prepare(final))) {
          await rm(final, { recursive: true, force: true });
          return 'failed';
        }
        await writeFile(join(final, MARKER), JSON.stringify({ stack_digest: digest }));
        return 'prepared';
      } finally {
        await rm(lock, { recursive: true, force: true });
      }
    }
  }

  async runItem(request: RunRequest): Promise<RunOutput> {
    await this.swept;
    const startedAt = new Date();
    const digest = request.build.stack_digest ?? '';
    const stack = request.build.image ?? this.workDir(digest);
    const script = reportedScript(request.spec);
    const fail = (reason: 'harness_error' | 'executor_error' | 'no_python', message: string, stderr = ''): RunOutput => ({
      result: Buffer.from(JSON.stringify(syntheticResult({ inspectionId: request.inspectionId, item: request.item, executor: 'process', reason, message, script, startedAt, finishedAt: new Date(), hostname: hostname(), stderr }))),
      log: Buffer.from(stderr),
    });
    // An earlier run of this item whose server was killed may still be running: end it first.
    await this.registry.reap(request.inspectionId, request.item);
    if (!existsSync(join(stack, MARKER))) {
      // The stack directory is a cache: prepare it again from the stored context when it is gone.
      const context = await request.context();
      const rebuilt = await this.ensureStack(digest, undefined, async (dir) => {
        await writeContext(dir, context);
        await placeFiles(dir, request.spec);
        return true;
      });
      if (rebuilt === 'failed') return fail('executor_error', `the stack directory ${stack} could not be prepared again`);
    }
    await mkdir(this.runsRoot(), { recursive: true });
    const dir = await mkdtemp(join(this.runsRoot(), `${request.inspectionId}-${request.item}-`));
    const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
    try {
      const paths = { home: join(dir, 'home'), tmp: join(dir, 'tmp'), files: join(dir, 'rootfs'), out: join(dir, 'output') };
      await Promise.all([mkdir(paths.home), mkdir(paths.tmp), mkdir(paths.out)]);
      // A fresh copy of the spec's files for every run: what one run changes, no other run sees.
      if (existsSync(join(stack, 'rootfs'))) await cp(join(stack, 'rootfs'), paths.files, { recursive: true, preserveTimestamps: true });
      else await mkdir(paths.files);
      // Files given relative to /home/amun are in the run's working directory, as in an image.
      const home = join(paths.files, 'home', 'amun');
      if (existsSync(home)) await cp(home, paths.home, { recursive: true, preserveTimestamps: true });
      const token = this.registry.newToken();
      const env = this.environment(request, paths, token);
      const output = this.options.output ?? DEFAULT_OUTPUT_LIMITS;
      const prefix = containmentPrefix();
      const python = await this.interpreter();
      const argv = [
        ...prefix,
        ...(makesPidNamespace(prefix) ? await passwdOverlay(dir, paths.home) : []),
        python,
        // As the container executor starts it (HARNESS_COMMAND): the harness is standard library only.
        '-I',
        '-S',
        join(stack, 'amun', 'harness', 'entrypoint.py'),
        '--script', join(stack, 'amun', 'script'),
        '--output', paths.out,
        '--item', String(request.item),
        '--inspection-id', request.inspectionId,
        '--executor', 'process',
        '--deadline', String(request.deadlineSeconds),
        '--venv', join(stack, 'venv'),
        '--workdir', paths.home,
        '--output-limit', String(output.logBytes),
        '--result-output-limit', String(output.resultBytes),
        '--require-containment',
      ];
      let result;
      let recorded: Promise<void> = Promise.resolve();
      try {
        result = await run(argv[0]!, argv.slice(1), {
          cwd: paths.home,
          env,
          timeoutMs: (request.deadlineSeconds + 60) * 1000,
          ...(request.signal ? { signal: request.signal } : {}),
          onSpawn: (pid) => {
            recorded = this.registry.record(request.inspectionId, request.item, { pid, token, dir }).catch(() => undefined);
          },
        });
      } catch (error) {
        await release();
        return fail('no_python', `could not start ${argv[0]}: ${(error as Error).message}`);
      } finally {
        await recorded;
        await this.registry.forget(request.inspectionId, request.item);
      }
      const read = async (name: string): Promise<Buffer | undefined> => readFile(join(paths.out, name)).catch(() => undefined);
      const [resultFile, hwinfo] = await Promise.all([read('result'), read('hwinfo')]);
      if (!resultFile) {
        await release();
        // unshare, or the shell of passwdOverlay, could not exec the interpreter.
        if (result.code === 127 && (result.stderr.includes(`failed to execute ${python}`) || result.stderr.includes(`exec: ${python}: not found`))) {
          return fail('no_python', `could not start ${this.python}: not found`, result.stderr);
        }
        return fail('harness_error', `the harness wrote no result (exit ${result.code ?? result.signal})`, result.stderr);
      }
      const logPath = join(paths.out, 'log');
      const logSize = (await stat(logPath).catch(() => undefined))?.size;
      return { result: resultFile, log: logSize === undefined ? Buffer.alloc(0) : { path: logPath, size: logSize }, ...(hwinfo ? { hwinfo } : {}), release };
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** What a script sees: no variable of the server's own environment but PATH, LANG and TZ. */
  private environment(request: RunRequest, paths: { home: string; tmp: string; files: string }, token: string): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH || '/usr/local/bin:/usr/bin:/bin', LANG: process.env.LANG || 'C.UTF-8' };
    if (process.env.TZ) env.TZ = process.env.TZ;
    for (const name of this.options.passEnvironment ?? []) if (process.env[name] !== undefined) env[name] = process.env[name];
    env.HOME = paths.home;
    env.TMPDIR = paths.tmp;
    for (const { name, value } of request.spec.environment ?? []) env[name] = value;
    Object.assign(env, {
      AMUN_INSPECTION_ID: request.inspectionId,
      AMUN_ITEM: String(request.item),
      AMUN_FILES_ROOT: paths.files,
      [RUN_TOKEN_VARIABLE]: token,
    });
    return env;
  }
}

/**
 * Binds a copy of /etc/passwd over /etc/passwd in the run's mount namespace (which containment's
 * `unshare --mount-proc` makes, private to the run), then execs the harness. The mount is best
 * effort: where it fails the harness runs all the same, and getpwuid() names the host's entry.
 */
const BIND_PASSWD = 'mount --bind "$1" /etc/passwd 2>/dev/null || :; shift; exec "$@"';

/**
 * The argv that runs the harness with a passwd in which the run's user (uid 0 in its namespaces:
 * root, or the server's user mapped to root) has the run's HOME for its home directory, as the run
 * user of an image has /home/amun: getpwuid(getuid()).pw_dir and $HOME agree (ssh, and tools that
 * ask the password database rather than the environment, find the run's directory, not /root). The
 * copy is written into the run's directory and goes with it. Nothing when `home` cannot be a
 * passwd field (relative, or a `:` in the data directory's path).
 */
async function passwdOverlay(runDir: string, home: string): Promise<string[]> {
  if (/[:\n\r\0]/.test(home) || !isAbsolute(home) || !isAbsolute(runDir)) return [];
  const lines = (await readFile('/etc/passwd', 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
  let found = false;
  const passwd = lines.map((line) => {
    const fields = line.split(':');
    if (found || fields.length < 7 || fields[2] !== '0') return line;
    found = true;
    fields[5] = home;
    return fields.join(':');
  });
  if (!found) passwd.push(`root:x:0:0:root:${home}:/bin/sh`);
  const path = join(runDir, 'passwd');
  await writeFile(path, `${passwd.join('\n')}\n`, { mode: 0o644 });
  return ['/bin/sh', '-c', BIND_PASSWD, 'amun-passwd', path];
}

/** A lock whose owner process is gone (a server killed while it prepared a stack). */
async function staleLock(lock: string): Promise<boolean> {
  const owner = Number((await readFile(join(lock, 'owner'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(owner) || owner <= 0) {
    // Just created, owner not written yet; or left by a crash between the two steps.
    const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
    return age > 30_000;
  }
  try {
    process.kill(owner, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function outcome(state: 'succeeded' | 'failed', startedAt: string, exitCode: number | null, reason: string | null, message: string | null, image: string | null, stackDigest: string, cached: boolean): BuildOutcome {
  return { state, started_at: startedAt, finished_at: new Date().toISOString(), exit_code: exitCode, reason, message, image, image_digest: null, stack_digest: stackDigest, cached };
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
 * The Python part of the generated build, replayed on the host into `<stack>/venv`: the same
 * requirement files the image build installs (hash-pinned ones from a lock with --require-hashes,
 * lock entries without hashes with --no-deps only). python_packages go into the venv too, since
 * the host's own python3 is not ours to change. The steps run after the user's files are placed,
 * in `<stack>/rootfs/home/amun` (relative paths of a lock resolve there, as against /home/amun in
 * an image), with pipEnvironment().
 */
function pythonSteps(request: BuildRequest, dir: string, python: string): Step[] {
  const { spec, context } = request;
  const stack = pythonStack(spec);
  const needsVenv = stack !== undefined || (spec.python_packages?.length ?? 0) > 0;
  if (!needsVenv) return [];
  const venvPython = join(dir, 'venv', 'bin', 'python3');
  const pip = (what: string, ...args: string[]): Step => ({ what, command: venvPython, args: ['-m', 'pip', 'install', '--disable-pip-version-check', ...args] });
  const steps: Step[] = [{ what: 'creating the venv', command: python, args: ['-m', 'venv', join(dir, 'venv')] }];
  if (spec.upgrade_pip) steps.push(pip('upgrading pip', '--upgrade', 'pip'));
  if (context.some((f) => f.path === CONTEXT_PATHS.pythonPackages)) steps.push(pip('installing python_packages', '-r', join(dir, CONTEXT_PATHS.pythonPackages)));
  const files = (prefix: string): string[] => context.map((f) => f.path).filter((p) => p.startsWith(prefix)).sort();
  if (stack !== undefined && spec.package_manager === 'pipenv') {
    steps.push({ what: 'installing the Pipfile stack with pipenv', command: 'pipenv', args: ['install', ...(lockOf(stack) ? ['--deploy'] : [])] });
  } else {
    for (const file of files(CONTEXT_PATHS.lockRequirementsPrefix)) steps.push(pip('installing the locked stack', '--require-hashes', '--no-deps', '-r', join(dir, file)));
    for (const file of files(CONTEXT_PATHS.unhashedRequirementsPrefix)) steps.push(pip('installing the lock entries without hashes (not hash-checked)', '--no-deps', '-r', join(dir, file)));
    for (const file of files(CONTEXT_PATHS.pipfileRequirementsPrefix)) steps.push(pip('installing the Pipfile stack', '-r', join(dir, file)));
  }
  return steps;
}

/**
 * The environment of the Python steps: the server's, with
 * - the stack's constraints as PIP_CONSTRAINT (as the image build sets it);
 * - the user's pip configuration from `files[]` where pip looks for it in an image built as root:
 *   HOME is `<rootfs>/root` (~/.config/pip/pip.conf, ~/.pip/pip.conf), and XDG_CONFIG_DIRS names
 *   `<rootfs>/etc/xdg` and a copy of `<rootfs>/etc/pip.conf` (pip reads /etc/pip.conf itself, so
 *   the user's one is handed over as another global file); pip's cache stays where it was;
 * - pipenv pointed at the stack's Pipfile and venv (as install-python.sh does in an image).
 */
async function pipEnvironment(request: BuildRequest, dir: string): Promise<NodeJS.ProcessEnv> {
  const rootfs = join(dir, 'rootfs');
  const env: NodeJS.ProcessEnv = { ...process.env };
  env.XDG_CACHE_HOME = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  env.HOME = join(rootfs, 'root');
  delete env.XDG_CONFIG_HOME;
  const globalDirs = [join(rootfs, 'etc', 'xdg')];
  if (existsSync(join(rootfs, 'etc', 'pip.conf'))) {
    const shim = join(dir, '.amun-pip-global');
    await mkdir(join(shim, 'pip'), { recursive: true });
    await cp(join(rootfs, 'etc', 'pip.conf'), join(shim, 'pip', 'pip.conf'));
    globalDirs.push(shim);
  }
  env.XDG_CONFIG_DIRS = [...globalDirs, ...(process.env.XDG_CONFIG_DIRS || '/etc/xdg').split(':')].join(':');
  if (request.context.some((f) => f.path === CONTEXT_PATHS.constraints)) env.PIP_CONSTRAINT = join(dir, CONTEXT_PATHS.constraints);
  else delete env.PIP_CONSTRAINT;
  Object.assign(env, { VIRTUAL_ENV: join(dir, 'venv'), PIPENV_PIPFILE: join(dir, CONTEXT_PATHS.pipfile), PIPENV_IGNORE_VIRTUALENVS: '0', PIPENV_YES: '1' });
  env.PATH = `${join(dir, 'venv', 'bin')}:${process.env.PATH || '/usr/local/bin:/usr/bin:/bin'}`;
  return env;
}

/**
 * User files at their paths under `<stack>/rootfs`, relative ones under `<rootfs>/home/amun` (each
 * run gets a copy; AMUN_FILES_ROOT tells the script where).
 */
async function placeFiles(dir: string, spec: BuildRequest['spec']): Promise<void> {
  for (const [i, file] of (spec.files ?? []).entries()) {
    const target = join(dir, 'rootfs', imagePath(file.path));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await readFile(join(dir, `${CONTEXT_PATHS.filesDir}${i}`)));
  }
}
