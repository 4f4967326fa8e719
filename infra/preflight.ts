/**
 * Before `cdk deploy` creates anything: is the cluster the context names there, in the region the
 * stack goes to, and can the stack's access entries and the functions' calls work on it? A pure
 * judgement of EKS DescribeCluster's answer (or the error it threw); infra/deploy.ts makes the call
 * and refuses to deploy on any problem. docs/DEPLOY.md, "First deployment checklist".
 */
import type { Cluster } from '@aws-sdk/client-eks';
import { LABEL_PRESETS, type LabelPreset } from '../functions/adapters/kubernetes/manifests/placement.js';
import { DEFAULT_BUILDER_IMAGE, DEFAULT_UPLOADER_IMAGE, DIGEST_PINNED } from '../functions/adapters/kubernetes/manifests/settings.js';
import { judgeNodes, type NodeFacts, type NodePoolListing } from '../functions/adapters/kubernetes/model/placement-check.js';

/** Run pods use native sidecars and `backoffLimitPerIndex`, on by default from 1.29 (docs/KUBERNETES.md). */
export const MIN_KUBERNETES_VERSION = [1, 29] as const;

/** Authentication modes that accept access entries (the stack creates one per function that calls the cluster). */
const ACCESS_ENTRY_MODES: ReadonlySet<string> = new Set(['API', 'API_AND_CONFIG_MAP']);

export interface PreflightInput {
  /** The cluster as the context names it (`eksClusterName`, and `eksClusterEndpoint` when given). */
  cluster: { name: string; endpoint?: string | undefined };
  /** The region the stack deploys to (where DescribeCluster was asked); undefined when none is configured. */
  region: string | undefined;
  /** DescribeCluster's answer in that region, or the error it threw (`name` as the SDK sets it). */
  described: { cluster: Cluster } | { error: { name: string; message?: string | undefined } } | undefined;
  /**
   * DescribeAddon of `eks-pod-identity-agent`: the build pods' AWS identity is an EKS Pod Identity
   * association, which gives no credentials without the agent on the nodes. Undefined: not asked.
   */
  podIdentityAgent?: { status: string | undefined } | { error: { name: string; message?: string | undefined } } | undefined;
}

export const POD_IDENTITY_AGENT = 'eks-pod-identity-agent';

export interface Verdict {
  /** What stops the deployment, each with what to do about it. */
  problems: string[];
  /** What may fail later, said before the deployment goes on. */
  warnings: string[];
  /** One line on the cluster as found, when it was. */
  found?: string;
}

/**
 * The images the cluster's own pods run (kaniko, the upload sidecar): the functions refuse tags at
 * cold start, so the deployment refuses them first, with the context keys that fix it.
 */
export function judgeImages(images: { builderImage?: string | undefined; uploaderImage?: string | undefined; allowUnpinnedImages: boolean }): string[] {
  if (images.allowUnpinnedImages) return [];
  const problems: string[] = [];
  for (const [key, image] of [['builderImage', images.builderImage ?? DEFAULT_BUILDER_IMAGE], ['uploaderImage', images.uploaderImage ?? DEFAULT_UPLOADER_IMAGE]] as const) {
    if (DIGEST_PINNED.test(image)) continue;
    problems.push(`${image} (-c ${key}) is named by tag only, which the functions refuse: resolve it (\`crane digest ${image}\`, after mirroring it to your ECR if you like) and deploy with -c ${key}=<image>:<tag>@sha256:<digest>, or with -c allowUnpinnedImages=true to run tags`);
  }
  return problems;
}

/** `eu-west-1` of `arn:aws:eks:eu-west-1:123456789012:cluster/lab`. */
function arnRegion(arn: string | undefined): string | undefined {
  return arn?.split(':')[3] || undefined;
}

/** `eu-west-1` of `https://ABC.gr7.eu-west-1.eks.amazonaws.com`. */
export function endpointRegion(endpoint: string): string | undefined {
  try {
    return /\.([a-z]{2}(?:-[a-z]+)+-\d+)\.eks\.amazonaws\.com(?:\.cn)?$/.exec(new URL(endpoint).hostname)?.[1];
  } catch {
    return undefined;
  }
}

function versionBelow(version: string | undefined, min: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < min[0] || (major === min[0] && minor < min[1]);
}

