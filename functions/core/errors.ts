/** Typed errors of the domain. HTTP mapping happens only at the edge (functions/api/errors.ts). */

export interface Problem {
  /** JSON Pointer of the offending value ('' for the whole document). */
  path: string;
  message: string;
}

export class AmunError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input is wrong: the caller can fix it. Carries every problem found, not just the first. */
export class SpecificationError extends AmunError {
  readonly problems: Problem[];
  constructor(message: string, problems: Problem[], options?: { cause?: unknown }) {
    super(message, options);
    this.problems = problems;
  }
}

export class NotFoundError extends AmunError {}

/** A script URL could not be fetched under the configured policy. */
export class ScriptFetchError extends SpecificationError {}

/** A stored object or message does not match its schema: a bug or tampering, never the caller's fault. */
export class CorruptDataError extends AmunError {}

/** The executor could not do its work (engine missing, crashed). */
export class ExecutorError extends AmunError {}
