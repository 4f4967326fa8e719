#!/usr/bin/env node
/**
 * `npm run deploy -- [cdk deploy options]`: checks the cluster the context names (infra/preflight.ts)
 * before anything is created, then runs `cdk deploy` with the same options; on any problem it
 * deploys nothing and says what to do. `npm run preflight -- [-c key=value …]`: the check alone.
 * The context is read as the app reads it: cdk.json, cdk.context.json, then `-c` values.
 *
 * A cluster found ready also has its nodes listed, with the deploying identity's EKS token (the
 * functions' Role may not list nodes): node labels the preset places by that no node carries are
 * warnings, never a refusal.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeAddonCommand, DescribeClusterCommand, EKSClient, type Cluster } from '@aws-sdk/client-eks';
import { LABEL_PRESETS, type LabelPreset } from '../functions/adapters/kubernetes/manifests/placement.js';
import { DEFAULT_K8S_TIMEOUT_SECONDS } from '../functions/config.js';
import { ContextError, readContext } from './context.js';
import { contextFromArgs, judgeCluster, judgeImages, judgePlacementNodes, POD_IDENTITY_AGENT, profileFromArgs, type NodeListing, type PreflightInput } from './preflight.js';

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

/** The cluster's nodes (and NodePools, for an autoscaler's preset), listed with the deploying identity. */
async function listNodes(name: string, region: string, cluster: Cluster, profile: string | undefined, preset: LabelPreset): Promise<NodeListing> {
  if (!cluster.endpoint || !cluster.certificateAuthority?.data) return { error: { message: 'DescribeCluster gave no endpoint or CA' } };
  const [{ defaultProvider }, { eksConfig, readNodes }] = await Promise.all([import('@aws-sdk/credential-provider-node'), import('../functions/adapters/kubernetes/kube-api.js')]);
  const source = eksConfig({
    clusterName: name,
    endpoint: cluster.endpoint,
    caData: cluster.certificateAuthority.data,
    region,
    credentials: defaultProvider(profile ? { profile } : {}),
    clock: { now: () => new Date() },
  });
  try {
    return await readNodes(source, { timeoutSeconds: DEFAULT_K8S_TIMEOUT_SECONDS, nodePools: LABEL_PRESETS[preset].provisioner !== undefined });
  } catch (error) {
    return { error: { message: (error as Error).message, status: (error as { status?: number }).status } };
  }
}

async function main(argv: string[]): Promise<number> {
  const checkOnly = argv.includes(CHECK_ONLY);
  const args = argv.filter((a) => a !== CHECK_ONLY);
  const values = { ...fileContext('cdk.json', (j) => j.context), ...fileContext('cdk.context.json', (j) => j), ...contextFromArgs(args) };
  const context = readContext({ tryGetContext: (key: string) => values[key] });

  const profile = profileFromArgs(args);
  const looked = await describe(context.cluster.name, profile);
  const verdict = judgeCluster({ cluster: { name: context.cluster.name, endpoint: context.cluster.endpoint }, ...looked });
  // Nodes only of a cluster found ready: one that is not would refuse the listing too.
  const nodes =
    verdict.problems.length === 0 && looked.region && looked.described && 'cluster' in looked.described
      ? judgePlacementNodes(context.cluster.name, context.cluster.labelPreset, await listNodes(context.cluster.name, looked.region, looked.described.cluster, profile, context.cluster.labelPreset))
      : undefined;
  verdict.warnings.push(...(nodes?.warnings ?? []));
  verdict.problems.push(...judgeImages(context.cluster));
  if (verdict.found) console.error(`preflight: ${verdict.found}`);
  if (nodes?.found) console.error(`preflight: ${nodes.found}`);
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
