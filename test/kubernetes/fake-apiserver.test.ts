/**
 * The fake API server answers @kubernetes/client-node the way a real one does, for the calls Amun
 * makes: create (201, 409), read (404), list with label selectors and paging, merge patch, delete
 * with and without cascading, watch from a resourceVersion, pod logs, and token authentication.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Job } from '@kubernetes/client-node';
import { tempDir } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';

const job = (name: string, labels: Record<string, string> = { app: 'x' }): V1Job => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, labels },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } },
});

describe('fake Kubernetes API server', () => {
  const dir = tempDir();
  let fake: FakeApiServer;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  let kc: KubeConfig;

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path });
    kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfig);
    batch = kc.makeApiClient(BatchV1Api);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterAll(async () => {
    await fake.close();
    dir.remove();
  });

  it('creates once; a second create is 409 AlreadyExists; an unknown name is 404 NotFound', async () => {
    const created = await batch.createNamespacedJob({ namespace: 'amun', body: job('one') });
    expect(created.metadata).toMatchObject({ name: 'one', namespace: 'amun', uid: expect.any(String), resourceVersion: expect.stringMatching(/^[0-9]+$/) });
    await expect(batch.createNamespacedJob({ namespace: 'amun', body: job('one') })).rejects.toMatchObject({ code: 409 });
    const missing = await batch.readNamespacedJob({ namespace: 'amun', name: 'nope' }).catch((e: { code: number; body: string }) => e);
    expect(missing).toMatchObject({ code: 404 });
    expect(JSON.parse((missing as { body: string }).body)).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
  });

  it('refuses invalid objects with 422, as validated by kubernetes-models and the name rules', async () => {
    await expect(batch.createNamespacedJob({ namespace: 'amun', body: job('Not_A_Name') })).rejects.toMatchObject({ code: 422 });
    const bad = { ...job('bad-completions'), spec: { ...job('x').spec!, completions: 'three' as unknown as number } };
    await expect(batch.createNamespacedJob({ namespace: 'amun', body: bad })).rejects.toMatchObject({ code: 422 });
  });

  it('lists by label selector, with paging', async () => {
    for (const n of ['a1', 'a2', 'a3']) await batch.createNamespacedJob({ namespace: 'amun', body: job(n, { app: 'amun', tier: n === 'a3' ? 'x' : 'y' }) });
    const all = await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'app=amun' });
    expect(all.items.map((j) => j.metadata?.name)).toEqual(['a1', 'a2', 'a3']);
    expect((await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'app=amun,tier!=x' })).items.map((j) => j.metadata?.name)).toEqual(['a1', 'a2']);
    expect((await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'tier in (x)' })).items.map((j) => j.metadata?.name)).toEqual(['a3']);
    const first = await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'app=amun', limit: 2 });
    expect(first.items).toHaveLength(2);
    const second = await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'app=amun', limit: 2, _continue: first.metadata!._continue! });
    expect(second.items.map((j) => j.metadata?.name)).toEqual(['a3']);
  });

  it('merge-patches, bumping the resourceVersion', async () => {
    const before = await batch.readNamespacedJob({ namespace: 'amun', name: 'a1' });
    const after = await batch.patchNamespacedJob({ namespace: 'amun', name: 'a1', body: { spec: { ttlSecondsAfterFinished: 60 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    expect(after.spec?.ttlSecondsAfterFinished).toBe(60);
    expect(Number(after.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
  });

  it('turns Secret stringData into data, serves pod logs, and cascades deletes only when asked', async () => {
    const owner = await batch.createNamespacedJob({ namespace: 'amun', body: job('owner') });
    const ref = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'owner', uid: owner.metadata!.uid! }];
    const secret = await core.createNamespacedSecret({ namespace: 'amun', body: { metadata: { name: 's', ownerReferences: ref }, stringData: { f: 'hello' } } });
    expect(secret.data).toEqual({ f: Buffer.from('hello').toString('base64') });
    const [pod] = fake.startPods('owner', [0]);
    fake.setLog(pod!.metadata.name, 'c', 'line 1\nline 2\n');
    expect(await core.readNamespacedPodLog({ namespace: 'amun', name: pod!.metadata.name, container: 'c' })).toBe('line 1\nline 2\n');
    const orphaning = await batch.createNamespacedJob({ namespace: 'amun', body: job('orphaning') });
    await core.createNamespacedSecret({ namespace: 'amun', body: { metadata: { name: 'kept', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'orphaning', uid: orphaning.metadata!.uid! }] } } });
    // The REST default for Jobs orphans what they own; Background deletes it.
    await batch.deleteNamespacedJob({ namespace: 'amun', name: 'orphaning' });
    expect(fake.get('Secret', 'kept')).toBeDefined();
    await batch.deleteNamespacedJob({ namespace: 'amun', name: 'owner', propagationPolicy: 'Background' });
    expect(fake.get('Secret', 's')).toBeUndefined();
    expect(fake.list('Pod')).toEqual([]);
  });

  it('streams watch events from a resourceVersion', async () => {
    const list = await batch.listNamespacedJob({ namespace: 'amun', labelSelector: 'app=watched' });
    const seen: Array<{ type: string; name: string | undefined }> = [];
    const done = new Promise<void>((resolve) => {
      void new Watch(kc).watch(
        '/apis/batch/v1/namespaces/amun/jobs',
        { labelSelector: 'app=watched', resourceVersion: list.metadata!.resourceVersion! },
        (type: string, obj: V1Job) => {
          seen.push({ type, name: obj.metadata?.name });
          if (type === 'DELETED') resolve();
        },
        () => undefined,
      );
    });
    await batch.createNamespacedJob({ namespace: 'amun', body: job('w', { app: 'watched' }) });
    await batch.createNamespacedJob({ namespace: 'amun', body: job('unwatched', { app: 'other' }) });
    await batch.deleteNamespacedJob({ namespace: 'amun', name: 'w', propagationPolicy: 'Background' });
    await done;
    expect(seen).toEqual([
      { type: 'ADDED', name: 'w' },
      { type: 'DELETED', name: 'w' },
    ]);
  });

  it('refuses a wrong token with 401', async () => {
    const other = new KubeConfig();
    other.loadFromOptions({ clusters: [{ name: 'c', server: fake.url, skipTLSVerify: true }], users: [{ name: 'u', token: 'wrong' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    await expect(other.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'amun' })).rejects.toMatchObject({ code: 401 });
  });
});
