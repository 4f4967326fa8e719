/**
 * The thin layer over @kubernetes/client-node: the handful of calls the executor, the reconciler
 * and the live status make, in one namespace. 409 AlreadyExists on create counts as success (names
 * are deterministic); 404 on delete and log reads is "gone".
 *
 * Configuration is built in code: a kubeconfig file for local use, or for Lambda the EKS endpoint
 * and CA with a bearer token from a presigned STS GetCallerIdentity request, renewed well before
 * the API server stops accepting it.
 *
 * The client is loaded on first use (it is large and ESM-only), so functions that never talk to a
 * cluster do not pay for it at cold start.
 */
import type { BatchV1Api, CoreV1Api, KubeConfig, V1ConfigMap, V1Job, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Clock } from '../../core/ports.js';
import { eksToken, type CredentialsProvider } from './aws-signing.js';

type ClientModule = typeof import('@kubernetes/client-node');
let clientModule: Promise<ClientModule> | undefined;
const k8s = (): Promise<ClientModule> => (clientModule ??= import('@kubernetes/client-node'));

export interface KubeApi {
  readonly namespace: string;
  /** Creates the Job; on 409 returns the existing one with `created: false`. */
  createJob(job: V1Job): Promise<{ job: V1Job; created: boolean }>;
  /** false when it existed already. */
  createSecret(secret: V1Secret): Promise<boolean>;
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

/** The HTTP status of a failed call (the client's ApiException carries it as `code`). */
function status(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
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

function failure(what: string, error: unknown): KubernetesApiError {
  const code = status(error);
  let detail = error instanceof Error ? error.message : String(error);
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      detail = (JSON.parse(body) as { message?: string }).message ?? detail;
    } catch {
      // not JSON: keep the client's message
    }
  }
  return new KubernetesApiError(`kubernetes: ${what}: ${code ?? ''} ${detail}`.replace(/ +/g, ' '), code, { cause: error });
}

export class ClientNodeKubeApi implements KubeApi {
  private apis: { config: KubeConfig; batch: BatchV1Api; core: CoreV1Api } | undefined;

  constructor(
    private readonly source: KubeConfigSource,
    readonly namespace: string,
  ) {}

  private async clients(): Promise<{ batch: BatchV1Api; core: CoreV1Api }> {
    const config = await this.source.get();
    if (this.apis?.config !== config) {
      const { BatchV1Api: Batch, CoreV1Api: Core } = await k8s();
      this.apis = { config, batch: config.makeApiClient(Batch), core: config.makeApiClient(Core) };
    }
    return this.apis;
  }

  async createJob(job: V1Job): Promise<{ job: V1Job; created: boolean }> {
    const { batch } = await this.clients();
    const name = job.metadata?.name ?? '';
    try {
      return { job: await batch.createNamespacedJob({ namespace: this.namespace, body: job }), created: true };
    } catch (error) {
      if (status(error) !== 409) throw failure(`create job ${name}`, error);
    }
    try {
      return { job: await batch.readNamespacedJob({ namespace: this.namespace, name }), created: false };
    } catch (error) {
      throw failure(`read job ${name}`, error);
    }
  }

  async createSecret(secret: V1Secret): Promise<boolean> {
    const { core } = await this.clients();
    try {
      await core.createNamespacedSecret({ namespace: this.namespace, body: secret });
      return true;
    } catch (error) {
      if (status(error) === 409) return false;
      throw failure(`create secret ${secret.metadata?.name ?? ''}`, error);
    }
  }

  async createConfigMap(configMap: V1ConfigMap): Promise<boolean> {
    const { core } = await this.clients();
    try {
      await core.createNamespacedConfigMap({ namespace: this.namespace, body: configMap });
      return true;
    } catch (error) {
      if (status(error) === 409) return false;
      throw failure(`create configmap ${configMap.metadata?.name ?? ''}`, error);
    }
  }

  async listJobs(labelSelector: string): Promise<V1Job[]> {
    const { batch } = await this.clients();
    const items: V1Job[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await batch.listNamespacedJob({ namespace: this.namespace, labelSelector, limit: 500, ...(token ? { _continue: token } : {}) });
        items.push(...page.items);
        token = page.metadata?._continue || undefined;
      } while (token);
    } catch (error) {
      throw failure('list jobs', error);
    }
    return items;
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    const { core } = await this.clients();
    const items: V1Pod[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await core.listNamespacedPod({ namespace: this.namespace, labelSelector, limit: 500, ...(token ? { _continue: token } : {}) });
        items.push(...page.items);
        token = page.metadata?._continue || undefined;
      } while (token);
    } catch (error) {
      throw failure('list pods', error);
    }
    return items;
  }

  async podLog(pod: string, container: string, limitBytes = 1024 * 1024): Promise<string | undefined> {
    const { core } = await this.clients();
    try {
      return await core.readNamespacedPodLog({ namespace: this.namespace, name: pod, container, limitBytes });
    } catch (error) {
      const code = status(error);
      // 404: the pod is gone; 400: the container never started.
      if (code === 404 || code === 400) return undefined;
      throw failure(`read log of ${pod}/${container}`, error);
    }
  }

  async setJobTtl(name: string, seconds: number): Promise<void> {
    const { batch } = await this.clients();
    try {
      const { PatchStrategy, setHeaderOptions } = await k8s();
      await batch.patchNamespacedJob({ namespace: this.namespace, name, body: { spec: { ttlSecondsAfterFinished: seconds } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (error) {
      if (status(error) === 404) return;
      throw failure(`set the TTL of job ${name}`, error);
    }
  }

  async annotateJob(name: string, annotations: Record<string, string>): Promise<void> {
    const { batch } = await this.clients();
    try {
      const { PatchStrategy, setHeaderOptions } = await k8s();
      await batch.patchNamespacedJob({ namespace: this.namespace, name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    } catch (error) {
      if (status(error) === 404) return;
      throw failure(`annotate job ${name}`, error);
    }
  }

  async deleteJob(name: string): Promise<void> {
    const { batch } = await this.clients();
    try {
      await batch.deleteNamespacedJob({ namespace: this.namespace, name, propagationPolicy: 'Background' });
    } catch (error) {
      if (status(error) === 404) return;
      throw failure(`delete job ${name}`, error);
    }
  }
}
