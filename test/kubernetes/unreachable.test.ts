/**
 * A cluster that cannot be reached, over real sockets on 127.0.0.1: every call of the Kubernetes
 * API is bounded (connecting, sending and reading the answer) and fails with a
 * ClusterUnreachableError naming the endpoint and the cause, leaving no socket open; a port with
 * nothing listening fails at once; an inspection on the embedded stack whose cluster never answers
 * ends with the reason recorded, in a bounded time, and nothing left connected.
 */
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ClientNodeKubeApi, ClusterUnreachableError, KubernetesApiError, kubeconfigFile, type KubeApi } from '../../functions/adapters/kubernetes/kube-api.js';
import { LABELS } from '../../functions/adapters/kubernetes/manifests/index.js';
import { Reconciler } from '../../functions/adapters/kubernetes/reconciler.js';
import { ConfigError, DEFAULT_K8S_TIMEOUT_SECONDS, kubernetesFromEnv } from '../../functions/config.js';
import type { InspectionRecords } from '../../functions/core/records.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';

/** The calls of KubeApi, each with arguments that would succeed on a real cluster. */
const CALLS: Record<keyof Omit<KubeApi, 'namespace'>, (k: KubeApi) => Promise<unknown>> = {
  createJob: (k) => k.createJob({ metadata: { name: 'j' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }], restartPolicy: 'Never' } } } }),
  createSecret: (k) => k.createSecret({ metadata: { name: 's' }, stringData: { a: 'b' } }),
  replaceSecret: (k) => k.replaceSecret({ metadata: { name: 's' }, stringData: { a: 'b' } }),
  createConfigMap: (k) => k.createConfigMap({ metadata: { name: 'c' }, data: { a: 'b' } }),
  listJobs: (k) => k.listJobs('amun/inspection-id'),
  listPods: (k) => k.listPods('amun/inspection-id'),
  podLog: (k) => k.podLog('p', 'c'),
  setJobTtl: (k) => k.setJobTtl('j', 60),
  annotateJob: (k) => k.annotateJob('j', { a: 'b' }),
  deleteJob: (k) => k.deleteJob('j'),
};
const LOG_CALLS = new Set(['podLog']);

