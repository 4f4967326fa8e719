/**
 * Child processes whose output streams into a log sink, with a deadline. Each child leads its own
 * process group, and the deadline or an abort kills the whole group. What the child prints is
 * kept for the caller only up to CAPTURE_LIMIT per stream (the end of it): a chatty build must not
 * grow the server's memory; the log sink gets everything.
 *
 * With `outputFile`, the child writes to that file instead of a pipe to this process (read back
 * into the log sink as it grows): a child that must be able to outlive this process (an image
 * build that, cut off mid-way, would leave its working containers behind) then does not die of a
 * broken pipe when the server is killed, and finishes and cleans up after itself.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import type { LogSink } from '../../core/ports.js';

/** Bytes of each stream kept in SpawnResult (the last ones). */
export const CAPTURE_LIMIT = 1024 * 1024;

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  log?: LogSink;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with the child's pid (its process group) as soon as it runs. */
  onSpawn?: (pid: number) => void;
  /** stdout and stderr go to this file (created or appended to) instead of pipes; both arrive in `stdout`. */
  outputFile?: string;
}

export interface SpawnResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** The last `limit` bytes of what was written, and whether earlier bytes were dropped. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    const kept = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    const dropped = this.dropped + (all.length - kept.length);
    return (dropped > 0 ? `[… ${dropped} earlier bytes not kept …]\n` : '') + kept.toString('utf8');
  }
}

/** Reads what was appended to a file since the last call. */
class FileFollower {
  private offset = 0;
  private readonly buffer = Buffer.alloc(256 * 1024);
  constructor(private readonly fd: number) {}
  read(onChunk: (chunk: Buffer) => void): void {
    for (;;) {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, this.offset);
      if (n <= 0) return;
      this.offset += n;
      onChunk(Buffer.from(this.buffer.subarray(0, n)));
    }
  }
}

export function run(command: string, args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const out = new Tail(CAPTURE_LIMIT);
    const err = new Tail(CAPTURE_LIMIT);
    let fileFd: number | undefined;
    let follower: FileFollower | undefined;
    let poll: NodeJS.Timeout | undefined;
    if (options.outputFile) {
      fileFd = openSync(options.outputFile, 'a+');
      follower = new FileFollower(fileFd);
    }
    const drainFile = (): void => {
      follower?.read((c) => {
        out.push(c);
        options.log?.write(c);
      });
    };
    const closeFile = (): void => {
      if (poll) clearInterval(poll);
      if (fileFd !== undefined) {
        drainFile();
        closeSync(fileFd);
        fileFd = undefined;
      }
    };
    const stdio = fileFd !== undefined ? (['ignore', fileFd, fileFd] as const) : (['ignore', 'pipe', 'pipe'] as const);
    let child;
    try {
      child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [...stdio], detached: true });
    } catch (error) {
      closeFile();
      reject(error as Error);
      return;
    }
    if (fileFd !== undefined) poll = setInterval(drainFile, 250);
    let timedOut = false;
    const kill = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = options.timeoutMs ? setTimeout(() => { timedOut = true; kill(); }, options.timeoutMs) : undefined;
    const onAbort = (): void => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('spawn', () => {
      if (child.pid) options.onSpawn?.(child.pid);
    });
    child.stdout?.on('data', (c: Buffer) => { out.push(c); options.log?.write(c); });
    child.stderr?.on('data', (c: Buffer) => { err.push(c); options.log?.write(c); });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      closeFile();
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      closeFile();
      resolve({ code, signal, timedOut, stdout: out.text(), stderr: err.text() });
    });
  });
}
