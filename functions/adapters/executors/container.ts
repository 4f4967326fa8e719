/**
 * The container executor: podman or docker on this machine.
 *
 * Build: the generated Dockerfile and build context go to a temporary directory and the engine
 * builds them; its output streams into build/log while it runs. The image is content-addressed:
 * tagged `localhost/amun/stack:<stack digest>` (the digest of the Dockerfile and every context
 * file), so an inspection whose stack was built before, by any inspection, reuses the image
 * without building (`cached: true`). Builds of one stack in this process are serialized, so two
 * inspections submitted together build once.
 *
 * Run: one container per item, from the image id the build recorded, removed when it exits
 * (`--rm`; `rm -f` as well whenever the executor had to kill it). Containers of an earlier run of
 * the same item that outlived their server (a kill -9 mid-run) are removed before the item runs
 * again: they carry the inspection and item as labels. The container's PID namespace ends every
 * process the script started; the harness, its init, lists those it had to kill. Each gets the run requests as
 * limits (cpu → --cpus, memory → --memory with no swap), the spec's environment, no network
 * unless `run.network`, no capabilities, and a fresh host directory mounted at the harness's
 * output directory; the harness writes hwinfo, log and result there and the pipeline uploads them
 * (result last). The harness enforces the deadline itself (reason `deadline`); should the
 * container outlive deadline + grace, the engine kills it and the executor writes the result.
 * A result the harness could not write is synthesized with a reason: `oom` (the container was
 * SIGKILLed: exit 137 under its memory limit; also a script SIGKILLed near the limit),
 * `no_python` (the image has no python3 for the harness), `harness_error`, `executor_error`.
 *
 * Parallelism: the run route handles one run message at a time. With `run.parallelism` = p > 1,
 * the executor runs ahead: while it runs the item a message asked for, it starts the following
 * items of the same inspection so that up to p containers run, and keeps their outputs until
 * their own messages arrive (the pipeline then uploads them at once). Items are started in item
 * order; a run-ahead output nobody claims within 30 minutes is dropped. Outputs wait on disk, not
 * in memory, and are removed once uploaded. Sequential (p = 1) by default, as the original.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { RunReport } from '../../core/generated/types.js';
import { DEFAULT_OUTPUT_LIMITS } from '../../config.js';
import { IMAGE_PATHS } from '../../core/dockerfile.js';
import type { BuildRequest, ContextFile, Executor, FinishedBuild, RunOutput, RunRequest } from '../../core/ports.js';
import { syntheticResult } from '../../core/results.js';
import { DEFAULT_BUILD_TIMEOUT_SECONDS, flavorOf, type ContainerExecutorOptions, type EngineFlavor, type ImageCleanup } from './container-options.js';
import { run, type SpawnOptions, type SpawnResult } from './spawn.js';

export type { ContainerExecutorOptions } from './container-options.js';

export const STACK_REPOSITORY = 'localhost/amun/stack';
const KILL_GRACE_SECONDS = 60;
const UNCLAIMED_TTL_MS = 30 * 60_000;
const MAX_INSPECTIONS = 256;
const STDERR_KEEP = 64 * 1024;

export function stackImageTag(stackDigest: string): string {
  return `${STACK_REPOSITORY}:${stackDigest}`;
}

const BINARY_SUFFIX: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL_SUFFIX: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** A Kubernetes quantity ("500m", "1.5", "256Mi", "1G") as a number of units. */
export function parseQuantity(quantity: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(quantity);
  if (!match) throw new Error(`not a quantity: ${JSON.stringify(quantity)}`);
  const suffix = match[2] ?? '';
  const scale = BINARY_SUFFIX[suffix] ?? DECIMAL_SUFFIX[suffix] ?? 1;
  return Number(match[1]) * scale;
}

/** `--cpus` for a CPU quantity: "500m" → "0.5", "2" → "2". */
export function cpusFlag(quantity: string): string {
  const cpus = Math.round(parseQuantity(quantity) * 1000) / 1000;
  return String(Math.max(cpus, 0.01));
}

/** Bytes for a memory quantity, rounded up to whole bytes ("256Mi" → 268435456). */
export function memoryBytes(quantity: string): number {
  return Math.ceil(parseQuantity(quantity));
}

interface Slot {
  promise: Promise<RunOutput>;
  settledAt?: number;
}

