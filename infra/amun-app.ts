/**
 * The CDK app, built the same way by `infra/app.ts` (cdk synth/deploy) and by the tests: CDK's
 * recommended feature flags (what `cdk init` writes, overridable from cdk.json or `-c`), the context
 * read and checked, one stack, and the cdk-nag packs as policy-validation plugins.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { App, Validations } from 'aws-cdk-lib';
import { readContext, type AmunContext } from './context.js';
import { nagPacks } from './nag.js';
import { AmunStack } from './stack.js';

const require = createRequire(import.meta.url);

/** The flags a new CDK project starts with. */
export function recommendedFeatureFlags(): Record<string, unknown> {
  return JSON.parse(readFileSync(require.resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8')) as Record<string, unknown>;
}

export interface CreateAppOptions {
  /** Context values, as `-c key=value` would give them. */
  context?: Record<string, unknown>;
  outdir?: string;
  /** Register the cdk-nag packs as synthesis-time validation plugins (default true). */
  nag?: boolean;
  /** Skip esbuild for every stack (template-only tests); default: bundle. */
  bundle?: boolean;
}

export interface AmunApp {
  app: App;
  stack: AmunStack;
  context: AmunContext;
}

export function createApp(options: CreateAppOptions = {}): AmunApp {
  // `context` holds defaults: cdk.json and `-c` values take precedence over them.
  const app = new App({
    context: {
      ...recommendedFeatureFlags(),
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
      ...options.context,
    },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  });
  const context = readContext(app.node);
  const stack = new AmunStack(app, 'Amun', { stackName: `amun-${context.deployment}`, context });
  if (options.nag !== false) Validations.of(app).addPlugins(...nagPacks(app));
  return { app, stack, context };
}