export function judgeCluster(input: PreflightInput): Verdict {
  const { name } = input.cluster;
  const problems: string[] = [];
  const warnings: string[] = [];
  const region = input.region;
  if (!region) {
    problems.push(`no AWS region is configured: set AWS_REGION to the region of cluster ${name} (the stack is deployed there, and a cluster is found only in its own region)`);
    return { problems, warnings };
  }
  const where = `region ${region}`;
  const aws = (command: string) => `aws eks ${command} --name ${name} --region ${region}`;

  const given = input.cluster.endpoint;
  if (given && endpointRegion(given) && endpointRegion(given) !== region) {
    problems.push(`eksClusterEndpoint ${given} is a cluster API in ${endpointRegion(given)}, but the stack deploys to ${region}: deploy in that region (AWS_REGION=${endpointRegion(given)}), or give this region's cluster endpoint and CA`);
  }

  const described = input.described;
  if (!described) {
    problems.push(`cluster ${name} in ${where} was not looked up`);
    return { problems, warnings };
  }
  if ('error' in described) {
    const { error } = described;
    if (error.name === 'ResourceNotFoundException') {
      problems.push(
        `no EKS cluster named ${name} in ${where}: check the name (-c eksClusterName=…, default amun) and the region (AWS_REGION, or the profile's region): ` +
          `a cluster is found only in its own region (aws eks list-clusters --region <region> lists them)`,
      );
    } else if (error.name === 'AccessDeniedException' || error.name === 'AccessDenied') {
      problems.push(`may not describe cluster ${name} in ${where} (${error.message ?? error.name}): the deploying identity needs eks:DescribeCluster on it to check it before deploying`);
    } else {
      problems.push(`could not describe cluster ${name} in ${where}: ${error.name}${error.message ? `: ${error.message}` : ''}`);
    }
    return { problems, warnings };
  }

  const cluster = described.cluster;
  const clusterRegion = arnRegion(cluster.arn);
  if (clusterRegion && clusterRegion !== region) {
    problems.push(`cluster ${name} (${cluster.arn}) is in ${clusterRegion}, but the stack deploys to ${region}: set AWS_REGION=${clusterRegion}`);
  }
  if (given && cluster.endpoint && given.replace(/\/$/, '') !== cluster.endpoint.replace(/\/$/, '')) {
    problems.push(`eksClusterEndpoint ${given} is not the endpoint of cluster ${name} (${cluster.endpoint}): give the cluster's endpoint and CA, or neither (the stack then looks them up)`);
  }

  const mode = cluster.accessConfig?.authenticationMode;
  if (!mode || !ACCESS_ENTRY_MODES.has(mode)) {
    problems.push(
      `cluster ${name} authenticates with ${mode ?? 'the aws-auth ConfigMap only (it reports no authentication mode)'}: the stack's access entries need API_AND_CONFIG_MAP or API, and EKS refuses them otherwise. ` +
        `Switch it (one way only, CONFIG_MAP → API_AND_CONFIG_MAP → API; API_AND_CONFIG_MAP keeps every aws-auth mapping working): ` +
        `${aws('update-cluster-config')} --access-config authenticationMode=API_AND_CONFIG_MAP, then ${aws('wait cluster-active')} and deploy again`,
    );
  }

  const status = cluster.status;
  if (status && status !== 'ACTIVE') {
    problems.push(
      status === 'CREATING' || status === 'UPDATING'
        ? `cluster ${name} is ${status}: access entries and associations wait for ACTIVE (${aws('wait cluster-active')})`
        : `cluster ${name} is ${status}: it cannot take access entries or run Amun's Jobs`,
    );
  }

  const vpc = cluster.resourcesVpcConfig;
  if (vpc?.endpointPublicAccess === false) {
    problems.push(
      `cluster ${name} has no public API endpoint: Amun's functions run outside any VPC and reach the cluster over it. ` +
        `${aws('update-cluster-config')} --resources-vpc-config endpointPublicAccess=true,endpointPrivateAccess=true`,
    );
  } else if (vpc?.publicAccessCidrs && vpc.publicAccessCidrs.length > 0 && !vpc.publicAccessCidrs.includes('0.0.0.0/0')) {
    warnings.push(`cluster ${name}'s public endpoint admits only ${vpc.publicAccessCidrs.join(', ')}: Lambda's addresses are not among any fixed ranges, so the functions' calls may be refused`);
  }

  const agent = input.podIdentityAgent;
  const installAgent = `aws eks create-addon --cluster-name ${name} --addon-name ${POD_IDENTITY_AGENT} --region ${region}`;
  if (agent && 'error' in agent) {
    if (agent.error.name === 'ResourceNotFoundException') {
      problems.push(
        `cluster ${name} has no ${POD_IDENTITY_AGENT} add-on: the builder's identity is an EKS Pod Identity association, and build pods get no AWS credentials without the agent ` +
          `(kaniko could neither read the build context nor push): ${installAgent}`,
      );
    } else {
      warnings.push(`could not check the ${POD_IDENTITY_AGENT} add-on of cluster ${name} (${agent.error.name}${agent.error.message ? `: ${agent.error.message}` : ''}): build pods need it for their AWS credentials`);
    }
  } else if (agent && agent.status !== 'ACTIVE') {
    warnings.push(`the ${POD_IDENTITY_AGENT} add-on of cluster ${name} is ${agent.status ?? 'in an unknown state'}, not ACTIVE: build pods get AWS credentials only once it is`);
  }

  if (versionBelow(cluster.version, MIN_KUBERNETES_VERSION)) {
    problems.push(`cluster ${name} runs Kubernetes ${cluster.version}: Amun's run pods need ${MIN_KUBERNETES_VERSION.join('.')} or later (native sidecars, backoffLimitPerIndex; docs/KUBERNETES.md)`);
  }

  return {
    problems,
    warnings,
    found: `cluster ${name} in ${clusterRegion ?? region}: ${status ?? 'status unknown'}, Kubernetes ${cluster.version ?? '?'}, authentication ${mode ?? 'CONFIG_MAP'}, ${vpc?.endpointPublicAccess === false ? 'no public endpoint' : 'public endpoint'}`,
  };
}

