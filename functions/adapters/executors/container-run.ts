/**
 * Runs of the container executor: one container per item, from the image id the build recorded,
 * removed when it exits (`--rm`; `rm -f` as well whenever the runner had to kill it). Each gets
 * the run requests as limits (cpu → --cpus, memory → --memory with no swap), the spec's
 * environment, no network unless `run.network`, no capabilities, and a fresh host directory
 * mounted at the harness's output directory; the harness writes hwinfo, log and result there and
 * the pipeline uploads them (result last), then releases the directory. The harness is the
 * container's init, started as HARNESS_COMMAND says (`python3 -I -S`, whatever the image's
 * entrypoint): every process the script starts ends with the container. The harness
 * enforces the deadline itself (reason `deadline`); should the container outlive deadline +
 * grace, the engine kills it and the runner writes the result. A result the harness could not
 * write is synthesized with a reason: `oom` (the container was SIGKILLed: exit 137 under its
 * memory limit; also a script SIGKILLed near the limit), `no_python` (the image has no python3
 * for the harness), `harness_error`, `executor_error`.
 *
 * Containers carry the inspection, the item and the data directory's owner label; the first run
 * removes every container of this owner a dead server left running.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { DEFAULT_OUTPUT_LIMITS, type OutputLimits } from '../../config.js';
import { HARNESS_COMMAND, IMAGE_PATHS } from '../../core/dockerfile.js';
import type { RunReport } from '../../core/generated/types.js';
import type { RunOutput, RunRequest } from '../../core/ports.js';
import { syntheticResult } from '../../core/results.js';
import { reportedScript } from '../../core/specification.js';
import type { ContainerEngine } from './container-engine.js';
import type { SpawnResult } from './spawn.js';

const KILL_GRACE_SECONDS = 60;
const STDERR_KEEP = 64 * 1024;

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

export interface RunnerOptions {
  /** Output directories live under `<dir>` (emptied when the runner is made: none of ours runs yet). */
  dir: string;
  /** The data directory: its hash is the owner label of this runner's containers. */
  owner: string;
  /** Seconds past the run deadline before the engine kills a container whose harness did not stop it. */
  killGraceSeconds?: number | undefined;
  output?: OutputLimits | undefined;
}

export class ContainerRunner {
  /** Label value naming this data directory: containers it started carry it. */
  private readonly owner: string;
  private swept: Promise<void> | undefined;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly options: RunnerOptions,
  ) {
    this.owner = createHash('sha256').update(resolvePath(options.owner)).digest('hex').slice(0, 16);
  }

  /**
   * Removes containers that a server on this data directory started and left behind (it was
   * killed mid-run): once, before the first run. None of them can be this process's own.
   */
  private sweep(): Promise<void> {
    this.swept ??= (async () => {
      const ids = await this.engine.containers({ 'amun.owner': this.owner });
      if (ids.length > 0) await this.engine.exec(['rm', '--force', ...ids]).catch(() => undefined);
    })();
    return this.swept;
  }

  /** Runs one item in a container. Never rejects: whatever goes wrong becomes a result with a reason. */
  async run(request: RunRequest): Promise<RunOutput> {
    await this.sweep();
    const startedAt = new Date();
    const script = reportedScript(request.spec);
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
      void this.engine.exec(['kill', name]).catch(() => undefined);
    };
    try {
      const root = this.options.dir;
      await mkdir(root, { recursive: true });
      out = await mkdtemp(join(root, 'run-'));
      // The harness runs as an unprivileged user of the image: it must be able to write here.
      await chmod(out, 0o777);
      const { args, memoryLimit } = this.runArguments(request, name, image, out);
      const grace = this.options.killGraceSeconds ?? KILL_GRACE_SECONDS;
      timer = setTimeout(() => {
        killed ??= 'deadline';
        void this.engine.exec(['kill', name]).catch(() => undefined);
      }, (request.deadlineSeconds + grace) * 1000);
      request.signal?.addEventListener('abort', onAbort, { once: true });
      let result: SpawnResult;
      try {
        // The last resort, should `kill` not end the client: the client itself, two minutes later.
        result = await this.engine.exec(args, { timeoutMs: (request.deadlineSeconds + grace + 120) * 1000 });
      } catch (error) {
        return synthetic('executor_error', `could not start ${this.engine.binary}: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
      }
      const stderr = tail(`${result.stdout}${result.stderr}`);
      if (killed !== undefined || result.code === null || result.timedOut) await this.engine.exec(['rm', '--force', name]).catch(() => undefined);
      const read = async (file: string): Promise<Buffer | undefined> => readFile(join(out!, file)).catch(() => undefined);
      const [resultFile, hwinfo, logStat] = await Promise.all([read('result'), read('hwinfo'), stat(join(out, 'log')).catch(() => undefined)]);
      if (resultFile) {
        const dir = out;
        handedOver = true;
        return {
          result: annotateOom(resultFile, memoryLimit),
          log: logStat ? { path: join(dir, 'log'), size: logStat.size } : Buffer.alloc(0),
          ...(hwinfo ? { hwinfo } : {}),
          // The directory goes in the background: nothing waits for it, and waiting took the
          // whole index stage its result had just started (40 ms on 2 cores, for a 1.5 ms
          // removal). One that a dying server leaves goes when the next one starts (container.ts).
          release: () => {
            void rm(dir, { recursive: true, force: true }).catch(() => undefined);
            return Promise.resolve();
          },
        };
      }
      const exit = result.code;
      if (killed === 'deadline') {
        return synthetic('deadline', `the container ran past the deadline of ${request.deadlineSeconds} s and ${grace} s of grace without a result and was killed`, stderr);
      }
      if (killed === 'cancelled') return synthetic('executor_error', 'the run was cancelled and its container killed', stderr);
      if (/"?python3"?: executable file not found|exec: "?python3"?: .*no such file|python3: (?:not found|No such file)/i.test(stderr) || ((exit === 127 || exit === 126) && /python3/.test(stderr))) {
        return synthetic('no_python', `the image has no python3 to run the Amun harness with (${this.engine.binary} exit ${exit}); use a base image with python3 or add it with \`packages\``, stderr);
      }
      if (exit === 137) {
        const limit = memoryLimit !== undefined ? ` of ${memoryLimit} bytes` : '';
        return synthetic('oom', `the container was killed (SIGKILL, exit 137) before the harness wrote a result: the kernel's OOM killer at the memory limit${limit}`, stderr, exit);
      }
      if (exit === 125) return synthetic('executor_error', `${this.engine.binary} could not run the container (exit 125)`, stderr);
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
      if (this.engine.flavor === 'docker') args.push('--gpus', String(requests.gpu.count));
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
      '--volume', `${outputDir}:${IMAGE_PATHS.output}${this.engine.flavor === 'podman' ? ':Z' : ''}`,
      '--entrypoint', HARNESS_COMMAND[0]!,
      image,
      ...HARNESS_COMMAND.slice(1),
    );
    return { args, memoryLimit };
  }
}

function tail(text: string): string {
  return text.length > STDERR_KEEP ? text.slice(-STDERR_KEEP) : text;
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
