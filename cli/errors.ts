/** Errors the CLI reports and the exit codes they map to. */

export interface Problem {
  path: string;
  message: string;
}

/** The build failed, a run failed, something was not found or could not be reached. */
export const EXIT_FAILURE = 1;
/** Bad input: an unreadable or invalid specification, a bad option (the API answered 400). */
export const EXIT_BAD_INPUT = 2;
/** `amun compare --fail-on-slower`: a metric is significantly worse. */
export const EXIT_SLOWER = 3;
/** Interrupted by SIGINT or SIGTERM. */
export const EXIT_INTERRUPTED = 130;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    readonly problems: Problem[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Formats an error for the terminal: the message, then each problem as `path: message`. */
export function formatError(error: CliError): string {
  const lines = [`amun: ${error.message}`];
  for (const p of error.problems) lines.push(`  ${p.path === '' ? '(document)' : p.path}: ${p.message}`);
  return `${lines.join('\n')}\n`;
}
