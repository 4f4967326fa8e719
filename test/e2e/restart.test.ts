/**
 * Killing the local stack (SIGKILL, no chance to flush) after the first result and starting it
 * again on the same data directory finishes the inspection with exactly three results; what the
 * killed server's run had started (harness, script, a daemon of its own) ends with the server.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, drain, tempDir, waitFor } from '../support/stack.js';
import { serve, type Served } from '../support/serve.js';

const start = (dataDir: string): Promise<Served> => serve(dataDir);

/** Pids of this host's processes whose command line matches `pattern`. */
function processes(pattern: string): number[] {
  const re = new RegExp(pattern);
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state !== 'Z' && re.test(cmd)) found.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return found;
}

/** waitFor, failing with the server's log and the inspection's status, to tell why. */
async function waitOrTell<T>(served: Served, id: string, what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs: number): Promise<T> {
  try {
    return await waitFor(what, probe, timeoutMs, everyMs);
  } catch (error) {
    const status = await api(served.apiUrl, 'GET', `/api/v1/inspect/${id}/status`).catch((e: unknown) => ({ text: String(e) }));
    throw new Error(`${(error as Error).message}\nstatus: ${status.text}\nserver log (tail):\n${served.output().slice(-6000)}`, { cause: error });
  }
}

describe('restart after a crash', () => {
  const dir = tempDir();
  // The first item to run (items of an inspection run in no set order) marks itself first and
  // goes on; the others mark themselves waiting and wait for the gate, opened once the server is
  // killed: one of them is surely running when the server dies, however slow the machine.
  const gate = tempDir('amun-restart-gate-');
  const go = join(gate.path, 'go');
  let running: Served | undefined;
  afterAll(async () => {
    writeFileSync(go, '');
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGTERM');
      const stopped = await Promise.race([running.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 20_000).unref())]);
      if (!stopped) running.child.kill('SIGKILL');
    }
    dir.remove();
    gate.remove();
  }, 40_000);

  it('finishes with exactly three results and one completion message', async () => {
    running = await start(dir.path);
    const submitted = await api(running.apiUrl, 'POST', '/api/v1/inspect', {
      base: 'localhost/debian:bookworm',
      identifier: 'restart',
      batch_size: 3,
      // Each run also leaves a daemon of its own, in a session of its own.
      script: [
        'import json, os, subprocess, time',
        'subprocess.Popen(["setsid", "sleep", "171"], start_new_session=True)',
        'time.sleep(1.5)',
        `gate = ${JSON.stringify(gate.path)}`,
        'try:',
        '    os.close(os.open(os.path.join(gate, "first"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))',
        'except FileExistsError:',
        '    open(os.path.join(gate, "waiting-" + os.environ["AMUN_ITEM"]), "w").close()',
        '    until = time.time() + 120',
        '    while not os.path.exists(os.path.join(gate, "go")) and time.time() < until:',
        '        time.sleep(0.05)',
        'print(json.dumps({"ok": True}))',
        '',
      ].join('\n'),
    });
    expect(submitted.status).toBe(202);
    const id = submitted.body.inspection_id as string;
    const served = running;
    await waitOrTell(served, id, 'the first result', async () => ((await api(served.apiUrl, 'GET', `/api/v1/inspect/${id}/job/batch-size`)).body?.batch_size >= 1 ? true : undefined), 60_000, 50);
    // Another item runs now, held at the gate: its harness, script and daemon must not outlive the server.
    await waitOrTell(served, id, 'a second item to run', async () => (readdirSync(gate.path).some((name) => name.startsWith('waiting-')) ? true : undefined), 30_000, 20);
    expect(processes(`--inspection-id ${id}`).length).toBeGreaterThan(0);
    running.child.kill('SIGKILL');
    await running.exited;
    await waitFor('the killed server’s runs to end with it', async () => (processes(`--inspection-id ${id}`).length + processes('^sleep 171').length === 0 ? true : undefined), 10_000, 100);

    writeFileSync(go, '');
    running = await start(dir.path);
    const first = running;
    const status = await waitOrTell(first, id, 'the inspection to finish after the restart', async () => {
      const s = await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 90_000, 200);
    expect(status.workflow).toMatchObject({ state: 'succeeded', items_done: 3, items_failed: 0 });
    for (const item of [0, 1, 2]) expect((await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/job/${item}/result`)).status).toBe(200);
    expect((await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/job/3/result`)).status).toBe(404);
    const completions = await drain({ storageEndpoint: first.storage }, first.completions);
    expect(completions.filter((m) => (m as { inspection_id: string }).inspection_id === id)).toHaveLength(1);
  }, 180_000);
});
