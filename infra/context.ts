/**
 * The stack's parameters, read from CDK context (`cdk.json`, `-c key=value`), each with a default so
 * that `npm run synth` works offline with none given. A bad value fails synthesis with the key's
 * name and what it must be.
 */
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { Layout } from '../functions/core/layout.js';

export type ApiAuth = { kind: 'iam' } | { kind: 'jwt'; issuer: string; audience: string[] };

export interface AmunContext {
  /** Names resources (`<deployment>-amun-work` …) so several deployments share an account. */
  deployment: string;
  /** Store prefix without trailing slash (AMUN_STORE_PREFIX). */
  storePrefix: string;
  /** Spec-drop prefix with trailing slash (AMUN_SPECS_PREFIX). */
  specsPrefix: string;
  apiAuth: ApiAuth;
  /** Web origins whose pages may call the API (CORS at the gateway, AMUN_ALLOWED_ORIGINS in the function); empty: CORS off. */
  allowedOrigins: string[];
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: RetentionDays;
  /** Keep the bucket and the image repository when the stack is deleted. */
  retainData: boolean;
  /** Build-context objects expire this many days after they were written. */
  buildContextExpirationDays: number;
  /** Old object versions (overwritten or deleted) expire after this many days. */
  noncurrentVersionExpirationDays: number;
  /** Built images expire this many days after they were pushed. */
  imageExpirationDays: number;
  ecrRepositoryName: string;
  cluster: {
    name: string;
    namespace: string;
    /** With `caData`: skip the deploy-time DescribeCluster lookup. */
    endpoint: string | undefined;
    caData: string | undefined;
    /** Service account of build pods, the one the builder role's Pod Identity association names (default `<deployment>-amun-builder`). */
    builderServiceAccount: string;
    labelPreset: 'nfd' | 'karpenter' | 'eks-auto' | 'amun';
    builderImage: string | undefined;
    /** The upload sidecar's image (AMUN_K8S_UPLOADER_IMAGE). */
    uploaderImage: string | undefined;
    /** Lets the cluster's pods run images named by tag only (AMUN_K8S_ALLOW_UNPINNED_IMAGES). */
    allowUnpinnedImages: boolean;
    /**
     * How function roles get into the cluster: `rbac` maps them to a Kubernetes group bound by
     * deploy/kubernetes/rbac.yaml (least privilege); `policy` gives namespace-scoped EKS access policies.
     */
    access: { mode: 'rbac' | 'policy'; group: string };
  };
}

/** Every context key the app reads, with its default: the documented surface (docs/DEPLOY.md). */
export const contextDefaults = {
  deployment: 'dev',
  storePrefix: 'inspections',
  specsPrefix: 'specs/',
  apiAuth: 'iam',
  jwtIssuer: '',
  jwtAudience: '',
  allowedOrigins: '',
  throttleRateLimit: 20,
  throttleBurstLimit: 40,
  logRetentionDays: 30,
  retainData: true,
  buildContextExpirationDays: 30,
  noncurrentVersionExpirationDays: 30,
  imageExpirationDays: 90,
  ecrRepositoryName: '',
  eksClusterName: 'amun',
  eksNamespace: 'amun',
  eksClusterEndpoint: '',
  eksClusterCaData: '',
  builderServiceAccount: '',
  labelPreset: 'nfd',
  builderImage: '',
  uploaderImage: '',
  allowUnpinnedImages: false,
  eksAccess: 'rbac',
  eksAccessGroup: 'amun-controller',
} as const;

export type ContextKey = keyof typeof contextDefaults;

export class ContextError extends Error {
  constructor(key: string, problem: string) {
    super(`context value ${key} ${problem} (set it in cdk.json or with -c ${key}=…)`);
    this.name = 'ContextError';
  }
}

type Raw = (key: ContextKey) => unknown;

function str(raw: Raw, key: ContextKey, pattern?: RegExp, what?: string): string {
  const value = raw(key) ?? contextDefaults[key];
  if (typeof value !== 'string' && typeof value !== 'number') throw new ContextError(key, `must be a string, got ${JSON.stringify(value)}`);
  const text = String(value).trim();
  if (pattern && !pattern.test(text)) throw new ContextError(key, `must be ${what ?? `like ${pattern}`}, got ${JSON.stringify(text)}`);
  return text;
}