/** Run-ahead state of one inspection in this process. */
interface InspectionRuns {
  batch: number;
  parallelism: number;
  running: number;
  /** Next item the run-ahead may start. */
  next: number;
  started: Set<number>;
  claimed: Set<number>;
  ahead: Map<number, Slot>;
  /** The after-run image cleanup happened. */
  cleaned: boolean;
}

function finished(state: InspectionRuns): boolean {
  return state.claimed.size >= state.batch && state.running === 0 && state.ahead.size === 0;
}

export class ContainerExecutor implements Executor {
  readonly kind = 'container' as const;
  readonly engine: string;
  readonly flavor: EngineFlavor;
  private readonly flags: string[];
  private readonly cleanup: ImageCleanup;
  private readonly building = new Map<string, Promise<FinishedBuild>>();
  private readonly inspections = new Map<string, InspectionRuns>();

  constructor(private readonly options: ContainerExecutorOptions) {
    this.engine = options.engine;
    this.flags = [...options.engineFlags];
    this.flavor = options.flavor ?? flavorOf(options.engine);
    this.cleanup = options.imageCleanup ?? { policy: 'keep' };
    mkdirSync(options.dataDir, { recursive: true });
    // Run outputs of a server that died here are nobody's now (none of ours runs yet). Its builds
    // may still be running (they outlive the server, to clean up after themselves): their
    // directories go once they are older than any build can run.
    rmSync(join(options.dataDir, 'runs'), { recursive: true, force: true });
    removeOlderThan(join(options.dataDir, 'builds'), ((options.buildTimeoutSeconds ?? DEFAULT_BUILD_TIMEOUT_SECONDS) + 600) * 1000);
    this.owner = createHash('sha256').update(resolvePath(options.dataDir)).digest('hex').slice(0, 16);
  }

  /** Label value naming this data directory: containers it started carry it. */
  private readonly owner: string;
  private swept: Promise<void> | undefined;

