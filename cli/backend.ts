/**
 * Where the CLI talks: a remote API (`--url` / AMUN_URL; every request authorized as `--auth` /
 * AMUN_AUTH says, see auth.ts: AMUN_API_TOKEN as a Bearer token, or an AWS SigV4 signature), or the
 * embedded stack started in-process on a data directory and stopped at the end (with its own token).
 *
 * The embedded stack logs through Powertools, which writes to the process's stdout. The CLI owns
 * the terminal, so before the stack's modules load, its logs are sent to `<data-dir>/amun.log`:
 * POWERTOOLS_DEV makes every Logger use the global console, and the global console is replaced by
 * one that writes to the file (and to stderr too with --verbose). The CLI itself never prints
 * through `console`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { join, resolve } from 'node:path';
import type { LocalStack } from '../local/stack.js';
import { authorizerFor, tokenAuthorizer, NO_AUTH, type AuthMode } from './auth.js';
import { ApiClient, normalizeApiUrl } from './client.js';
import { CliError, EXIT_BAD_INPUT } from './errors.js';

export interface ConnectionOptions {
  url?: string | undefined;
  /** How requests to `url` are authorized (auth.ts); the embedded stack is always asked with its own token. */
  auth?: AuthMode | undefined;
  dataDir: string;
  verbose: boolean;
}

export interface Backend {
  client: ApiClient;
  embedded: boolean;
  /** Where the store keeps an inspection, in words. */
  where(inspectionId: string): string;
  close(): Promise<void>;
}

let logStream: WriteStream | undefined;

/** Sends the logs of everything loaded after this call to `<dataDir>/amun.log`. Call once, before importing the stack. */
export function redirectLogs(dataDir: string, verbose: boolean): string {
  const path = join(dataDir, 'amun.log');
  if (logStream) return path;
  mkdirSync(dataDir, { recursive: true });
  logStream = createWriteStream(path, { flags: 'a' });
  const file = logStream;
  // Powertools in dev mode pretty-prints its JSON records; the file gets one record a line.
  const compact = (chunk: Buffer | string): string => {
    const text = chunk.toString();
    if (!text.startsWith('{')) return text;
    try {
      return `${JSON.stringify(JSON.parse(text))}\n`;
    } catch {
      return text;
    }
  };
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const line = compact(chunk);
      if (verbose) process.stderr.write(line);
      file.write(line, callback);
    },
  });
  process.env.POWERTOOLS_DEV = 'true';
  if (verbose) process.env.AMUN_LOG_LEVEL ??= 'DEBUG';
  globalThis.console = new Console({ stdout: sink, stderr: sink, colorMode: false });
  // Node's warnings (node:sqlite is experimental in Node 22) belong in the log too.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => console.warn(`${warning.name}: ${warning.message}`));
  return path;
}

async function closeLogs(): Promise<void> {
  const stream = logStream;
  if (!stream) return;
  await new Promise<void>((done) => stream.end(done));
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  host?: string | undefined;
  waitTimeSeconds?: number;
  reindexAtStart?: boolean;
}

/**
 * Starts the embedded stack (imported lazily, so that logging is set up first). Its settings come
 * from the environment through the one configuration reader; a malformed variable is bad input.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<LocalStack> {
  const [{ startLocalStack }, { ConfigError }] = await Promise.all([import('../local/stack.js'), import('../functions/config.js')]);
  try {
    return await startLocalStack({
      dataDir: options.dataDir,
      port: options.port,
      ...(options.host ? { host: options.host } : {}),
      ...(options.waitTimeSeconds !== undefined ? { waitTimeSeconds: options.waitTimeSeconds } : {}),
      ...(options.reindexAtStart !== undefined ? { reindexAtStart: options.reindexAtStart } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT_BAD_INPUT);
    throw error;
  }
}

export async function connect(options: ConnectionOptions): Promise<Backend> {
  if (options.url) {
    const client = new ApiClient(options.url, authorizerFor(normalizeApiUrl(options.url), { mode: options.auth, token: process.env.AMUN_API_TOKEN }));
    return {
      client,
      embedded: false,
      where: (id) => `${client.baseUrl}/inspect/${id}`,
      close: async () => {},
    };
  }
  const dataDir = resolve(options.dataDir);
  const logFile = redirectLogs(dataDir, options.verbose);
  let stack: LocalStack;
  try {
    stack = await startEmbedded({ dataDir, port: 0, waitTimeSeconds: 1 });
  } catch (error) {
    await closeLogs();
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot start the embedded stack in ${dataDir}: ${(error as Error).message} (see ${logFile})`);
  }
  const client = new ApiClient(stack.apiUrl, stack.config.apiToken ? tokenAuthorizer(stack.config.apiToken) : NO_AUTH);
  let closed: Promise<void> | undefined;
  return {
    client,
    embedded: true,
    where: (id) => `s3://${stack.config.bucket}/${stack.config.storePrefix}/${id}/ in the embedded store of ${dataDir} (logs: ${logFile})`,
    close: () => {
      closed ??= stack.stop().finally(closeLogs);
      return closed;
    },
  };
}