function kubeconfig(dir: string, name: string, server: string): string {
  const path = join(dir, name);
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{ name: c, cluster: { server: '${server}', insecure-skip-tls-verify: true } }]`,
    'users: [{ name: u, user: { token: t } }]',
    'contexts: [{ name: x, context: { cluster: c, user: u } }]',
    'current-context: x',
  ];
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Accepts connections, reads what comes, never answers (or, with `head`, answers that much and stalls). */
interface BlackHole {
  url: string;
  accepted: number;
  open: Set<Socket>;
  close(): Promise<void>;
}

async function blackHole(head?: string): Promise<BlackHole> {
  const open = new Set<Socket>();
  const hole = { url: '', accepted: 0, open, close: async () => undefined } as BlackHole;
  const server: Server = createServer((socket) => {
    hole.accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => {
      if (head) socket.write(head);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hole.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hole.close = async () => {
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return hole;
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How long `call` took to reject, and with what. */
async function rejection(call: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await call;
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error('the call succeeded');
}

describe('Kubernetes API calls against a cluster that cannot be reached', () => {
  const dir = tempDir('amun-unreachable-');
  // The client is loaded on first use; loading it is no part of any call's time.
  beforeAll(() => import('@kubernetes/client-node'));
  afterAll(() => dir.remove());

  it('a server that never answers: every call fails within its timeout, typed, and its connection is closed', async () => {
    const hole = await blackHole();
    try {
      const timeoutSeconds = 0.5;
      const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'hole', hole.url)), 'amun', { timeoutSeconds });
      for (const [name, call] of Object.entries(CALLS)) {
        const bound = (LOG_CALLS.has(name) ? 3 : 1) * timeoutSeconds * 1000;
        const before = hole.accepted;
        const { error, ms } = await rejection(call(k));
        expect({ name, error }).toEqual({ name, error: expect.any(ClusterUnreachableError) });
        const typed = error as ClusterUnreachableError;
        expect(typed.endpoint).toBe(hole.url);
        expect(typed.status).toBeUndefined();
        expect(typed.message).toContain(`the cluster at ${hole.url} did not answer within ${bound / 1000} s`);
        // It waited for the answer (the request reached the server), and not much longer than its bound.
        expect(hole.accepted).toBe(before + 1);
        expect(ms).toBeGreaterThanOrEqual(bound - 50);
        expect(ms).toBeLessThan(3 * bound);
        await waitFor(`the server to see the connection of ${name} closed`, async () => (hole.open.size === 0 ? true : undefined), 3 * bound, 20);
      }
    } finally {
      await hole.close();
    }
  });

  it('an answer that starts and then stalls is bounded too: reading the body counts', async () => {
    const hole = await blackHole('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{"kind":"JobList","items":[');
    try {
      const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'stall', hole.url)), 'amun', { timeoutSeconds: 0.5 });
      const { error, ms } = await rejection(k.listJobs('amun/inspection-id'));
      expect(error).toBeInstanceOf(ClusterUnreachableError);
      expect(ms).toBeLessThan(1500);
      await waitFor('the server to see the connection closed', async () => (hole.open.size === 0 ? true : undefined), 1500, 20);
    } finally {
      await hole.close();
    }
  });

  it('a port with nothing listening fails at once, naming the endpoint and the refusal', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const timeoutSeconds = 10;
    const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'refused', url)), 'amun', { timeoutSeconds });
    for (const [name, call] of Object.entries(CALLS)) {
      const { error, ms } = await rejection(call(k));
      expect({ name, error }).toEqual({ name, error: expect.any(ClusterUnreachableError) });
      expect((error as Error).message).toMatch(new RegExp(`cannot reach the cluster at ${url.replace(/\./g, '\\.')}: connect ECONNREFUSED`));
      expect(ms).toBeLessThan((timeoutSeconds * 1000) / 4);
    }
  });

  it('no such host and a TLS handshake that fails are unreachable clusters too', async () => {
    const plain = await blackHole('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
    try {
      const tls = plain.url.replace('http:', 'https:');
      const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'tls', tls)), 'amun', { timeoutSeconds: 5 });
      const handshake = await rejection(k.listPods('x'));
      expect(handshake.error).toBeInstanceOf(ClusterUnreachableError);
      expect((handshake.error as Error).message).toContain(`cannot reach the cluster at ${tls}:`);
    } finally {
      await plain.close();
    }
    // `.invalid` never resolves (RFC 2606); a resolver that does not answer in time is a timeout, typed the same.
    const nowhere = 'https://amun-test.invalid:6443';
    const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'dns', nowhere)), 'amun', { timeoutSeconds: 2 });
    const { error } = await rejection(k.listJobs('x'));
    expect(error).toBeInstanceOf(ClusterUnreachableError);
    expect((error as ClusterUnreachableError).endpoint).toBe(nowhere);
  });

  it('401 and 403 are a cluster the functions cannot use; other answers stay plain API errors', async () => {
    let answer = 401;
    const server: HttpServer = createHttpServer((req, res) => {
      req.resume();
      const reason = answer === 401 ? 'Unauthorized' : answer === 403 ? 'Forbidden' : 'InternalError';
      res.writeHead(answer, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code: answer, message: `${reason.toLowerCase()} here` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const k = new ClientNodeKubeApi(kubeconfigFile(kubeconfig(dir.path, 'auth', url)), 'amun', { timeoutSeconds: 5 });
      for (const code of [401, 403]) {
        answer = code;
        const { error } = await rejection(k.createJob({ metadata: { name: 'j' } }));
        expect(error).toBeInstanceOf(ClusterUnreachableError);
        expect(error).toMatchObject({ status: code, endpoint: url, message: expect.stringContaining(`the cluster at ${url} refused the functions' credentials: ${code}`) });
      }
      answer = 500;
      const { error } = await rejection(k.createJob({ metadata: { name: 'j' } }));
      expect(error).toBeInstanceOf(KubernetesApiError);
      expect(error).not.toBeInstanceOf(ClusterUnreachableError);
      expect(error).toMatchObject({ status: 500 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('AMUN_K8S_TIMEOUT_SECONDS', () => {
  it('bounds each call, 10 s unless set; a value that is not a positive integer is named', () => {
    expect(kubernetesFromEnv({}).timeoutSeconds).toBe(DEFAULT_K8S_TIMEOUT_SECONDS);
    expect(DEFAULT_K8S_TIMEOUT_SECONDS).toBe(10);
    expect(kubernetesFromEnv({ AMUN_K8S_TIMEOUT_SECONDS: '4' }).timeoutSeconds).toBe(4);
    for (const bad of ['0', '-1', '2.5', 'soon']) {
      expect(() => kubernetesFromEnv({ AMUN_K8S_TIMEOUT_SECONDS: bad })).toThrow(ConfigError);
      expect(() => kubernetesFromEnv({ AMUN_K8S_TIMEOUT_SECONDS: bad })).toThrow(/AMUN_K8S_TIMEOUT_SECONDS/);
    }
  });
});

describe('a reconciler pass over a cluster that stops answering', () => {
  // Three finished build Jobs whose status is stored: each needs its TTL set, nothing else.
  const jobs = ['a', 'b', 'c'].map((n) => ({
    metadata: { name: `inspection-${n}-build`, labels: { [LABELS.inspection]: `inspection-${n}`, [LABELS.component]: 'build' } },
    status: { conditions: [{ type: 'Complete', status: 'True' }] },
  }));
  const records = { specification: async () => ({}), hasBuildStatus: async () => true, buildStatus: async () => undefined } as unknown as InspectionRecords;
  const pass = (failure: Error): { run: Promise<unknown>; ttls: string[]; errors: string[] } => {
    const ttls: string[] = [];
    const errors: string[] = [];
    const k = {
      namespace: 'amun',
      listJobs: async () => jobs,
      listPods: async () => [],
      setJobTtl: async (name: string) => {
        ttls.push(name);
        throw failure;
      },
    } as unknown as KubeApi;
    const run = new Reconciler({ api: k, records, clock: { now: () => new Date() }, onError: (job) => errors.push(job) }).run();
    return { run, ttls, errors };
  };

  it('ends at the first call that gets no answer instead of waiting out the timeout for every Job', async () => {
    const noAnswer = new ClusterUnreachableError('kubernetes: set the TTL: the cluster at https://k did not answer within 10 s', undefined, 'https://k');
    const { run, ttls, errors } = pass(noAnswer);
    await expect(run).rejects.toBe(noAnswer);
    expect(ttls).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it('goes on past a refusal of one verb (403): the other Jobs are tried, each failure reported', async () => {
    const { run, ttls, errors } = pass(new ClusterUnreachableError('kubernetes: set the TTL: refused: 403', 403, 'https://k'));
    await expect(run).resolves.toMatchObject({ jobs: 3, errors: 3, ttls: 0 });
    expect(ttls).toHaveLength(3);
    expect(errors).toEqual(jobs.map((j) => j.metadata.name));
  });
});

/** The cluster runs digest-pinned images only. */
const PINNED = {
  AMUN_BUILDER_IMAGE: `ghcr.io/osscontainertools/kaniko:debug@sha256:${'a'.repeat(64)}`,
  AMUN_K8S_UPLOADER_IMAGE: `docker.io/curlimages/curl:8.11.1@sha256:${'b'.repeat(64)}`,
};

describe('an inspection whose cluster never answers', () => {
  const dir = tempDir('amun-unreachable-stack-');
  let hole: BlackHole;
  let stack: LocalStack;
  const timeoutSeconds = 0.5;

  beforeAll(async () => {
    hole = await blackHole();
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      executor: 'kubernetes',
      waitTimeSeconds: 1,
      overrides: { logIntervalMs: 50 },
      settings: { kubernetes: { ...kubernetesFromEnv(PINNED), kubeconfig: kubeconfig(dir.path, 'kubeconfig', hole.url), registry: '127.0.0.1:5999/amun', timeoutSeconds } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await hole?.close();
    dir.remove();
  });

  it('ends failed with the endpoint and the cause recorded, in a bounded time, with nothing left connected', async () => {
    const started = Date.now();
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'docker.io/library/python:3.12-slim', identifier: 'unreachable', batch_size: 2, script: 'print(1)' });
    expect(submitted.status).toBe(202);
    const id = submitted.body.inspection_id as string;
    const status = await waitFor('the inspection to finish', async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 30_000, 100);
    // The build's calls, the status reads' live view and the queue's hops: far below a visibility timeout.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(status.build).toMatchObject({ state: 'terminated', reason: 'executor_error' });
    expect(status.workflow).toMatchObject({ state: 'failed', build: 'failed', build_reason: 'executor_error', phase: 'Error', items_done: 0 });
    const reason = `the cluster at ${hole.url} did not answer within ${timeoutSeconds} s`;
    const build = JSON.parse((await stack.app.store.get(stack.app.layout.buildStatus(id)))!.toString('utf8'));
    expect(build).toMatchObject({ state: 'failed', reason: 'executor_error', executor: 'kubernetes', message: expect.stringContaining(reason) });
    expect(build.message).toContain('create job');
    const log = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/build/log`);
    expect(log.body.log).toContain(reason);
    await stack.idle();
    await waitFor('every connection to the cluster closed', async () => (hole.open.size === 0 ? true : undefined), 10 * timeoutSeconds * 1000, 20);
    expect(hole.accepted).toBeGreaterThan(0);
  });
});
