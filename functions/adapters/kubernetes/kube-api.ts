/**
 * The thin layer over @kubernetes/client-node, the one module that talks to a cluster: the handful
 * of calls the executor, the reconciler and the live status make, in one namespace, and the
 * cluster-wide node listing of the placement check (readNodes, with the deployer's or an
 * operator's identity). 409 AlreadyExists on create counts as success (names
 * are deterministic); 404 on delete and log reads is "gone".
 *
 * Configuration is built in code: a kubeconfig file for local use, or for Lambda the EKS endpoint
 * and CA with a bearer token from a presigned STS GetCallerIdentity request, renewed well before
 * the API server stops accepting it.
 *
 * Every call is bounded (AMUN_K8S_TIMEOUT_SECONDS; log reads three times that, each page of a list
 * on its own): a middleware gives the request the library sends an AbortSignal, so connecting,
 * sending and reading the answer all count, and an abort closes the socket. A cluster that cannot
 * be reached (refused, no such host, TLS, no answer in time) or will not let the functions in
 * (401, 403) is a ClusterUnreachableError naming the endpoint and the cause.
 *
 * The client is loaded on first use (it is large and ESM-only), so functions that never talk to a
 * cluster do not pay for it at cold start.
 */
import type { BatchV1Api, ConfigurationOptions, CoreV1Api, KubeConfig, ObservableMiddleware, V1ConfigMap, V1Job, V1Node, V1NodeSelectorRequirement, V1Pod, V1Secret } from '@kubernetes/client-node';
import { DEFAULT_K8S_TIMEOUT_SECONDS } from '../../config.js';
import type { Clock } from '../../core/ports.js';
import { eksToken, type CredentialsProvider } from './aws-signing.js';
import type { NodePoolFacts, NodePoolListing, Taint } from './model/placement-check.js';

type ClientModule = typeof import('@kubernetes/client-node');
let clientModule: Promise<ClientModule> | undefined;
const k8s = (): Promise<ClientModule> => (clientModule ??= import('@kubernetes/client-node'));

export interface KubeApi {
  readonly namespace: string;
  /** Creates the Job; on 409 returns the existing one with `created: false`. */
  createJob(job: V1Job): Promise<{ job: V1Job; created: boolean }>;
  /** false when it existed already. */
  createSecret(secret: V1Secret): Promise<boolean>;
  /**
   * Replaces a Secret's content (PUT, the `update` verb: the answer is what was sent, so it reads no
   * other Secret), creating it when it is gone.
   */
  replaceSecret(secret: V1Secret): Promise<void>;
  createConfigMap(configMap: V1ConfigMap): Promise<boolean>;
  listJobs(labelSelector: string): Promise<V1Job[]>;
  listPods(labelSelector: string): Promise<V1Pod[]>;
  /** The container's log (its last `limitBytes`), or undefined when the pod or its log is gone. */
  podLog(pod: string, container: string, limitBytes?: number): Promise<string | undefined>;
  /** Sets spec.ttlSecondsAfterFinished (a merge patch): the TTL controller then deletes the Job and its pods. */
  setJobTtl(name: string, seconds: number): Promise<void>;
  /** Sets annotations of the Job (a merge patch); a Job gone meanwhile is no error. */
  annotateJob(name: string, annotations: Record<string, string>): Promise<void>;
  /** Deletes the Job and, in the background, its pods, Secrets and ConfigMaps. */
  deleteJob(name: string): Promise<void>;
}

export interface KubeConfigSource {
  get(): Promise<KubeConfig>;
}

/** A kubeconfig file (its current context). */
export function kubeconfigFile(path: string): KubeConfigSource {
  let config: KubeConfig | undefined;
  return {
    get: async () => {
      if (!config) {
        const kc = new (await k8s()).KubeConfig();
        kc.loadFromFile(path);
        config = kc;
      }
      return config;
    },
  };
}