function int(raw: Raw, key: ContextKey, min: number, max: number): number {
  const value = raw(key) ?? contextDefaults[key];
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ContextError(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function bool(raw: Raw, key: ContextKey): boolean {
  const value = raw(key) ?? contextDefaults[key];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
  throw new ContextError(key, `must be true or false, got ${JSON.stringify(value)}`);
}

const RETENTIONS = new Set<number>(Object.values(RetentionDays).filter((v): v is number => typeof v === 'number'));
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Reads and checks every context value; defaults fill what is not given. */
export function readContext(node: Pick<Node, 'tryGetContext'>): AmunContext {
  const raw: Raw = (key) => {
    const value: unknown = node.tryGetContext(key);
    return value === '' ? undefined : value;
  };

  const deployment = str(raw, 'deployment', /^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and dashes, starting with a letter, at most 20 characters');
  const storePrefix = str(raw, 'storePrefix', /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/, 'a relative key prefix without leading or trailing slash');
  const specsPrefix = str(raw, 'specsPrefix', /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/?$/, 'a relative key prefix without leading slash').replace(/\/*$/, '/');
  // The store (its index and its blobs) must not lie under the drop prefix, nor the other way round: every
  // object the pipeline writes would otherwise be offered to ingest as a dropped spec.
  for (const store of new Layout(storePrefix).prefixes.map((prefix) => `${prefix}/`)) {
    if (store.startsWith(specsPrefix) || specsPrefix.startsWith(store)) {
      throw new ContextError('specsPrefix', `must not overlap the store prefix ${JSON.stringify(store)}, got ${JSON.stringify(specsPrefix)}`);
    }
  }

  const authKind = str(raw, 'apiAuth', /^(iam|jwt)$/, 'iam or jwt');
  let apiAuth: ApiAuth = { kind: 'iam' };
  if (authKind === 'jwt') {
    const issuer = str(raw, 'jwtIssuer');
    if (!/^https:\/\/\S+$/.test(issuer)) throw new ContextError('jwtIssuer', `must be the https URL of the token issuer when apiAuth=jwt, got ${JSON.stringify(issuer)}`);
    const audienceRaw = raw('jwtAudience');
    const audience = (Array.isArray(audienceRaw) ? audienceRaw.map(String) : str(raw, 'jwtAudience').split(','))
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (audience.length === 0) throw new ContextError('jwtAudience', 'must name at least one audience (comma-separated) when apiAuth=jwt');
    apiAuth = { kind: 'jwt', issuer, audience };
  }

  const originsRaw = raw('allowedOrigins');
  const allowedOrigins = (Array.isArray(originsRaw) ? originsRaw.map(String) : str(raw, 'allowedOrigins').split(','))
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of allowedOrigins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin === 'null' || parsed.origin !== origin.replace(/\/$/, '')) {
      throw new ContextError('allowedOrigins', `must be comma-separated origins such as https://app.example.com (scheme://host[:port], no path), got ${JSON.stringify(origin)}`);
    }
  }

  const rateLimit = int(raw, 'throttleRateLimit', 1, 10_000);
  const burstLimit = int(raw, 'throttleBurstLimit', 1, 5_000);

  const retentionDays = int(raw, 'logRetentionDays', 1, 3653);
  if (!RETENTIONS.has(retentionDays)) throw new ContextError('logRetentionDays', `must be one of CloudWatch's retention periods (${[...RETENTIONS].filter((d) => d < 9999).join(', ')}), got ${retentionDays}`);

  const labelPreset = str(raw, 'labelPreset', /^(nfd|karpenter|eks-auto|amun)$/, 'nfd, karpenter, eks-auto or amun') as AmunContext['cluster']['labelPreset'];
  const endpoint = str(raw, 'eksClusterEndpoint', /^(|https:\/\/\S+)$/, 'the https URL of the cluster API') || undefined;
  const caData = str(raw, 'eksClusterCaData', /^[A-Za-z0-9+/=]*$/, 'base64 PEM data') || undefined;
  if ((endpoint === undefined) !== (caData === undefined)) {
    throw new ContextError(endpoint ? 'eksClusterCaData' : 'eksClusterEndpoint', 'must be given together with the other of eksClusterEndpoint and eksClusterCaData (or neither: the stack then looks both up at deploy time)');
  }

  // One per deployment by default: EKS allows one Pod Identity association per cluster, namespace
  // and service account, so two deployments on one cluster must not share the name.
  const builderServiceAccount = str(raw, 'builderServiceAccount') || `${deployment}-amun-builder`;
  if (!DNS_LABEL.test(builderServiceAccount)) throw new ContextError('builderServiceAccount', `must be a Kubernetes service account name, got ${JSON.stringify(builderServiceAccount)}`);

  return {
    deployment,
    storePrefix,
    specsPrefix,
    apiAuth,
    allowedOrigins: allowedOrigins.map((o) => o.replace(/\/$/, '')),
    throttle: { rateLimit, burstLimit },
    logRetention: retentionDays as RetentionDays,
    retainData: bool(raw, 'retainData'),
    buildContextExpirationDays: int(raw, 'buildContextExpirationDays', 1, 3650),
    noncurrentVersionExpirationDays: int(raw, 'noncurrentVersionExpirationDays', 1, 3650),
    imageExpirationDays: int(raw, 'imageExpirationDays', 1, 3650),
    ecrRepositoryName: str(raw, 'ecrRepositoryName', /^(|[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*)$/, 'an ECR repository name') || `${deployment}-amun-images`,
    cluster: {
      name: str(raw, 'eksClusterName', /^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/, 'an EKS cluster name'),
      namespace: str(raw, 'eksNamespace', DNS_LABEL, 'a Kubernetes namespace name'),
      endpoint,
      caData,
      builderServiceAccount,
      labelPreset,
      builderImage: str(raw, 'builderImage', /^(|[^\s]+)$/, 'an image reference') || undefined,
      uploaderImage: str(raw, 'uploaderImage', /^(|[^\s]+)$/, 'an image reference') || undefined,
      allowUnpinnedImages: bool(raw, 'allowUnpinnedImages'),
      access: {
        mode: str(raw, 'eksAccess', /^(rbac|policy)$/, 'rbac or policy') as 'rbac' | 'policy',
        group: str(raw, 'eksAccessGroup', /^(?!system:)[A-Za-z0-9:_.-]{1,100}$/, 'a Kubernetes group name (not system:…)'),
      },
    },
  };
}
