/**
 * Configuration of the container executor, read once from the environment and checked (a bad
 * value fails at start-up with the variable's name), and detection of a container engine that
 * answers. The binary alone proves nothing (a docker CLI without a daemon is common): an engine
 * is usable when `<engine> info` exits 0.
 *
 *   AMUN_CONTAINER_ENGINE        binary (name or path) of podman or docker; default: the first of
 *                                podman, docker whose `info` answers
 *   AMUN_CONTAINER_FLAGS         extra global flags put before every subcommand, split on
 *                                whitespace, or a JSON array of strings
 *                                (e.g. `--runtime runc --cgroup-manager cgroupfs`)
 *   AMUN_BUILD_NETWORK           `--network` of image builds (host, none, a network name);
 *                                default: the engine's own
 *   AMUN_BUILD_TIMEOUT_SECONDS   a build running longer is killed (reason timeout); default 1800
 *   AMUN_IMAGE_CLEANUP           keep (default): stack images stay, for reuse by later inspections;
 *                                after-run: an inspection's image is removed once all its items ran
 *                                (or right after a build with nothing to run);
 *                                lru:N: the N most recently used stack images stay, older go
 */
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { ConfigError, type OutputLimits } from '../../config.js';

export type EngineFlavor = 'podman' | 'docker';

export type ImageCleanup = { policy: 'keep' } | { policy: 'after-run' } | { policy: 'lru'; keep: number };

export interface ContainerExecutorOptions {
  /** Binary of the engine. */
  engine: string;
  /** Global flags before every subcommand. */
  engineFlags: string[];
  /** podman and docker differ in a few flags; named by the binary unless given. */
  flavor?: EngineFlavor;
  /** Build contexts and run output directories live under `<dataDir>`. */
  dataDir: string;
  buildNetwork?: string | undefined;
  buildTimeoutSeconds?: number;
  imageCleanup?: ImageCleanup;
  /** Seconds past the run deadline before the engine kills a container whose harness did not stop it. */
  killGraceSeconds?: number;
  /** How much of each run's output is kept (passed to the harness). */
  output?: OutputLimits;
}

type Env = Record<string, string | undefined>;

export const DEFAULT_BUILD_TIMEOUT_SECONDS = 1800;

export function parseEngineFlags(raw: string | undefined, variable = 'AMUN_CONTAINER_FLAGS'): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const text = raw.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(variable, 'looks like a JSON array but is not valid JSON');
    }
    if (!Array.isArray(parsed) || !parsed.every((f) => typeof f === 'string')) throw new ConfigError(variable, 'must be a JSON array of strings');
    return parsed as string[];
  }
  return text.split(/\s+/);
}

export function parseImageCleanup(raw: string | undefined, variable = 'AMUN_IMAGE_CLEANUP'): ImageCleanup {
  if (raw === undefined || raw === '' || raw === 'keep') return { policy: 'keep' };
  if (raw === 'after-run') return { policy: 'after-run' };
  const lru = /^lru:([0-9]+)$/.exec(raw);
  if (lru && Number(lru[1]) >= 1) return { policy: 'lru', keep: Number(lru[1]) };
  throw new ConfigError(variable, `must be keep, after-run or lru:N (N ≥ 1), got ${JSON.stringify(raw)}`);
}

export function flavorOf(engine: string): EngineFlavor {
  return basename(engine).includes('docker') ? 'docker' : 'podman';
}

const answers = new Map<string, boolean>();

/** Whether `<engine> [flags] info` exits 0 within 20 s; remembered for the life of the process. */
export function engineAnswers(engine: string, flags: ReadonlyArray<string> = []): boolean {
  const key = JSON.stringify([engine, ...flags]);
  let ok = answers.get(key);
  if (ok === undefined) {
    const probe = spawnSync(engine, [...flags, 'info', '--format', '{{json .}}'], { stdio: 'ignore', timeout: 20_000 });
    ok = probe.status === 0;
    answers.set(key, ok);
  }
  return ok;
}

/**
 * The engine to use: AMUN_CONTAINER_ENGINE when set (it must answer), else podman, then docker.
 * Undefined when none answers.
 */
export function detectEngine(env: Env = process.env): { engine: string; flags: string[] } | undefined {
  const flags = parseEngineFlags(env.AMUN_CONTAINER_FLAGS);
  const explicit = env.AMUN_CONTAINER_ENGINE;
  const candidates = explicit ? [explicit] : ['podman', 'docker'];
  for (const engine of candidates) if (engineAnswers(engine, flags)) return { engine, flags };
  return undefined;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(name, `must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * Options from the environment. Throws a ConfigError when a variable is malformed, or when no
 * engine answers (naming AMUN_CONTAINER_ENGINE, the variable that would fix it).
 */
export function containerOptionsFromEnv(dataDir: string, env: Env = process.env): ContainerExecutorOptions {
  const buildTimeoutSeconds = positiveInt(env, 'AMUN_BUILD_TIMEOUT_SECONDS', DEFAULT_BUILD_TIMEOUT_SECONDS);
  const imageCleanup = parseImageCleanup(env.AMUN_IMAGE_CLEANUP);
  const buildNetwork = env.AMUN_BUILD_NETWORK || undefined;
  if (buildNetwork !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(buildNetwork)) {
    throw new ConfigError('AMUN_BUILD_NETWORK', `must be a network name such as host or none, got ${JSON.stringify(buildNetwork)}`);
  }
  const found = detectEngine(env);
  if (!found) {
    const tried = env.AMUN_CONTAINER_ENGINE ? `${env.AMUN_CONTAINER_ENGINE} info` : 'podman info, docker info';
    throw new ConfigError('AMUN_CONTAINER_ENGINE', `names no container engine that answers (tried ${tried}); install podman or start docker, or choose AMUN_EXECUTOR=process`);
  }
  return { engine: found.engine, engineFlags: found.flags, flavor: flavorOf(found.engine), dataDir, buildNetwork, buildTimeoutSeconds, imageCleanup };
}