export interface EksOptions {
  clusterName: string;
  /** https://<id>.<region>.eks.amazonaws.com */
  endpoint: string;
  /** Base64 PEM of the cluster CA. */
  caData: string;
  region: string;
  credentials: CredentialsProvider;
  clock: Clock;
  /** Renew the token after this long (default 5 minutes; EKS accepts a token for 15). */
  renewAfterMs?: number;
}

/** EKS, configured in code: endpoint, CA, and a token renewed every few minutes. */
export function eksConfig(options: EksOptions): KubeConfigSource {
  let current: { config: KubeConfig; at: number } | undefined;
  return {
    get: async () => {
      const now = options.clock.now();
      if (current && now.getTime() - current.at < (options.renewAfterMs ?? 5 * 60_000)) return current.config;
      const token = await eksToken(options.clusterName, options.region, await options.credentials(), now);
      const kc = new (await k8s()).KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: options.clusterName, server: options.endpoint, caData: options.caData, skipTLSVerify: false }],
        users: [{ name: 'amun', token }],
        contexts: [{ name: 'amun', cluster: options.clusterName, user: 'amun' }],
        currentContext: 'amun',
      });
      current = { config: kc, at: now.getTime() };
      return kc;
    },
  };
}

/** Log reads carry up to 1 MiB: they get this many times the timeout of a call. */
const LOG_TIMEOUT_FACTOR = 3;

/** The HTTP status of a failed call (the client's ApiException carries it as `code`; a DOMException's `code` is no status). */
function status(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/**
 * Options that bound one request by `ms`: the signal is made as the request leaves, after
 * authentication, so each request (each page of a list) gets the whole bound.
 */
function boundedRequest(Observable: ClientModule['Observable'], ms: number): ConfigurationOptions<ObservableMiddleware> {
  const timeout: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [timeout], middlewareMergeStrategy: 'append' };
}

/** The API server's message in a failed call's body, when it is JSON with one. */
function bodyMessage(error: unknown): string | undefined {
  const body = (error as { body?: unknown } | null)?.body;
  if (typeof body !== 'string') return undefined;
  try {
    return (JSON.parse(body) as { message?: string }).message;
  } catch {
    return undefined; // not JSON
  }
}

export class KubernetesApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubernetesApiError';
  }
}

/**
 * The API server could not be reached (connection refused, no such host, TLS, no answer within the
 * timeout) or refused the functions' credentials (401, 403): nothing this call did is known to
 * have happened, and the next call will most likely fail the same way.
 */
export class ClusterUnreachableError extends KubernetesApiError {
  constructor(
    message: string,
    status: number | undefined,
    /** The API server's URL. */
    readonly endpoint: string,
    options?: { cause?: unknown },
  ) {
    super(message, status, options);
    this.name = 'ClusterUnreachableError';
  }
}

/**
 * What went wrong on the wire, when it did: fetch fails with "fetch failed" and the reason in its
 * causes, the socket's own innermost, with a code (ECONNREFUSED, ENOTFOUND, a TLS code).
 */
function networkCause(error: unknown): string | undefined {
  const chain: Array<{ code?: unknown; message?: unknown; reason?: unknown; cause?: unknown }> = [];
  for (let e = error as (typeof chain)[number] | undefined; e && typeof e === 'object' && chain.length < 10; e = e.cause as typeof e) chain.push(e);
  const coded = chain.findLast((e) => typeof e.code === 'string');
  if (!coded && chain[0]?.message !== 'fetch failed') return undefined;
  const inner = coded ?? chain.at(-1)!;
  // OpenSSL errors carry a short `reason` beside a message of internals.
  const text = String(typeof inner.reason === 'string' ? inner.reason : (inner.message ?? '')).trim();
  const code = typeof inner.code === 'string' ? inner.code : '';
  return text.includes(code) ? text : `${text} (${code})`;
}

