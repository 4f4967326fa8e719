/** Lambda entry: wiring only. Configuration is read and checked at cold start. */
import { makeApp } from '../app.js';
import { configFromEnv } from '../config.js';
import { makeReconcileHandler } from './handler.js';

export const handler = makeReconcileHandler(makeApp(configFromEnv()));
