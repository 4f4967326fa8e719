/** The real `amun` CLI as a child process (tsx cli/amun.ts) with the process executor and none of the caller's Amun settings. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';

export const repo = process.cwd();
export const tsx = join(repo, 'node_modules', '.bin', 'tsx');

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AMUN_EXECUTOR: 'process', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...extra };
  for (const name of ['AMUN_URL', 'AMUN_DATA_DIR', 'AMUN_API_TOKEN', 'FORCE_COLOR', 'CI']) if (!(name in extra)) delete env[name];
  return env;
}

export function amun(args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['cli/amun.ts', ...args], { cwd: repo, env: childEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`amun ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 50_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}


/**
 * `amun ARGS` in this process (cli/program.ts's main), stdout and stderr captured: for commands
 * that start no embedded stack, without the seconds a child process takes to load.
 */
export async function amunInProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../cli/program.js');
  let stdout = '';
  let stderr = '';
  const writes = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    process.exitCode = undefined;
    const code = await main(['node', 'amun', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    process.exitCode = undefined;
  }
}