  /**
   * Removes containers that a server on this data directory started and left behind (it was
   * killed mid-run): once, before the first run. None of them can be this process's own.
   */
  private sweep(): Promise<void> {
    this.swept ??= (async () => {
      const listed = await this.exec(['ps', '--all', '--quiet', '--filter', `label=amun.owner=${this.owner}`]).catch(() => undefined);
      const ids = (listed?.code === 0 ? listed.stdout : '').split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]{12,64}$/.test(l));
      if (ids.length > 0) await this.exec(['rm', '--force', ...ids]).catch(() => undefined);
    })();
    return this.swept;
  }

  /** The engine with the global flags. */
  exec(args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<SpawnResult> {
    // The engine runs in our data directory: conmon leaves files (an `oom` marker) in its cwd.
    return run(this.engine, [...this.flags, ...args], { cwd: this.options.dataDir, ...options });
  }

  /** `sha256:<hex>` of a local image, undefined when there is none by that reference. */
  async imageId(reference: string): Promise<string | undefined> {
    const result = await this.exec(['image', 'inspect', '--format', '{{.Id}}', reference]).catch(() => undefined);
    if (!result || result.code !== 0) return undefined;
    const id = result.stdout.trim().split('\n')[0]?.trim() ?? '';
    if (!/^(sha256:)?[0-9a-f]{64}$/.test(id)) return undefined;
    return id.startsWith('sha256:') ? id : `sha256:${id}`;
  }

  // ---------------------------------------------------------------- build

  build(request: BuildRequest): Promise<FinishedBuild> {
    // One build per stack at a time: a second inspection of the same stack waits, then reuses.
    const previous = this.building.get(request.stackDigest);
    if (previous) request.log.write(`another inspection is building stack ${request.stackDigest}: waiting for it\n`);
    const mine = (previous ?? Promise.resolve()).catch(() => undefined).then(() => this.buildOnce(request));
    this.building.set(request.stackDigest, mine);
    const forget = (): void => {
      if (this.building.get(request.stackDigest) === mine) this.building.delete(request.stackDigest);
    };
    mine.then(forget, forget);
    return mine;
  }

  private async buildOnce(request: BuildRequest): Promise<FinishedBuild> {
    const startedAt = new Date().toISOString();
    const { log, stackDigest } = request;
    const tag = stackImageTag(stackDigest);
    const done = (fields: Partial<FinishedBuild>): FinishedBuild => ({
      state: 'failed', started_at: startedAt, finished_at: new Date().toISOString(), exit_code: null, reason: null, message: null,
      image: null, image_digest: null, stack_digest: stackDigest, cached: false, ...fields,
    });
    log.write(`container executor: ${this.engine} (${this.flavor}); stack ${stackDigest}\n`);
    const existing = await this.imageId(tag);
    if (existing) {
      log.write(`image ${tag} (${existing}) was built before from the same Dockerfile and context: reusing it without a build\n`);
      await this.afterBuild(request, tag);
      return done({ state: 'succeeded', exit_code: 0, image: tag, image_digest: existing, cached: true });
    }
    const root = join(this.options.dataDir, 'builds');
    await mkdir(root, { recursive: true });
    const dir = await mkdtemp(join(root, `${stackDigest.slice(0, 12)}-`));
    try {
      await writeFile(join(dir, 'Dockerfile'), request.dockerfile);
      await writeContext(join(dir, 'context'), request.context);
      const timeoutSeconds = this.options.buildTimeoutSeconds ?? DEFAULT_BUILD_TIMEOUT_SECONDS;
      const args = [
        'build',
        '--file', join(dir, 'Dockerfile'),
        '--tag', tag,
        '--label', `amun.stack=${stackDigest}`,
        '--force-rm',
        ...(this.options.buildNetwork ? ['--network', this.options.buildNetwork] : []),
        ...(this.flavor === 'docker' ? ['--progress', 'plain'] : []),
        join(dir, 'context'),
      ];
      log.write(`$ ${[this.engine, ...this.flags, ...args].join(' ')}\n`);
      // The build must be able to outlive this process: killed mid-way (the server dies, its pipes
      // break) it would leave its working containers behind. So it writes to a file, not a pipe,
      // and `timeout` bounds it (TERM first, so that the engine cleans up) whether we live or not.
      const bounded = hasTimeoutCommand() ? ['timeout', '--kill-after=60', String(timeoutSeconds), this.engine] : [this.engine];
      let result: SpawnResult;
      try {
        result = await run(bounded[0]!, [...bounded.slice(1), ...this.flags, ...args], {
          cwd: this.options.dataDir,
          log,
          outputFile: join(dir, 'output.log'),
          timeoutMs: (timeoutSeconds + (bounded.length > 1 ? 120 : 0)) * 1000,
          ...(request.signal ? { signal: request.signal } : {}),
        });
      } catch (error) {
        const message = `could not start ${this.engine}: ${(error as Error).message}`;
        log.write(`${message}\n`);
        return done({ reason: 'executor_error', message });
      }
      if (bounded.length > 1 && result.code === 124) result = { ...result, timedOut: true };
      if (result.code !== 0) {
        const message = result.timedOut
          ? `the build ran longer than ${timeoutSeconds} s (AMUN_BUILD_TIMEOUT_SECONDS) and was killed`
          : request.signal?.aborted
            ? 'the build was cancelled'
            : buildFailure(this.engine, result);
        log.write(`\nbuild failed: ${message}\n`);
        return done({ exit_code: result.code, reason: result.timedOut ? 'timeout' : 'build_failed', message });
      }
      const id = await this.imageId(tag);
      if (!id) {
        const message = `${this.engine} build succeeded but image ${tag} cannot be found`;
        log.write(`${message}\n`);
        return done({ exit_code: 0, reason: 'executor_error', message });
      }
      log.write(`built ${tag} (${id})\n`);
      await this.afterBuild(request, tag);
      return done({ state: 'succeeded', exit_code: 0, image: tag, image_digest: id });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Image cleanup after a successful build or reuse. */
  private async afterBuild(request: BuildRequest, tag: string): Promise<void> {
    if (this.cleanup.policy === 'lru') {
      await this.touchImage(request.stackDigest);
      await this.pruneLeastRecentlyUsed(this.cleanup.keep, request.stackDigest);
    } else if (this.cleanup.policy === 'after-run' && !request.spec.script) {
      await this.removeImage(tag, request.log);
    }
  }

  private imagesDir(): string {
    return join(this.options.dataDir, 'images');
  }

  private async touchImage(stackDigest: string): Promise<void> {
    const file = join(this.imagesDir(), stackDigest);
    await mkdir(this.imagesDir(), { recursive: true });
    const now = new Date();
    await utimes(file, now, now).catch(() => writeFile(file, ''));
  }

  /** Keeps the `keep` most recently used stack images (of this data directory); removes the others not in use. */
  private async pruneLeastRecentlyUsed(keep: number, current: string): Promise<void> {
    const names = await readdir(this.imagesDir()).catch(() => [] as string[]);
    const used = await Promise.all(names.map(async (name) => ({ name, at: (await stat(join(this.imagesDir(), name)).catch(() => undefined))?.mtimeMs ?? 0 })));
    used.sort((a, b) => b.at - a.at);
    for (const { name } of used.slice(keep)) {
      if (name === current || !/^[0-9a-f]{64}$/.test(name)) continue;
      const removed = await this.exec(['rmi', stackImageTag(name)]).catch(() => undefined);
      const gone = removed?.code === 0 || !(await this.imageId(stackImageTag(name)));
      if (gone) await rm(join(this.imagesDir(), name), { force: true });
    }
  }

  private async removeImage(tag: string, log?: { write(chunk: string): void }): Promise<void> {
    const removed = await this.exec(['rmi', tag]).catch(() => undefined);
    if (removed?.code === 0) log?.write(`removed image ${tag} (AMUN_IMAGE_CLEANUP=after-run)\n`);
  }

  // ---------------------------------------------------------------- runs

  async runItem(request: RunRequest): Promise<RunOutput> {
    const state = this.inspectionRuns(request);
    state.claimed.add(request.item);
    const slot = state.ahead.get(request.item) ?? this.launch(state, request);
    state.ahead.delete(request.item);
    this.topUp(state, request);
    try {
      return await slot.promise;
    } finally {
      if (finished(state) && !state.cleaned) {
        state.cleaned = true;
        if (this.cleanup.policy === 'after-run' && request.build.image) await this.removeImage(request.build.image);
      }
    }
  }

  private inspectionRuns(request: RunRequest): InspectionRuns {
    let state = this.inspections.get(request.inspectionId);
    if (!state) {
      state = {
        batch: request.spec.batch_size ?? 1,
        parallelism: Math.max(1, request.spec.run?.parallelism ?? 1),
        running: 0,
        next: request.item + 1,
        started: new Set(),
        claimed: new Set(),
        ahead: new Map(),
        cleaned: false,
      };
      this.inspections.set(request.inspectionId, state);
      // The state of finished inspections is kept (a redelivered message must not restart the
      // run-ahead), up to a bound.
      if (this.inspections.size > MAX_INSPECTIONS) {
        for (const [id, other] of this.inspections) {
          if (this.inspections.size <= MAX_INSPECTIONS) break;
          if (finished(other)) this.inspections.delete(id);
        }
      }
    }
    // Outputs whose messages never came (their results were stored before) are dropped.
    const now = Date.now();
    for (const [item, slot] of state.ahead) {
      if (slot.settledAt === undefined || now - slot.settledAt <= UNCLAIMED_TTL_MS) continue;
      state.ahead.delete(item);
      void slot.promise.then((output) => output.release?.()).catch(() => undefined);
    }
    return state;
  }

  private launch(state: InspectionRuns, request: RunRequest): Slot {
    state.running++;
    state.started.add(request.item);
    const slot: Slot = { promise: Promise.resolve(undefined as unknown as RunOutput) };
    slot.promise = this.runContainer(request).finally(() => {
      state.running--;
      slot.settledAt = Date.now();
      this.topUp(state, request);
    });
    return slot;
  }

  /** Starts following items until `parallelism` containers of the inspection run. */
  private topUp(state: InspectionRuns, template: RunRequest): void {
    while (state.running < state.parallelism && state.next < state.batch) {
      const item = state.next++;
      if (state.started.has(item) || state.claimed.has(item)) continue;
      const { signal: _signal, ...rest } = template;
      state.ahead.set(item, this.launch(state, { ...rest, item }));
    }
  }

  /** Runs one item in a container. Never rejects: whatever goes wrong becomes a result with a reason. */
  async runContainer(request: RunRequest): Promise<RunOutput> {
    await this.sweep();
    const startedAt = new Date();
    const script = request.spec.script ?? '';
    const synthetic = (reason: NonNullable<RunReport['reason']>, message: string, stderr = '', exitCode: number | null = null): RunOutput => ({
      result: Buffer.from(JSON.stringify(syntheticResult({
        inspectionId: request.inspectionId, item: request.item, executor: 'container', reason, message, script,
        startedAt, finishedAt: new Date(), hostname: hostname(), stderr, exitCode,
      }))),
      log: Buffer.from(stderr),
    });
    const image = request.build.image_digest ?? request.build.image;
    if (!image) return synthetic('executor_error', 'the build status names no image to run');
    let out: string | undefined;
    let handedOver = false;
    const name = `amun-${request.inspectionId}-${request.item}-${randomBytes(3).toString('hex')}`;
    let killed: 'deadline' | 'cancelled' | undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      killed ??= 'cancelled';
      void this.exec(['kill', name]).catch(() => undefined);
    };
    try {
      const root = join(this.options.dataDir, 'runs');
      await mkdir(root, { recursive: true });
      out = await mkdtemp(join(root, 'run-'));
      // The harness runs as an unprivileged user of the image: it must be able to write here.
      await chmod(out, 0o777);
      const { args, memoryLimit } = this.runArguments(request, name, image, out);
      const grace = this.options.killGraceSeconds ?? KILL_GRACE_SECONDS;
      timer = setTimeout(() => {
        killed ??= 'deadline';
        void this.exec(['kill', name]).catch(() => undefined);
      }, (request.deadlineSeconds + grace) * 1000);
      request.signal?.addEventListener('abort', onAbort, { once: true });
      let result: SpawnResult;
      try {
        // The last resort, should `kill` not end the client: the client itself, two minutes later.
        result = await this.exec(args, { timeoutMs: (request.deadlineSeconds + grace + 120) * 1000 });
      } catch (error) {
        return synthetic('executor_error', `could not start ${this.engine}: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
      }
      const stderr = tail(`${result.stdout}${result.stderr}`);
      if (killed !== undefined || result.code === null || result.timedOut) await this.exec(['rm', '--force', name]).catch(() => undefined);
      const read = async (file: string): Promise<Buffer | undefined> => readFile(join(out!, file)).catch(() => undefined);
      const [resultFile, hwinfo, logStat] = await Promise.all([read('result'), read('hwinfo'), stat(join(out, 'log')).catch(() => undefined)]);
      if (resultFile) {
        const dir = out;
        handedOver = true;
        return {
          result: annotateOom(resultFile, memoryLimit),
          log: logStat ? { path: join(dir, 'log'), size: logStat.size } : Buffer.alloc(0),
          ...(hwinfo ? { hwinfo } : {}),
          release: () => rm(dir, { recursive: true, force: true }),
        };
      }
      const exit = result.code;
      if (killed === 'deadline') {
        return synthetic('deadline', `the container ran past the deadline of ${request.deadlineSeconds} s and ${grace} s of grace without a result and was killed`, stderr);
      }
      if (killed === 'cancelled') return synthetic('executor_error', 'the run was cancelled and its container killed', stderr);
      if (/"?python3"?: executable file not found|exec: "?python3"?: .*no such file|python3: (?:not found|No such file)/i.test(stderr) || ((exit === 127 || exit === 126) && /python3/.test(stderr))) {
        return synthetic('no_python', `the image has no python3 to run the Amun harness with (${this.engine} exit ${exit}); use a base image with python3 or add it with \`packages\``, stderr);
      }
      if (exit === 137) {
        const limit = memoryLimit !== undefined ? ` of ${memoryLimit} bytes` : '';
        return synthetic('oom', `the container was killed (SIGKILL, exit 137) before the harness wrote a result: the kernel's OOM killer at the memory limit${limit}`, stderr, exit);
      }
      if (exit === 125) return synthetic('executor_error', `${this.engine} could not run the container (exit 125)`, stderr);
      return synthetic('harness_error', `the harness wrote no result (container exit ${exit ?? result.signal})`, stderr, null);
    } catch (error) {
      return synthetic('executor_error', `the container executor failed: ${(error as Error).message}`);
    } finally {
      if (timer) clearTimeout(timer);
      if (out && !handedOver) await rm(out, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** The `run` arguments of one item. */
  runArguments(request: RunRequest, name: string, image: string, outputDir: string): { args: string[]; memoryLimit: number | undefined } {
    const requests = request.spec.run?.requests ?? {};
    const args = ['run', '--rm', '--name', name, '--label', `amun.inspection=${request.inspectionId}`, '--label', `amun.item=${request.item}`, '--label', `amun.owner=${this.owner}`, '--pull', 'never'];
    if (request.spec.run?.network !== true) args.push('--network', 'none');
    if (requests.cpu !== undefined) args.push('--cpus', cpusFlag(requests.cpu));
    let memoryLimit: number | undefined;
    if (requests.memory !== undefined) {
      memoryLimit = memoryBytes(requests.memory);
      args.push('--memory', String(memoryLimit), '--memory-swap', String(memoryLimit));
    }
    if (requests.gpu !== undefined) {
      // podman: CDI devices (nvidia-ctk cdi generate); docker: the NVIDIA container toolkit.
      if (this.flavor === 'docker') args.push('--gpus', String(requests.gpu.count));
      else for (let i = 0; i < requests.gpu.count; i++) args.push('--device', `nvidia.com/gpu=${i}`);
    }
    args.push('--cap-drop', 'ALL', '--security-opt', 'no-new-privileges');
    for (const { name: variable, value } of request.spec.environment ?? []) args.push('--env', `${variable}=${value}`);
    const output = this.options.output ?? DEFAULT_OUTPUT_LIMITS;
    args.push(
      '--env', `AMUN_ITEM=${request.item}`,
      '--env', `AMUN_INSPECTION_ID=${request.inspectionId}`,
      '--env', 'AMUN_EXECUTOR_KIND=container',
      '--env', `AMUN_DEADLINE_SECONDS=${request.deadlineSeconds}`,
      '--env', `AMUN_OUTPUT_LIMIT_BYTES=${output.logBytes}`,
      '--env', `AMUN_RESULT_OUTPUT_LIMIT_BYTES=${output.resultBytes}`,
      '--volume', `${outputDir}:${IMAGE_PATHS.output}${this.flavor === 'podman' ? ':Z' : ''}`,
      image,
    );
    return { args, memoryLimit };
  }
}

let timeoutCommand: boolean | undefined;

/** Whether coreutils' `timeout` is here (it bounds builds that outlive the server). */
function hasTimeoutCommand(): boolean {
  timeoutCommand ??= spawnSync('timeout', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  return timeoutCommand;
}

/** Removes the entries of `dir` last changed more than `ageMs` ago. */
function removeOlderThan(dir: string, ageMs: number): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (now - statSync(path).mtimeMs > ageMs) rmSync(path, { recursive: true, force: true });
    } catch {
      /* gone */
    }
  }
}

function tail(text: string): string {
  return text.length > STDERR_KEEP ? text.slice(-STDERR_KEEP) : text;
}

/** The package manager's error and the engine's, from a failed build's output. */
function buildFailure(engine: string, result: SpawnResult): string {
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').map((l) => l.trim());
  const tool = lines.find((l) => /^(E: |error: |ERROR: |No match for argument|Error: Unable to find a match)/.test(l));
  const engineLine = [...lines].reverse().find((l) => /^(Error: |ERROR: |error: )/.test(l));
  const parts = [tool, engineLine].filter((l, i, all): l is string => l !== undefined && all.indexOf(l) === i);
  const detail = parts.join('; ').slice(0, 2000);
  return `${engine} build exited with ${result.code ?? result.signal}${detail ? `: ${detail}` : ''}`;
}

/**
 * A script the kernel SIGKILLed (exit -9) that the harness did not kill itself, having used at
 * least half of the container's memory limit: the OOM killer. The report says so.
 */
function annotateOom(result: Buffer, memoryLimit: number | undefined): Buffer {
  if (memoryLimit === undefined) return result;
  let report: RunReport;
  try {
    report = JSON.parse(result.toString('utf8')) as RunReport;
  } catch {
    return result;
  }
  const maxrss = (report.usage?.ru_maxrss ?? 0) * 1024;
  if (report.exit_code !== -9 || report.reason !== null || maxrss < memoryLimit / 2) return result;
  const annotated: RunReport = {
    ...report,
    reason: 'oom',
    message: `the script was killed by SIGKILL after reaching ${maxrss} bytes of resident memory in a container limited to ${memoryLimit} bytes: the kernel's OOM killer`,
  };
  return Buffer.from(`${JSON.stringify(annotated, null, 2)}\n`);
}

async function writeContext(dir: string, context: ReadonlyArray<ContextFile>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of context) {
    if (file.path.split('/').some((s) => s === '..' || s === '') || file.path.startsWith('/')) throw new Error(`unsafe context path ${file.path}`);
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
    await chmod(path, file.mode ?? 0o644);
  }
}
