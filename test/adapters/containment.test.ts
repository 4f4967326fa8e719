/**
 * What ends a host run's processes when the server that started them is gone without cleaning
 * up (kill -9): the run files. Real processes: a run's process group and a daemon that left it
 * (its own session) but carries the run's token, recorded as a server that has since died.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_TOKEN_VARIABLE, RunRegistry, containmentPrefix, processStart } from '../../functions/adapters/executors/containment.js';
import { running } from '../support/serve.js';
import { tempDir, waitFor } from '../support/stack.js';

describe('run files', () => {
  const dir = tempDir('amun-runs-');
  afterAll(() => dir.remove());

  /** A "harness" leading its own group, and a daemon that left it, both carrying the token. */
  function startRun(token: string): { group: number; daemon: () => number | undefined } {
    const pidFile = join(dir.path, `${token}.daemon`);
    const child = spawn('sh', ['-c', `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 300' & exec sleep 300`], {
      detached: true,
      stdio: 'ignore',
      env: { PATH: process.env.PATH, [RUN_TOKEN_VARIABLE]: token },
    });
    child.unref();
    return {
      group: child.pid!,
      daemon: () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined),
    };
  }

  /** A pid that is surely not running: a process that has exited. */
  function deadPid(): number {
    return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
  }

  it('sweep ends the runs of a dead server, by group and by token, and removes their directories', async () => {
    const registry = new RunRegistry(join(dir.path, 'a'), join(dir.path, 'a', 'runs'));
    const token = registry.newToken();
    const run = startRun(token);
    await waitFor('the daemon', async () => run.daemon(), 5000, 20);
    const daemon = run.daemon()!;
    const runDir = join(dir.path, 'a', 'runs', 'inspection-x-00000000-0-abc');
    mkdirSync(runDir, { recursive: true });
    await registry.record('inspection-x-00000000', 0, { pid: run.group, token, dir: runDir });
    // The record names this test process as its server: a live server's runs are left alone.
    expect(await registry.sweep()).toEqual([]);
    expect(running(run.group)).toBe(true);
    // Now as if the server had died: rewrite the record with a server that is gone.
    const file = join(dir.path, 'a', 'running', 'inspection-x-00000000.0.json');
    const record = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...record, server: { pid: deadPid(), start: '1' } }));
    const killed = await registry.sweep();
    expect(killed).toEqual(expect.arrayContaining([run.group, daemon]));
    await waitFor('both to be gone', async () => (!alive(run.group) && !alive(daemon) ? true : undefined), 5000, 20);
    expect(existsSync(runDir)).toBe(false);
    expect(existsSync(file)).toBe(false);
  });

  it('reap ends an earlier run of the same item before it runs again; a reused pid is not killed', async () => {
    const registry = new RunRegistry(join(dir.path, 'b'), join(dir.path, 'b', 'runs'));
    const token = registry.newToken();
    const run = startRun(token);
    await waitFor('the daemon', async () => run.daemon(), 5000, 20);
    await registry.record('inspection-y-00000000', 3, { pid: run.group, token, dir: '/etc' });
    expect((await registry.reap('inspection-y-00000000', 3)).sort()).toEqual([run.group, run.daemon()!].sort());
    await waitFor('both to be gone', async () => (!alive(run.group) && !alive(run.daemon()!) ? true : undefined), 5000, 20);
    // A directory outside the runs directory is never removed, whatever a run file says.
    expect(existsSync('/etc')).toBe(true);

    // A record whose pid now belongs to another process (other start time) leaves it alone.
    const other = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    other.unref();
    await registry.record('inspection-y-00000000', 4, { pid: other.pid!, token: registry.newToken(), dir: '' });
    const file = join(dir.path, 'b', 'running', 'inspection-y-00000000.4.json');
    const record = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...record, start: String(Number(processStart(other.pid!)) - 1) }));
    expect(await registry.reap('inspection-y-00000000', 4)).toEqual([]);
    expect(running(other.pid!)).toBe(true);
    process.kill(other.pid!, 'SIGKILL');
  });

  it('starts host runs in a PID namespace that dies with the server where the machine allows it', () => {
    const prefix = containmentPrefix();
    if (process.platform !== 'linux') return void expect(prefix).toEqual([]);
    expect(prefix.slice(0, 4)).toEqual(['setpriv', '--pdeathsig', 'KILL', '--']);
    // As root (CI) the namespace needs no user namespace.
    if (process.getuid?.() === 0) expect(prefix).toEqual(expect.arrayContaining(['unshare', '--pid', '--fork', '--kill-child', '--mount-proc']));
  });
});

function alive(pid: number): boolean {
  if (!running(pid)) return false;
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}