function failure(what: string, error: unknown, endpoint: string, timeoutMs: number): KubernetesApiError {
  // The reason AbortSignal.timeout gives the request: the bound ran out, connecting or waiting for the answer.
  if ((error as { name?: unknown } | null)?.name === 'TimeoutError') {
    return new ClusterUnreachableError(`kubernetes: ${what}: the cluster at ${endpoint} did not answer within ${timeoutMs / 1000} s`, undefined, endpoint, { cause: error });
  }
  const code = status(error);
  if (code === undefined) {
    const cause = networkCause(error);
    if (cause) return new ClusterUnreachableError(`kubernetes: ${what}: cannot reach the cluster at ${endpoint}: ${cause}`, undefined, endpoint, { cause: error });
  }
  const detail = bodyMessage(error) ?? (error instanceof Error ? error.message : String(error));
  if (code === 401 || code === 403) {
    return new ClusterUnreachableError(`kubernetes: ${what}: the cluster at ${endpoint} refused the functions' credentials: ${code} ${detail}`.replace(/ +/g, ' '), code, endpoint, { cause: error });
  }
  return new KubernetesApiError(`kubernetes: ${what}: ${code ?? ''} ${detail}`.replace(/ +/g, ' '), code, { cause: error });
}

interface Clients {
  config: KubeConfig;
  batch: BatchV1Api;
  core: CoreV1Api;
  /** The API server's URL, for errors. */
  endpoint: string;
  /** Options that bound one request by `ms`; `mergePatch` also sets the merge-patch content type. */
  bounded(ms: number, mergePatch?: boolean): ConfigurationOptions<ObservableMiddleware>;
}

export class ClientNodeKubeApi implements KubeApi {
  private apis: Clients | undefined;
  private readonly timeoutMs: number;
  private readonly logTimeoutMs: number;

  constructor(
    private readonly source: KubeConfigSource,
    readonly namespace: string,
    options: { timeoutSeconds?: number } = {},
  ) {
    this.timeoutMs = (options.timeoutSeconds ?? DEFAULT_K8S_TIMEOUT_SECONDS) * 1000;
    this.logTimeoutMs = LOG_TIMEOUT_FACTOR * this.timeoutMs;
  }

  private async clients(): Promise<Clients> {
    const config = await this.source.get();
    if (this.apis?.config !== config) {
      const { BatchV1Api: Batch, CoreV1Api: Core, Observable, PatchStrategy, setHeaderOptions } = await k8s();
      const bounded = (ms: number, mergePatch = false): ConfigurationOptions<ObservableMiddleware> => {
        const options = boundedRequest(Observable, ms);
        return mergePatch ? setHeaderOptions('Content-Type', PatchStrategy.MergePatch, options) : options;
      };
      const endpoint = config.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
      this.apis = { config, batch: config.makeApiClient(Batch), core: config.makeApiClient(Core), endpoint, bounded };
    }
    return this.apis;
  }

  private failure(clients: Clients, what: string, error: unknown, timeoutMs = this.timeoutMs): KubernetesApiError {
    return failure(what, error, clients.endpoint, timeoutMs);
  }

  async createJob(job: V1Job): Promise<{ job: V1Job; created: boolean }> {
    const clients = await this.clients();
    const { batch, bounded } = clients;
    const name = job.metadata?.name ?? '';
    try {
      return { job: await batch.createNamespacedJob({ namespace: this.namespace, body: job }, bounded(this.timeoutMs)), created: true };
    } catch (error) {
      if (status(error) !== 409) throw this.failure(clients, `create job ${name}`, error);
    }
    try {
      return { job: await batch.readNamespacedJob({ namespace: this.namespace, name }, bounded(this.timeoutMs)), created: false };
    } catch (error) {
      throw this.failure(clients, `read job ${name}`, error);
    }
  }

  async createSecret(secret: V1Secret): Promise<boolean> {
    const clients = await this.clients();
    try {
      await clients.core.createNamespacedSecret({ namespace: this.namespace, body: secret }, clients.bounded(this.timeoutMs));
      return true;
    } catch (error) {
      if (status(error) === 409) return false;
      throw this.failure(clients, `create secret ${secret.metadata?.name ?? ''}`, error);
    }
  }

