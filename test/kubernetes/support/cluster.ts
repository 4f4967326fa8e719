/**
 * The real control plane for the Kubernetes tests (scripts/kube-cluster.sh): etcd, kube-apiserver,
 * kube-controller-manager and kube-scheduler at the release kube/go.mod pins, and kwok playing the
 * kubelets of the nodes in kube/nodes/. One per test file, stopped in afterAll (and by the script's
 * watchdog if the test process dies).
 *
 * Without the built binaries the tests skip, except under CI=true, where they fail: `.ci/run`
 * builds them first (scripts/kube-cluster.sh build).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BatchV1Api, CoreV1Api, KubeConfig, KubernetesObject, KubernetesObjectApi, V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);
const SCRIPT = join(process.cwd(), 'scripts', 'kube-cluster.sh');

export interface ClusterClients {
  config: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  objects: KubernetesObjectApi;
}

export interface TestCluster {
  dir: string;
  /** The Kubernetes release (v1.34.3). */
  version: string;
  /** system:masters: what an operator applies deploy/kubernetes/ with, and the tests' eyes. */
  adminKubeconfig: string;
  /** User amun-functions in group amun-controller: the identity deploy/kubernetes/rbac.yaml binds. */
  functionsKubeconfig: string;
  admin: ClusterClients;
  /** Seconds the control plane took to start. */
  startSeconds: number;
  stop(): Promise<void>;
}

/** Whether the binaries are built; under CI=true always (the tests then fail if it cannot start). */
export function clusterAvailable(): boolean {
  if (process.env.CI === 'true') return true;
  try {
    execFileSync(SCRIPT, ['built'], { timeout: 10_000, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `describe` when the control plane can start here, else `describe.skip` with the reason printed. */
export function describeWithCluster(name: string, body: () => void): void {
  if (clusterAvailable()) {
    describe(name, body);
    return;
  }
  const banner = '!'.repeat(100);
  process.stderr.write(`\n${banner}\n!!! SKIPPING "${name}": the Kubernetes components are not built (scripts/kube-cluster.sh build)\n!!! Under CI (CI=true) these tests fail instead.\n${banner}\n\n`);
  const skipped = describe.skip;
  skipped(name, body);
}

async function clients(kubeconfig: string): Promise<ClusterClients> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfig);
  return { config, core: config.makeApiClient(k8s.CoreV1Api), batch: config.makeApiClient(k8s.BatchV1Api), objects: k8s.KubernetesObjectApi.makeApiClient(config) };
}

export async function startCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'amun-kube-'));
  try {
    await run(SCRIPT, ['start', dir, String(process.pid)], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the test cluster did not start: ${e.stderr || e.message}`, { cause: error });
  }
  const env = Object.fromEntries(
    readFileSync(join(dir, 'cluster.env'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const admin = await clients(env.KUBECONFIG_ADMIN!);
  return {
    dir,
    version: env.KUBE_VERSION!,
    adminKubeconfig: env.KUBECONFIG_ADMIN!,
    functionsKubeconfig: env.KUBECONFIG_FUNCTIONS!,
    admin,
    startSeconds: Number(env.STARTED_SECONDS),
    stop: async () => {
      if (existsSync(dir)) await run(SCRIPT, ['stop', dir], { timeout: 60_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates every object of deploy/kubernetes/ as an operator would (kubectl apply -f deploy/kubernetes/). */
export async function applyDeployManifests(cluster: TestCluster): Promise<KubernetesObject[]> {
  const dir = join(process.cwd(), 'deploy', 'kubernetes');
  const files = ['namespace.yaml', 'rbac.yaml', 'network-policy.yaml'];
  const created: KubernetesObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const object = doc.toJS() as KubernetesObject | null;
      if (!object) continue;
      try {
        created.push(await cluster.admin.objects.create(object));
      } catch (error) {
        // The namespace's default service account exists once the namespace does: replace it.
        if ((error as { code?: number }).code === 409) created.push(await cluster.admin.objects.replace(object));
        else throw error;
      }
    }
  }
  return created;
}

export const ANNOTATE = { exitCode: 'amun.test/exit-code', reason: 'amun.test/reason', phase: 'amun.test/phase' } as const;

/** Ends a running pod as a kubelet reports it (kube/kwok-stages.yaml's pod-finish stage). */
export async function finishPod(cluster: TestCluster, namespace: string, name: string, exitCode: number, extra: { reason?: string; phase?: 'Failed' | 'Succeeded' } = {}): Promise<void> {
  const k8s = await import('@kubernetes/client-node');
  const annotations: Record<string, string> = { [ANNOTATE.exitCode]: String(exitCode) };
  if (extra.reason) annotations[ANNOTATE.reason] = extra.reason;
  if (extra.phase) annotations[ANNOTATE.phase] = extra.phase;
  await cluster.admin.core.patchNamespacedPod({ namespace, name, body: { metadata: { annotations } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
}

export async function podsOf(cluster: TestCluster, namespace: string, jobName: string): Promise<V1Pod[]> {
  const list = await cluster.admin.core.listNamespacedPod({ namespace, labelSelector: `batch.kubernetes.io/job-name=${jobName}` });
  return list.items.sort((a, b) => (a.metadata?.creationTimestamp?.getTime() ?? 0) - (b.metadata?.creationTimestamp?.getTime() ?? 0));
}

/** The pod's completion index; 0 for a pod of a Job that is not Indexed (the build's). */
export const indexOf = (pod: V1Pod): number => Number(pod.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'] ?? 0);

/** What the cluster says about a Job (its status, its pods, the namespace's recent events): for a failed wait's message. */
export async function diagnose(cluster: TestCluster, namespace: string, jobName: string): Promise<string> {
  const job = await cluster.admin.batch.readNamespacedJob({ namespace, name: jobName }).catch((e: Error) => e.message);
  const pods = await podsOf(cluster, namespace, jobName).catch(() => []);
  const events = await cluster.admin.core.listNamespacedEvent({ namespace }).then((l) => l.items, () => []);
  return JSON.stringify(
    {
      job: typeof job === 'string' ? job : job.status,
      pods: pods.map((p) => ({ name: p.metadata?.name, node: p.spec?.nodeName, phase: p.status?.phase, conditions: p.status?.conditions, annotations: p.metadata?.annotations })),
      events: events.slice(-30).map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.reason}: ${e.message}`),
    },
    null,
    1,
  );
}
