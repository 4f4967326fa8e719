/**
 * `amun serve` (what `npm start` runs) as a child process: started with an environment, ready
 * once it logs `amun is listening`, with the URLs it logged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');

export interface Served {
  child: ChildProcess;
  apiUrl: string;
  storage: string;
  completions: string;
  /** The pid of the server process (the one that logged). */
  pid: number;
  exited: Promise<number | null>;
  output(): string;
}

export interface ServeOptions {
  env?: Record<string, string>;
  args?: string[];
  /** Command and arguments to start instead of `node bin/amun.js serve` (e.g. npm start). */
  command?: [string, ...string[]];
  timeoutMs?: number;
}

/** The environment of a served stack: the test's own, without anything AMUN_ it may carry, plus `env`. */
export function serveEnvironment(dataDir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(base)) if (name.startsWith('AMUN_') || name === 'PORT') delete base[name];
  return { ...base, PORT: '0', AMUN_DATA_DIR: dataDir, AMUN_EXECUTOR: 'process', AMUN_WAIT_SECONDS: '1', AMUN_LOG_LEVEL: 'INFO', ...env };
}

export function serve(dataDir: string, options: ServeOptions = {}): Promise<Served> {
  const [command, ...args] = options.command ?? [NODE, 'bin/amun.js', 'serve', ...(options.args ?? [])];
  const child = spawn(command, args, { cwd: ROOT, env: serveEnvironment(dataDir, options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let all = '';
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`amun serve did not start in time:\n${all}`)), options.timeoutMs ?? 60_000);
    child.stderr!.on('data', (c: Buffer) => (all += c.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      all += chunk.toString();
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('amun is listening')) continue;
        const entry = JSON.parse(line) as { api: string; storage: string; completions: string; pid: number };
        clearTimeout(timer);
        resolve({ child, apiUrl: entry.api.replace(/\/api\/v1$/, ''), storage: entry.storage, completions: entry.completions, pid: entry.pid, exited, output: () => all });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`amun serve exited with ${code}:\n${all}`));
    });
  });
}

/** Whether a process exists. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