  async replaceSecret(secret: V1Secret): Promise<void> {
    const clients = await this.clients();
    const name = secret.metadata?.name ?? '';
    try {
      await clients.core.replaceNamespacedSecret({ namespace: this.namespace, name, body: secret }, clients.bounded(this.timeoutMs));
    } catch (error) {
      if (status(error) !== 404) throw this.failure(clients, `replace secret ${name}`, error);
      await this.createSecret(secret);
    }
  }

  async createConfigMap(configMap: V1ConfigMap): Promise<boolean> {
    const clients = await this.clients();
    try {
      await clients.core.createNamespacedConfigMap({ namespace: this.namespace, body: configMap }, clients.bounded(this.timeoutMs));
      return true;
    } catch (error) {
      if (status(error) === 409) return false;
      throw this.failure(clients, `create configmap ${configMap.metadata?.name ?? ''}`, error);
    }
  }

  async listJobs(labelSelector: string): Promise<V1Job[]> {
    const clients = await this.clients();
    const items: V1Job[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await clients.batch.listNamespacedJob({ namespace: this.namespace, labelSelector, limit: 500, ...(token ? { _continue: token } : {}) }, clients.bounded(this.timeoutMs));
        items.push(...page.items);
        token = page.metadata?._continue || undefined;
      } while (token);
    } catch (error) {
      throw this.failure(clients, 'list jobs', error);
    }
    return items;
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    const clients = await this.clients();
    const items: V1Pod[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await clients.core.listNamespacedPod({ namespace: this.namespace, labelSelector, limit: 500, ...(token ? { _continue: token } : {}) }, clients.bounded(this.timeoutMs));
        items.push(...page.items);
        token = page.metadata?._continue || undefined;
      } while (token);
    } catch (error) {
      throw this.failure(clients, 'list pods', error);
    }
    return items;
  }

  async podLog(pod: string, container: string, limitBytes = 1024 * 1024): Promise<string | undefined> {
    const clients = await this.clients();
    try {
      return await clients.core.readNamespacedPodLog({ namespace: this.namespace, name: pod, container, limitBytes }, clients.bounded(this.logTimeoutMs));
    } catch (error) {
      const code = status(error);
      // 404: the pod is gone; 400: the container never started.
      if (code === 404 || code === 400) return undefined;
      throw this.failure(clients, `read log of ${pod}/${container}`, error, this.logTimeoutMs);
    }
  }

  async setJobTtl(name: string, seconds: number): Promise<void> {
    const clients = await this.clients();
    try {
      await clients.batch.patchNamespacedJob({ namespace: this.namespace, name, body: { spec: { ttlSecondsAfterFinished: seconds } } }, clients.bounded(this.timeoutMs, true));
    } catch (error) {
      if (status(error) === 404) return;
      throw this.failure(clients, `set the TTL of job ${name}`, error);
    }
  }

  async annotateJob(name: string, annotations: Record<string, string>): Promise<void> {
    const clients = await this.clients();
    try {
      await clients.batch.patchNamespacedJob({ namespace: this.namespace, name, body: { metadata: { annotations } } }, clients.bounded(this.timeoutMs, true));
    } catch (error) {
      if (status(error) === 404) return;
      throw this.failure(clients, `annotate job ${name}`, error);
    }
  }

  async deleteJob(name: string): Promise<void> {
    const clients = await this.clients();
    try {
      await clients.batch.deleteNamespacedJob({ namespace: this.namespace, name, propagationPolicy: 'Background' }, clients.bounded(this.timeoutMs));
    } catch (error) {
      if (status(error) === 404) return;
      throw this.failure(clients, `delete job ${name}`, error);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster's nodes, cluster-wide

/**
 * Read for the placement check (model/placement-check.ts) with an identity that may list them
 * cluster-wide: the deployer's (infra/deploy.ts) or an operator's kubeconfig (`amun cluster
 * check`); never the functions', whose Role (deploy/kubernetes/rbac.yaml) is namespaced.
 */

/** Karpenter's NodePools (also EKS Auto Mode's). */
export const NODE_POOLS = { group: 'karpenter.sh', version: 'v1', plural: 'nodepools' } as const;

export interface ClusterNodes {
  /** The API server's URL. */
  endpoint: string;
  nodes: V1Node[];
  /** Undefined when not asked for. */
  nodePools: NodePoolListing | undefined;
}

/** The nodes could not be listed: the cluster is unreachable, or the identity may not list them. */
export class NodeListError extends KubernetesApiError {
  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super(message, status, options);
    this.name = 'NodeListError';
  }
}

/** The status and the API server's message, or what went wrong on the wire. */
function listFailure(error: unknown, timeoutMs: number): string {
  if ((error as { name?: unknown } | null)?.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const code = status(error);
  if (code === undefined) return networkCause(error) ?? (error instanceof Error ? error.message : String(error));
  let message = bodyMessage(error) ?? '';
  if (!message && code === 401) message = 'Unauthorized: the cluster does not know these credentials';
  return `${code}${message ? ` ${message}` : ''}`;
}

function taintsOf(value: unknown): Taint[] {
  return Array.isArray(value) ? value.filter((t): t is Taint => typeof t?.key === 'string' && typeof t?.effect === 'string') : [];
}

function nodePool(item: { metadata?: { name?: string }; spec?: { template?: { spec?: { requirements?: unknown; taints?: unknown } } } }): NodePoolFacts {
  const spec = item.spec?.template?.spec;
  const requirements = Array.isArray(spec?.requirements) ? (spec.requirements as V1NodeSelectorRequirement[]).filter((r) => typeof r?.key === 'string' && typeof r?.operator === 'string') : [];
  return { name: item.metadata?.name ?? '(unnamed)', requirements, taints: taintsOf(spec?.taints) };
}

/**
 * Every node (paged, each page bounded by the timeout), and with `nodePools` the NodePools; a
 * NodePool list that fails (404: no Karpenter) is reported in the listing, a node list that fails
 * throws NodeListError.
 */
export async function readNodes(source: KubeConfigSource, options: { timeoutSeconds: number; nodePools: boolean }): Promise<ClusterNodes> {
  const { CoreV1Api: Core, CustomObjectsApi: CustomObjects, Observable } = await k8s();
  const config = await source.get();
  const endpoint = config.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
  const ms = options.timeoutSeconds * 1000;
  const core = config.makeApiClient(Core);
  const nodes: V1Node[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await core.listNode({ limit: 500, ...(token ? { _continue: token } : {}) }, boundedRequest(Observable, ms));
      nodes.push(...page.items);
      token = page.metadata?._continue || undefined;
    } while (token);
  } catch (error) {
    throw new NodeListError(`cannot list the nodes of the cluster at ${endpoint}: ${listFailure(error, ms)}`, status(error), { cause: error });
  }
  if (!options.nodePools) return { endpoint, nodes, nodePools: undefined };
  let nodePools: NodePoolListing;
  try {
    const list = (await config.makeApiClient(CustomObjects).listClusterCustomObject({ ...NODE_POOLS }, boundedRequest(Observable, ms))) as { items?: unknown[] };
    nodePools = { pools: (list.items ?? []).map((item) => nodePool(item as Parameters<typeof nodePool>[0])) };
  } catch (error) {
    const what = `${NODE_POOLS.group}/${NODE_POOLS.version} ${NODE_POOLS.plural}`;
    nodePools = { error: status(error) === 404 ? `${what} are not served: Karpenter (or EKS Auto Mode) is not installed` : `${what}: ${listFailure(error, ms)}` };
  }
  return { endpoint, nodes, nodePools };
}
