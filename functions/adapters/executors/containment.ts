/**
 * Keeping a host run's processes inside the run (the process executor has no container to do it).
 *
 * Three layers, each covering what the one before cannot:
 * 1. The harness starts as the init of a new PID namespace (`unshare --pid --fork --kill-child
 *    --mount-proc`; with `--user --map-root-user` when not root): everything the script starts,
 *    daemons that left its session included, lives in that namespace and the kernel kills all of
 *    it when the harness exits. Where no namespace can be made, the harness makes itself a child
 *    subreaper instead (entrypoint.py), and refuses to run the script when it cannot do either.
 * 2. The whole chain dies with the server: `setpriv --pdeathsig KILL` makes the kernel kill it
 *    when the server dies, even by SIGKILL.
 * 3. Each running item is recorded in a run file (pid, start time, a random token its processes
 *    carry in their environment). Before an item runs again, and when the executor starts, the
 *    processes of recorded runs whose server is gone are killed: by process group, and by token.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The environment variable every process of a run inherits (the token that finds them again). */
export const RUN_TOKEN_VARIABLE = 'AMUN_RUN_TOKEN';

let prefix: string[] | undefined;

function works(argv: string[]): boolean {
  const probe = spawnSync(argv[0]!, [...argv.slice(1), 'true'], { stdio: 'ignore', timeout: 5000 });
  return probe.status === 0;
}

/**
 * The command prefix that starts the harness contained, probed once: `setpriv --pdeathsig KILL`
 * where setpriv exists, then `unshare` with a PID namespace where one can be made.
 */
export function containmentPrefix(): string[] {
  if (prefix) return prefix;
  const found: string[] = [];
  if (process.platform === 'linux') {
    const setpriv = ['setpriv', '--pdeathsig', 'KILL', '--'];
    if (works(setpriv)) found.push(...setpriv);
    const pid = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', '--'];
    const userPid = ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--mount-proc', '--'];
    if (process.getuid?.() === 0 && works(pid)) found.push(...pid);
    else if (works(userPid)) found.push(...userPid);
  }
  prefix = found;
  return found;
}

/** Whether the prefix makes a PID namespace (the result then says `containment: pid_namespace`). */
export function makesPidNamespace(argv: ReadonlyArray<string>): boolean {
  return argv.includes('unshare');
}

/** The kernel's start time of a process (clock ticks since boot), which tells a pid reused by another process apart. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number, start: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const now = processStart(pid);
  return now !== undefined && now === start;
}

/** Pids of the processes whose environment carries the token. */
function carriers(token: string): number[] {
  const needle = Buffer.from(`${RUN_TOKEN_VARIABLE}=${token}\0`);
  const found: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const name of names) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`).includes(needle)) found.push(Number(name));
    } catch {
      /* gone, or not ours */
    }
  }
  return found;
}

interface RunRecord {
  pid: number;
  start: string | undefined;
  token: string;
  /** The directory the run works in; removed with the run. */
  dir: string;
  server: { pid: number; start: string | undefined };
}

/** Run files of the items running now, under `<dataDir>/running/`. */
export class RunRegistry {
  private readonly dir: string;

  /** `runsRoot`: the only directory whose subdirectories a reaped run's `dir` may name. */
  constructor(
    dataDir: string,
    private readonly runsRoot: string,
  ) {
    this.dir = join(dataDir, 'running');
  }

  newToken(): string {
    return randomBytes(16).toString('hex');
  }

  private file(inspectionId: string, item: number): string {
    return join(this.dir, `${inspectionId}.${item}.json`);
  }

  async record(inspectionId: string, item: number, run: { pid: number; token: string; dir: string }): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const record: RunRecord = { ...run, start: processStart(run.pid), server: { pid: process.pid, start: processStart(process.pid) } };
    await writeFile(this.file(inspectionId, item), JSON.stringify(record));
  }

  async forget(inspectionId: string, item: number): Promise<void> {
    await rm(this.file(inspectionId, item), { force: true });
  }

  /** Ends what an earlier run of the item left (a server killed while it ran); returns the pids killed. */
  async reap(inspectionId: string, item: number): Promise<number[]> {
    return this.reapFile(this.file(inspectionId, item));
  }

  /** Reaps every recorded run whose server is gone (call at start). */
  async sweep(): Promise<number[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const killed: number[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const record = await this.read(join(this.dir, name));
      if (record && alive(record.server.pid, record.server.start)) continue;
      killed.push(...(await this.reapFile(join(this.dir, name))));
    }
    return killed;
  }

  private async read(path: string): Promise<RunRecord | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as RunRecord;
    } catch {
      return undefined;
    }
  }

  private async reapFile(path: string): Promise<number[]> {
    const record = await this.read(path);
    const killed: number[] = [];
    if (record) {
      if (alive(record.pid, record.start)) {
        try {
          process.kill(-record.pid, 'SIGKILL');
          killed.push(record.pid);
        } catch {
          /* already gone */
        }
      }
      // Whatever escaped the group (and, without a namespace, the harness's subreaper) still carries the token.
      for (let round = 0; round < 10; round++) {
        const pids = carriers(record.token);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
            killed.push(pid);
          } catch {
            /* gone */
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (typeof record.dir === 'string' && record.dir.startsWith(`${this.runsRoot}/`) && !record.dir.includes('/../')) {
        await rm(record.dir, { recursive: true, force: true });
      }
    }
    await rm(path, { force: true });
    return [...new Set(killed)];
  }
}
