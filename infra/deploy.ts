#!/usr/bin/env node
/**
 * `npm run deploy -- [cdk deploy options]`: checks the cluster the context names (infra/preflight.ts)
 * before anything is created, then runs `cdk deploy` with the same options; on any problem it
 * deploys nothing and says what to do. `npm run preflight -- [-c key=value …]`: the check alone.
 * The context is read as the app reads it: cdk.json, cdk.context.json, then `-c` values.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeAddonCommand, DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { ContextError, readContext } from './context.js';
import { contextFromArgs, judgeCluster, judgeImages, POD_IDENTITY_AGENT, profileFromArgs, type PreflightInput } from './preflight.js';

const ROOT = join(import.meta.dirname, '..');
const CHECK_ONLY = '--check-only';

function fileContext(name: string, pick: (json: any) => unknown): Record<string, unknown> {
  const path = join(ROOT, name);
  if (!existsSync(path)) return {};
  return (pick(JSON.parse(readFileSync(path, 'utf8'))) ?? {}) as Record<string, unknown>;
}

async function describe(name: string, profile: string | undefined): Promise<Pick<PreflightInput, 'region' | 'described' | 'podIdentityAgent'>> {
  // The region `cdk deploy` uses: AWS_REGION, AWS_DEFAULT_REGION, else the profile's.
  const envRegion = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  const client = new EKSClient({ ...(envRegion ? { region: envRegion } : {}), ...(profile ? { profile } : {}) });
  const region = await client.config.region().catch(() => undefined);
  if (!region) return { region: undefined, described: undefined };
  try {
    const out = await client.send(new DescribeClusterCommand({ name }));
    if (!out.cluster) return { region, described: { error: { name: 'ResourceNotFoundException' } } };
    const podIdentityAgent = await client.send(new DescribeAddonCommand({ clusterName: name, addonName: POD_IDENTITY_AGENT })).then(
      (addon) => ({ status: addon.addon?.status }),
      (error: { name?: string; message?: string }) => ({ error: { name: error.name ?? 'Error', message: error.message } }),
    );
    return { region, described: { cluster: out.cluster }, podIdentityAgent };
  } catch (error) {
    const e = error as { name?: string; message?: string };
    return { region, described: { error: { name: e.name ?? 'Error', message: e.message } } };
  } finally {
    client.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  const checkOnly = argv.includes(CHECK_ONLY);
  const args = argv.filter((a) => a !== CHECK_ONLY);
  const values = { ...fileContext('cdk.json', (j) => j.context), ...fileContext('cdk.context.json', (j) => j), ...contextFromArgs(args) };
  const context = readContext({ tryGetContext: (key: string) => values[key] });

  const looked = await describe(context.cluster.name, profileFromArgs(args));
  const verdict = judgeCluster({ cluster: { name: context.cluster.name, endpoint: context.cluster.endpoint }, ...looked });
  verdict.problems.push(...judgeImages(context.cluster));
  if (verdict.found) console.error(`preflight: ${verdict.found}`);
  for (const warning of verdict.warnings) console.error(`preflight: warning: ${warning}`);
  for (const problem of verdict.problems) console.error(`preflight: ${problem}`);
  if (verdict.problems.length > 0) {
    console.error('preflight: nothing was deployed (docs/DEPLOY.md, "First deployment checklist")');
    return 1;
  }
  if (checkOnly) {
    console.error(`preflight: cluster ${context.cluster.name} is ready for deployment ${context.deployment}`);
    return 0;
  }
  const cdk = spawnSync(join(ROOT, 'node_modules', '.bin', 'cdk'), ['deploy', ...args], { stdio: 'inherit', cwd: ROOT });
  if (cdk.error) throw cdk.error;
  return cdk.status ?? 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // A wrong context value is the user's to fix: its message, without a stack trace.
  if (!(error instanceof ContextError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