/** The cluster's nodes (and NodePools) as the deploying identity listed them, or why it could not. */
export type NodeListing = { nodes: ReadonlyArray<NodeFacts>; nodePools?: NodePoolListing | undefined } | { error: { message: string; status?: number | undefined } };

/**
 * The node labels the deployment's preset places by, checked on the cluster's nodes
 * (functions/adapters/kubernetes/model/placement-check.ts): warnings only, never a refusal (a
 * Karpenter cluster may have no nodes yet, and nodes may be labelled after the deployment).
 */
export function judgePlacementNodes(cluster: string, preset: LabelPreset, listing: NodeListing): { warnings: string[]; found?: string } {
  const later = `run \`amun cluster check --label-preset ${preset}\` with a kubeconfig that may list nodes (docs/KUBERNETES.md, "First deployment checklist")`;
  if ('error' in listing) {
    const { message, status } = listing.error;
    if (status === 401 || status === 403) {
      return {
        warnings: [
          `the deploying identity may not list the nodes of cluster ${cluster} (${message}), so which node labels preset ${preset} places by no node carries was not checked: ` +
            `give it cluster-wide read (an access entry with AmazonEKSAdminViewPolicy, cluster scope), or ${later}`,
        ],
      };
    }
    return { warnings: [`could not list the nodes of cluster ${cluster} (${message}), so the node labels for placement were not checked: ${later}`] };
  }
  const verdict = judgeNodes(listing.nodes, LABEL_PRESETS[preset], listing.nodePools);
  return { warnings: [...verdict.problems, ...verdict.warnings].map((w) => `placement (preset ${preset}): ${w}`), found: `nodes of cluster ${cluster}: ${verdict.found}` };
}

/** The `-c key=value` (`--context key=value`, `--context=key=value`) values of a cdk command line. */
export function contextFromArgs(args: ReadonlyArray<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let pair: string | undefined;
    if (arg === '-c' || arg === '--context') pair = args[++i];
    else if (arg.startsWith('--context=')) pair = arg.slice('--context='.length);
    else if (/^-c[^-]/.test(arg)) pair = arg.slice(2);
    if (pair === undefined) continue;
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** `--profile NAME` (or `--profile=NAME`) of a cdk command line. */
export function profileFromArgs(args: ReadonlyArray<string>): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--profile') return args[i + 1];
    if (args[i]!.startsWith('--profile=')) return args[i]!.slice('--profile='.length);
  }
  return undefined;
}
