/**
 * Reading a specification for the CLI: a file path or `-` (stdin), JSON or YAML (YAML 1.2 is a
 * superset of JSON, so one parser reads both). One convenience the API does not know: `script_file`,
 * a path relative to the spec file (to the working directory for stdin), is read and inlined as
 * `script`; the API never sees `script_file`.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { CliError, EXIT_BAD_INPUT, type Problem } from './errors.js';

export interface LoadedSpec {
  /** The specification as the API receives it. */
  spec: Record<string, unknown>;
  /** Where it came from, for messages. */
  source: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON or YAML text; every syntax error becomes a problem with its line and column. */
export function parseSpecText(text: string, source: string): unknown {
  if (text.trim() === '') throw new CliError(`${source} is empty`, EXIT_BAD_INPUT, [{ path: '', message: 'expected a specification object' }]);
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems: Problem[] = doc.errors.map((e) => ({ path: '', message: e.message.split('\n')[0] ?? e.message }));
    throw new CliError(`${source} is not valid YAML or JSON`, EXIT_BAD_INPUT, problems);
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/** Inlines `script_file` (relative to `baseDir`) as `script`. */
export async function inlineScriptFile(spec: Record<string, unknown>, baseDir: string): Promise<Record<string, unknown>> {
  if (!('script_file' in spec)) return spec;
  const { script_file: scriptFile, ...rest } = spec;
  if (typeof scriptFile !== 'string' || scriptFile === '') {
    throw new CliError('invalid specification', EXIT_BAD_INPUT, [{ path: '/script_file', message: 'must be a path to a file (relative to the specification)' }]);
  }
  if ('script' in rest) {
    throw new CliError('invalid specification', EXIT_BAD_INPUT, [{ path: '/script_file', message: 'give either script or script_file, not both' }]);
  }
  const path = resolve(baseDir, scriptFile);
  let script: string;
  try {
    script = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError('invalid specification', EXIT_BAD_INPUT, [{ path: '/script_file', message: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }]);
  }
  return { ...rest, script };
}

/** Reads, parses and prepares a specification given on the command line. */
export async function loadSpec(pathOrDash: string): Promise<LoadedSpec> {
  const fromStdin = pathOrDash === '-';
  const source = fromStdin ? 'standard input' : pathOrDash;
  let text: string;
  try {
    text = fromStdin ? await readStdin() : await readFile(pathOrDash, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT_BAD_INPUT);
  }
  const parsed = parseSpecText(text, source);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`${source} is not a specification`, EXIT_BAD_INPUT, [{ path: '', message: 'expected an object (a mapping) at the top level' }]);
  }
  const baseDir = fromStdin ? process.cwd() : dirname(resolve(pathOrDash));
  return { spec: await inlineScriptFile(parsed as Record<string, unknown>, baseDir), source };
}
