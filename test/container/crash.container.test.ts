/**
 * The container executor survives its server being killed (SIGKILL, no chance to clean up) in
 * the middle of a build and in the middle of a run: started again on the same data directory, it
 * finishes the inspection with exactly one result per item and one completion message, and no
 * container of the inspection, no engine process and no stack image beside the inspection's own
 * is left behind. A build cut off by its server's death goes on by itself and ends (killed mid-way
 * it would leave its working containers behind).
 *
 * Needs podman (or docker) and the local base image, as the other container tests; fails under CI
 * without them.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../functions/adapters/executors/spawn.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { serve, type Served } from '../support/serve.js';
import { api, drain, tempDir, waitFor } from '../support/stack.js';

const LONG = 10 * 60_000;

/** Pids of engine processes (and their wrappers) whose command line names a path under `dir`. */
function enginesWorkingIn(dir: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && cmd.some((arg) => arg.startsWith(dir)) && /podman|docker|timeout|buildah/.test(cmd[0] ?? '')) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

function running(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

describeWithEngine('container executor: a server killed mid-build and mid-run', (engine) => {
  const dir = tempDir('amun-crash-');
  const data = join(dir.path, 'data');
  let served: Served | undefined;
  const podman = async (...args: string[]): Promise<string> => {
    const out = await run(engine.engine, [...engine.flags, ...args]);
    if (out.code !== 0) throw new Error(`${engine.engine} ${args.join(' ')}: ${out.stderr}`);
    return out.stdout;
  };
  const lines = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const start = () => serve(data, { env: { AMUN_EXECUTOR: 'container', AMUN_BUILD_NETWORK: 'host' }, timeoutMs: 120_000 });
  const kill = async (): Promise<void> => {
    served!.child.kill('SIGKILL');
    await served!.exited;
  };
  const stackImagesBefore: string[] = [];

  beforeAll(async () => {
    stackImagesBefore.push(...lines(await podman('images', '--format', '{{.Repository}}:{{.Tag}}', 'localhost/amun/stack')));
  }, LONG);
  afterAll(async () => {
    if (served && served.child.exitCode === null) {
      served.child.kill('SIGTERM');
      await served.exited;
    }
    dir.remove();
  }, LONG);

  it('finishes with one result per item and one completion message, leaving no container or image behind', async () => {
    served = await start();
    const nonce = randomBytes(6).toString('hex');
    const spec = {
      base: BASE_IMAGE,
      identifier: 'crash',
      batch_size: 2,
      update: true,
      packages: ['jq'],
      files: [{ path: '/opt/crash/nonce', content: nonce }],
      script: 'import json, time\ntime.sleep(15)\nprint(json.dumps({"ok": True}))\n',
    };
    const submitted = await api(served.apiUrl, 'POST', '/api/v1/inspect', spec);
    expect(submitted.status).toBe(202);
    const id = submitted.body.inspection_id as string;

    // Mid-build: the engine is building (its output streams into the build log).
    await waitFor('the build to start', async () => {
      const log = await api(served!.apiUrl, 'GET', `/api/v1/inspect/${id}/build/log`);
      return log.status === 200 && /STEP|Step/.test(log.body.log) ? true : undefined;
    }, 120_000, 200);
    const builds = enginesWorkingIn(join(data, 'container', 'builds'));
    expect(builds.length).toBeGreaterThan(0);
    await kill();
    // The build goes on without its server (cut off mid-way it would leave its working containers
    // behind), and ends by itself.
    await new Promise((r) => setTimeout(r, 1000));
    expect(builds.filter(running)).toEqual(builds);
    await waitFor('the orphaned build to end by itself', async () => (builds.some(running) ? undefined : true), 600_000, 500);

    // Mid-run: a container of the inspection is running (for 15 s).
    served = await start();
    const orphans = await waitFor('a run container', async () => {
      const running = lines(await podman('ps', '--quiet', '--no-trunc', '--filter', `label=amun.inspection=${id}`));
      return running.length > 0 ? running : undefined;
    }, 600_000, 250);
    await kill();

    // Started again, the executor removes the container the dead server left running, long before
    // its script would have ended by itself.
    served = await start();
    await waitFor('the orphaned container to be removed', async () => {
      const all = lines(await podman('ps', '--all', '--quiet', '--no-trunc', '--filter', `label=amun.inspection=${id}`));
      return orphans.some((c) => all.includes(c)) ? undefined : true;
    }, 10_000, 200);
    const status = await waitFor('the inspection to finish', async () => {
      const s = await api(served!.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 600_000, 500);
    expect(status.workflow).toMatchObject({ state: 'succeeded', items_done: 2, items_failed: 0 });
    for (const item of [0, 1]) {
      const result = await api(served.apiUrl, 'GET', `/api/v1/inspect/${id}/job/${item}/result`);
      expect(result.body.result).toMatchObject({ exit_code: 0, reason: null, executor: 'container', stdout: { ok: true } });
    }
    const completions = (await drain({ storageEndpoint: served.storage }, served.completions)) as Array<{ inspection_id: string }>;
    expect(completions.filter((m) => m.inspection_id === id)).toHaveLength(1);

    // Nothing left behind: no container of the inspection, no engine process working in this data
    // directory, and of the stack images of its stack (the nonce makes it this test's alone; other
    // suites build theirs meanwhile) only the one the inspection ran on.
    await waitFor('its containers to be gone', async () => (lines(await podman('ps', '--all', '--quiet', '--filter', `label=amun.inspection=${id}`)).length === 0 ? true : undefined), 60_000, 500);
    expect(enginesWorkingIn(data)).toEqual([]);
    const final = (await api(served.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
    expect(final.workflow.state).toBe('succeeded');
    const ranOn = final.build.container as string;
    const stack = (await podman('image', 'inspect', '--format', '{{index .Labels "amun.stack"}}', ranOn)).trim();
    expect(stack).toMatch(/^[0-9a-f]{64}$/);
    const ours = lines(await podman('images', '--filter', 'reference=localhost/amun/stack', '--filter', `label=amun.stack=${stack}`, '--format', '{{.Repository}}:{{.Tag}}'));
    expect(ours).toEqual([ranOn]);
    expect(stackImagesBefore).not.toContain(ranOn);
    for (const image of ours) await podman('rmi', image).catch(() => '');
  }, LONG * 2);
});
