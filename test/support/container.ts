/**
 * Gate for tests that need a real container engine and the local Debian base image.
 *
 * The engine counts when `podman info` / `docker info` answers (AMUN_CONTAINER_ENGINE and
 * AMUN_CONTAINER_FLAGS as the executor reads them). The base image
 * (localhost/amun-test/debian:bookworm) is made by scripts/ci-base-image.sh when it is missing.
 *
 * Outside CI an unusable engine skips these suites with a loud banner; under CI (`CI=true`) each
 * such suite fails with the reason instead, so a broken CI machine never passes quietly.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectEngine } from '../../functions/adapters/executors/container-options.js';

export const BASE_IMAGE = process.env.AMUN_BASE_IMAGE ?? 'localhost/amun-test/debian:bookworm';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface EngineCheck {
  usable: boolean;
  engine: string;
  flags: string[];
  reason: string;
}

let cached: EngineCheck | undefined;

export function checkContainerEngine(): EngineCheck {
  if (cached) return cached;
  const found = detectEngine(process.env);
  if (!found) {
    const tried = process.env.AMUN_CONTAINER_ENGINE ? `${process.env.AMUN_CONTAINER_ENGINE} info` : '`podman info` and `docker info`';
    cached = { usable: false, engine: '', flags: [], reason: `no container engine answers (${tried} failed); run .ci/run or see docs/CONTAINER.md` };
    return cached;
  }
  const { engine, flags } = found;
  const exists = (): boolean => spawnSync(engine, [...flags, 'image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], { stdio: 'ignore' }).status === 0;
  if (!exists()) {
    process.stderr.write(`container tests: ${BASE_IMAGE} is missing; making it with scripts/ci-base-image.sh (about a minute)\n`);
    const made = spawnSync(join(ROOT, 'scripts', 'ci-base-image.sh'), [engine], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 15 * 60_000 });
    if (made.status !== 0 || !exists()) {
      cached = { usable: false, engine, flags, reason: `the base image ${BASE_IMAGE} is missing and scripts/ci-base-image.sh could not make it (needs root, debootstrap and the Debian mirror)` };
      return cached;
    }
  }
  cached = { usable: true, engine, flags, reason: '' };
  return cached;
}

/**
 * `describe` for suites that need the engine: runs them when it is usable; otherwise fails them
 * under CI and skips them (loudly) elsewhere. `also` names another need (e.g. a reachable package
 * index): it returns why it is not met, or undefined; an unmet need counts as an unusable engine.
 */
export function describeWithEngine(name: string, body: (check: EngineCheck) => void, also?: () => string | undefined): void {
  const engine = checkContainerEngine();
  const unmet = engine.usable ? also?.() : undefined;
  const check: EngineCheck = unmet === undefined ? engine : { ...engine, usable: false, reason: unmet };
  if (check.usable) {
    describe(name, () => body(check));
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(unmet === undefined ? 'has a usable container engine (required under CI)' : 'has what it needs (required under CI)', () => {
        throw new Error(`${unmet === undefined ? 'container engine unusable' : 'a need of this suite is not met'} under CI: ${check.reason}`);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  process.stderr.write(`\n${banner}\n!!! SKIPPING "${name}": ${check.reason}\n!!! These end-to-end tests did not run. Under CI (CI=true) they fail instead.\n${banner}\n\n`);
  const skipped = describe.skip;
  skipped(name, () => body(check));
}
