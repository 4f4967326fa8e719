/**
 * One structured JSON logger (Powertools). Every line carries the stage; while a handler works on
 * an inspection, every line it logs carries the inspection id (and item) too.
 *
 * Those keys are per invocation, not per logger: handlers of one process run concurrently (the
 * API answers many requests at once, the local stack runs several records of a queue at once),
 * so keys appended to a shared logger would name whichever inspection was appended last. They
 * live in an AsyncLocalStorage scope instead (`withLogKeys`), which follows each invocation's
 * promises and callbacks and nothing else.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { logLevelFromEnv } from './config.js';

export type Stage = 'api' | 'ingest' | 'build' | 'schedule' | 'run' | 'index' | 'reconcile' | 'local';

const scope = new AsyncLocalStorage<LogAttributes>();

/** Runs `fn` with `keys` added to every line any logger writes within it (nested scopes add to the outer ones). */
export function withLogKeys<T>(keys: LogAttributes, fn: () => Promise<T>): Promise<T> {
  return scope.run({ ...scope.getStore(), ...keys }, fn);
}

function withScope(extra: LogItemExtraInput): LogItemExtraInput {
  const keys = scope.getStore();
  return keys ? ([...extra, keys] as LogItemExtraInput) : extra;
}

/** A Powertools logger whose lines carry the keys of the invocation they are written in. */
class ScopedLogger extends Logger {
  override trace(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.trace(input, ...withScope(extra));
  }
  override debug(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.debug(input, ...withScope(extra));
  }
  override info(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.info(input, ...withScope(extra));
  }
  override warn(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.warn(input, ...withScope(extra));
  }
  override error(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.error(input, ...withScope(extra));
  }
  override critical(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    super.critical(input, ...withScope(extra));
  }
}

export function makeLogger(stage: Stage): Logger {
  return new ScopedLogger({
    serviceName: 'amun',
    logLevel: logLevelFromEnv() as never,
    persistentKeys: { stage },
  });
}

export type { Logger };
