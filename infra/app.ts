#!/usr/bin/env node
/**
 * CDK entry: `npm run synth` (offline, default context), `npx cdk deploy` (docs/DEPLOY.md).
 * Context values come from cdk.json and `-c key=value`; infra/context.ts lists them with defaults.
 */
import { createApp } from './amun-app.js';
import { ContextError } from './context.js';

try {
  createApp().app.synth();
} catch (error) {
  // A wrong context value is the user's to fix: its message, without a stack trace.
  if (!(error instanceof ContextError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
