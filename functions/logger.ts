/**
 * One structured JSON logger (Powertools). Every line carries the stage; handlers append the
 * inspection id while they work on one.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export type Stage = 'api' | 'ingest' | 'build' | 'schedule' | 'run' | 'index' | 'reconcile' | 'local';

const level = (process.env.AMUN_LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO').toUpperCase();

export function makeLogger(stage: Stage): Logger {
  return new Logger({
    serviceName: 'amun',
    logLevel: level as never,
    persistentKeys: { stage },
  });
}

export type { Logger };
