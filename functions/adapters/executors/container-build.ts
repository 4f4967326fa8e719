/**
 * Image builds of the container executor. The stored Dockerfile and context go to a temporary
 * directory and the engine builds them into `localhost/amun/stack:<stack digest>`; its output
 * streams into build/log while it runs. An image with that tag means the stack was built before
 * (by any inspection): it is reused without a build (`cached: true`). Builds of one stack in this
 * process are serialized, so two inspections submitted together build once.
 *
 * A build outlives its server: it writes to a file, not a pipe (a pipe broken by the server's
 * death would kill it half-way and leave its working containers behind), under `timeout` (TERM
 * first, so that the engine cleans up). Directories of builds older than any build can run are
 * removed when the executor starts.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildRequest, FinishedBuild } from '../../core/ports.js';
import { writeContext } from './context-files.js';
import type { ContainerEngine } from './container-engine.js';
import { stackImageTag, type StackImages } from './container-images.js';
import { DEFAULT_BUILD_TIMEOUT_SECONDS } from './container-options.js';
import { run, type SpawnResult } from './spawn.js';

export interface BuilderOptions {
  /** Build directories live under `<dir>`. */
  dir: string;
  network?: string | undefined;
  timeoutSeconds?: number | undefined;
}

export class StackBuilder {
  private readonly building = new Map<string, Promise<FinishedBuild>>();
  private readonly timeoutSeconds: number;

  constructor(
    private readonly engine: ContainerEngine,
    private readonly images: StackImages,
    private readonly options: BuilderOptions,
  ) {
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_BUILD_TIMEOUT_SECONDS;
    // Builds of a server that died here may still be running: their directories go only once
    // they are older than any build can run.
    removeOlderThan(options.dir, (this.timeoutSeconds + 600) * 1000);
  }

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
    const { engine } = this;
    const startedAt = new Date().toISOString();
    const { log, stackDigest } = request;
    const tag = stackImageTag(stackDigest);
    const done = (fields: Partial<FinishedBuild>): FinishedBuild => ({
      state: 'failed', started_at: startedAt, finished_at: new Date().toISOString(), exit_code: null, reason: null, message: null,
      image: null, image_digest: null, stack_digest: stackDigest, cached: false, ...fields,
    });
    log.write(`container executor: ${engine.binary} (${engine.flavor}); stack ${stackDigest}\n`);
    const existing = await engine.imageId(tag);
    if (existing) {
      log.write(`image ${tag} (${existing}) was built before from the same Dockerfile and context: reusing it without a build\n`);
      await this.images.built(stackDigest, !!request.spec.script, log);
      return done({ state: 'succeeded', exit_code: 0, image: tag, image_digest: existing, cached: true });
    }
    await mkdir(this.options.dir, { recursive: true });
    const dir = await mkdtemp(join(this.options.dir, `${stackDigest.slice(0, 12)}-`));
    try {
      await writeFile(join(dir, 'Dockerfile'), request.dockerfile);
      await writeContext(join(dir, 'context'), request.context);
      const args = [
        'build',
        '--file', join(dir, 'Dockerfile'),
        '--tag', tag,
        '--label', `amun.stack=${stackDigest}`,
        '--force-rm',
        ...(this.options.network ? ['--network', this.options.network] : []),
        ...(engine.flavor === 'docker' ? ['--progress', 'plain'] : []),
        join(dir, 'context'),
      ];
      log.write(`$ ${engine.describe(args)}\n`);
      const bounded = hasTimeoutCommand() ? ['timeout', '--kill-after=60', String(this.timeoutSeconds), engine.binary] : [engine.binary];
      let result: SpawnResult;
      try {
        result = await run(bounded[0]!, [...bounded.slice(1), ...engine.flags, ...args], {
          cwd: engine.cwd,
          log,
          outputFile: join(dir, 'output.log'),
          timeoutMs: (this.timeoutSeconds + (bounded.length > 1 ? 120 : 0)) * 1000,
          ...(request.signal ? { signal: request.signal } : {}),
        });
      } catch (error) {
        const message = `could not start ${engine.binary}: ${(error as Error).message}`;
        log.write(`${message}\n`);
        return done({ reason: 'executor_error', message });
      }
      if (bounded.length > 1 && result.code === 124) result = { ...result, timedOut: true };
      if (result.code !== 0) {
        const message = result.timedOut
          ? `the build ran longer than ${this.timeoutSeconds} s (AMUN_BUILD_TIMEOUT_SECONDS) and was killed`
          : request.signal?.aborted
            ? 'the build was cancelled'
            : buildFailure(engine.binary, result);
        log.write(`\nbuild failed: ${message}\n`);
        return done({ exit_code: result.code, reason: result.timedOut ? 'timeout' : 'build_failed', message });
      }
      const id = await engine.imageId(tag);
      if (!id) {
        const message = `${engine.binary} build succeeded but image ${tag} cannot be found`;
        log.write(`${message}\n`);
        return done({ exit_code: 0, reason: 'executor_error', message });
      }
      log.write(`built ${tag} (${id})\n`);
      await this.images.built(stackDigest, !!request.spec.script, log);
      return done({ state: 'succeeded', exit_code: 0, image: tag, image_digest: id });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * What a failing package manager says, first line only: apt's `E: `, pip's `ERROR: `, dnf's and
 * yum's, and micropipenv's refusals of a lock (`install --deploy`: a `_meta.hash` that is not the
 * Pipfile's, another Python version), which it logs without a prefix of its own.
 */
const TOOL_ERROR = /^(?:E: |error: |ERROR: |No match for argument|Error: Unable to find a match)|Pipfile\.lock hash .* aborting deployment$|Running Python version \S+, but Pipfile\.lock requires Python version/;

/** The package manager's error and the engine's, from a failed build's output. */
function buildFailure(engine: string, result: SpawnResult): string {
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').map((l) => l.trim());
  const tool = lines.find((l) => TOOL_ERROR.test(l));
  const engineLine = [...lines].reverse().find((l) => /^(Error: |ERROR: |error: )/.test(l));
  const parts = [tool, engineLine].filter((l, i, all): l is string => l !== undefined && all.indexOf(l) === i);
  const detail = parts.join('; ').slice(0, 2000);
  return `${engine} build exited with ${result.code ?? result.signal}${detail ? `: ${detail}` : ''}`;
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
