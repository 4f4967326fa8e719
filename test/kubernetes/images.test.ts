/**
 * Which image runs, when build pods run the user's code with push access to the repository: the
 * executor against the fake API server, the embedded S3 and a registry over HTTP.
 *
 * A tag in the registry is never a cached build; a cache hit comes only from the functions' own
 * record. Runs pin `<registry>@sha256:…` resolved by the functions from the build's own tag and
 * checked against the digest the build reported; a tag pushed over by someone else makes the runs
 * refused, never poisoned, and cannot reach a later inspection of the same stack. No pod holds a
 * grant for the records.
 */
import { ClientNodeKubeApi, kubeconfigFile } from '../../functions/adapters/kubernetes/kube-api.js';
import { KubernetesExecutor } from '../../functions/adapters/kubernetes/executor.js';
import { ImageRecords } from '../../functions/adapters/kubernetes/images.js';
import { OciRegistry } from '../../functions/adapters/kubernetes/registry.js';
import { encodeContext } from '../../functions/core/context.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus } from '../../functions/core/generated/types.js';
import { stableJson } from '../../functions/core/json.js';
import { parseImageRecord } from '../../functions/adapters/kubernetes/model/image-record.js';
import { buildImageTag, objectName } from '../../functions/adapters/kubernetes/manifests/index.js';
import { Layout } from '../../functions/core/layout.js';
import type { ContextFile, LogSink } from '../../functions/core/ports.js';
import { tempDir } from '../support/stack.js';
import { startFakeApiServer, type FakeApiServer } from './support/fake-apiserver.js';
import { cpuPinnedSpec, settings, validateManifest } from './support/fixtures.js';
import { manifestFor, startFakeRegistry, type FakeRegistry } from './support/registry.js';
import { startEmbeddedS3, type EmbeddedS3 } from './support/s3.js';
import type { Specification } from '../../functions/core/specification.js';

const T0 = new Date('2025-03-01T10:00:00Z');
const clock = { now: () => T0 };
const layout = new Layout('inspections');

interface Seeded {
  id: string;
  spec: Specification;
  stackDigest: string;
  dockerfile: string;
  context: ContextFile[];
}

function sink(): LogSink & { text: string } {
  return { text: '', write(c) { this.text += String(c); }, flush: async () => undefined };
}

describe('trusted image digests', () => {
  const dir = tempDir('amun-images-');
  let fake: FakeApiServer;
  let s3: EmbeddedS3;
  let registry: FakeRegistry;
  let images: ImageRecords;
  let executor: KubernetesExecutor;

  beforeAll(async () => {
    fake = await startFakeApiServer({ dir: dir.path, start: T0 });
    s3 = await startEmbeddedS3(`${dir.path}/s3`);
    registry = await startFakeRegistry();
    images = new ImageRecords({ store: s3.store, layout, registry: new OciRegistry(), registryName: registry.repository, clock });
    const api = new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun');
    executor = new KubernetesExecutor({ api, records: s3.records, signer: s3.signer(clock), images, settings: settings({ registry: registry.repository }), clock });
  });
  afterAll(async () => {
    await registry?.close();
    await s3?.stop();
    await fake?.close();
    dir.remove();
  });

  /** What submit stores: the specification, the Dockerfile and the context. */
  const seed = async (id: string, spec: Specification = cpuPinnedSpec()): Promise<Seeded> => {
    const { dockerfile, context, stackDigest } = generateBuild(spec, harnessFiles);
    await s3.store.put(layout.specification(id), stableJson(spec), 'application/json');
    await s3.store.put(layout.dockerfile(id), dockerfile, 'text/plain');
    await s3.store.put(layout.context(id), encodeContext(context), 'application/json');
    return { id, spec, stackDigest, dockerfile, context };
  };
  const build = (s: Seeded) => executor.build({ inspectionId: s.id, spec: s.spec, dockerfile: s.dockerfile, context: s.context, stackDigest: s.stackDigest, log: sink() });
  /** The build pod's report: the status it uploads, with the digest kaniko wrote. */
  const reported = (s: Seeded, digest: string | null): BuildStatus => ({
    inspection_id: s.id, state: 'succeeded', started_at: T0.toISOString(), finished_at: T0.toISOString(), exit_code: 0, reason: null, message: null, executor: 'kubernetes',
    image: buildImageTag(registry.repository, s.stackDigest, s.id), image_digest: digest, stack_digest: s.stackDigest, cached: false,
  });
  const startRuns = (s: Seeded, status: BuildStatus) => executor.startRuns({ inspectionId: s.id, spec: s.spec, build: status, stackDigest: s.stackDigest, context: async () => s.context, deadlineSeconds: 300 });
  /** The build's kaniko pushing its own tag. */
  const push = (s: Seeded, manifest = manifestFor(s.id)): string => registry.push(buildImageTag(registry.repository, s.stackDigest, s.id).split(':').at(-1)!, manifest);
  const runImage = (id: string): string | undefined => fake.get('Job', objectName(id, 'run'))?.spec.template.spec.containers[0].image;

  let first: Seeded;
  let firstDigest: string;

  it('a tag found in the registry is no cached build: without a record the build Job runs', async () => {
    first = await seed('inspection-images-first-0123abcd');
    // Another build (it holds push access) pushed under this stack's digest and under the tag this inspection will use.
    registry.push(first.stackDigest, manifestFor('poisoned'));
    push(first, manifestFor('poisoned, pre-pushed'));
    const outcome = await build(first);
    expect(outcome).toMatchObject({ state: 'pending' });
    const job = fake.get('Job', objectName(first.id, 'build'))!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...job });
    expect(job.spec.template.spec.initContainers[0].command).toContain(`--destination=${buildImageTag(registry.repository, first.stackDigest, first.id)}`);
  });

  it('runs pin the digest the functions resolved from the build’s own tag, and the stack’s record is written', async () => {
    // kaniko pushes (over the pre-pushed tag) and reports the digest of what it pushed.
    firstDigest = push(first);
    await startRuns(first, reported(first, firstDigest));
    const job = fake.get('Job', objectName(first.id, 'run'))!;
    validateManifest({ apiVersion: 'batch/v1', kind: 'Job', ...job });
    expect(runImage(first.id)).toBe(`${registry.repository}@${firstDigest}`);
    const record = JSON.parse((await s3.text(layout.imageRecord(first.stackDigest)))!) as unknown;
    expect(parseImageRecord(record, { stackDigest: first.stackDigest, registry: registry.repository })).toEqual({
      stack_digest: first.stackDigest, registry: registry.repository, tag: buildImageTag(registry.repository, first.stackDigest, first.id), digest: firstDigest,
      image: `${registry.repository}@${firstDigest}`, inspection_id: first.id, recorded_at: T0.toISOString(),
    });
  });

  it('a later inspection of the same stack is cached from the record, and pins that digest after the tag was pushed over', async () => {
    // Someone pushes over the first build's tag once it was recorded.
    push(first, manifestFor('poisoned, pushed over'));
    const later = await seed('inspection-images-later-0123abcd');
    expect(later.stackDigest).toBe(first.stackDigest);
    const log = sink();
    const outcome = await executor.build({ inspectionId: later.id, spec: later.spec, dockerfile: later.dockerfile, context: later.context, stackDigest: later.stackDigest, log });
    expect(outcome).toMatchObject({ state: 'succeeded', cached: true, image: `${registry.repository}@${firstDigest}`, image_digest: firstDigest });
    expect(log.text).toContain(`by ${first.id}`);
    expect(fake.get('Job', objectName(later.id, 'build'))).toBeUndefined();
    await startRuns(later, { ...(outcome as BuildStatus), inspection_id: later.id, executor: 'kubernetes' });
    expect(runImage(later.id)).toBe(`${registry.repository}@${firstDigest}`);
  });

  it('a redelivered build status keeps the run Job it started, although the tag moved since', async () => {
    const before = fake.list('Job').length;
    await startRuns(first, reported(first, firstDigest));
    expect(fake.list('Job')).toHaveLength(before);
    expect(runImage(first.id)).toBe(`${registry.repository}@${firstDigest}`);
    expect(await s3.store.exists(layout.result(first.id, 0))).toBe(false);
  });

  it('a build whose tag was pushed over after it pushed is not run: refused with the reason, nothing is recorded', async () => {
    const spec = { ...cpuPinnedSpec(), identifier: 'pushed over' };
    const victim = await seed('inspection-images-victim-0123abcd', { ...spec, environment: [{ name: 'VICTIM', value: '1' }] });
    expect(victim.stackDigest).not.toBe(first.stackDigest);
    const own = push(victim);
    const poisoned = push(victim, manifestFor('poisoned'));
    // Refused: the pipeline gives every item a result with this message.
    expect(await startRuns(victim, reported(victim, own))).toEqual({ state: 'refused', message: expect.stringContaining(`names ${poisoned} in the registry, not ${own}`) });
    expect(fake.get('Job', objectName(victim.id, 'run'))).toBeUndefined();
    expect(await s3.store.exists(layout.imageRecord(victim.stackDigest))).toBe(false);
  });

  it('a build that reported no digest, or one its tag is missing for, is not run', async () => {
    const none = await seed('inspection-images-nodigest-0123abcd', { ...cpuPinnedSpec(), environment: [{ name: 'CASE', value: 'none' }] });
    push(none);
    expect(await startRuns(none, reported(none, null))).toEqual({ state: 'refused', message: expect.stringContaining('reported no image digest') });
    const missing = await seed('inspection-images-missing-0123abcd', { ...cpuPinnedSpec(), environment: [{ name: 'CASE', value: 'missing' }] });
    expect(await startRuns(missing, reported(missing, `sha256:${'a'.repeat(64)}`))).toEqual({ state: 'refused', message: expect.stringContaining('is not in the registry') });
    expect(fake.get('Job', objectName(none.id, 'run'))).toBeUndefined();
    expect(fake.get('Job', objectName(missing.id, 'run'))).toBeUndefined();
  });

  it('an unreadable registry starts nothing and throws, so the message is retried', async () => {
    const down = new KubernetesExecutor({
      api: new ClientNodeKubeApi(kubeconfigFile(fake.kubeconfig), 'amun'), records: s3.records, signer: s3.signer(clock), settings: settings({ registry: registry.repository }), clock,
      images: new ImageRecords({ store: s3.store, layout, registry: { manifestDigest: async () => undefined }, registryName: registry.repository, clock }),
    });
    const s = await seed('inspection-images-down-0123abcd', { ...cpuPinnedSpec(), environment: [{ name: 'CASE', value: 'down' }] });
    await expect(down.startRuns({ inspectionId: s.id, spec: s.spec, build: reported(s, push(s)), stackDigest: s.stackDigest, context: async () => s.context, deadlineSeconds: 300 })).rejects.toThrow(/could not tell/);
    expect(fake.get('Job', objectName(s.id, 'run'))).toBeUndefined();
    expect(await s3.store.exists(layout.result(s.id, 0))).toBe(false);
  });

  it('a record whose image is gone from the registry, or that names another registry, is no cache hit', async () => {
    const gone = await seed('inspection-images-gone-0123abcd');
    registry.remove(firstDigest);
    expect(await images.read(gone.stackDigest)).toBeDefined();
    expect(await build(gone)).toMatchObject({ state: 'pending' });
    const elsewhere = new ImageRecords({ store: s3.store, layout, registry: new OciRegistry(), registryName: '127.0.0.1:1/other', clock });
    expect(await elsewhere.read(gone.stackDigest)).toBeUndefined();
    // A damaged record is none either.
    await s3.store.put(layout.imageRecord(gone.stackDigest), '{"digest": "sha256:nope"}', 'application/json');
    expect(await images.read(gone.stackDigest)).toBeUndefined();
  });

  it('no pod holds a grant that reaches the records: the build’s PUT URLs name its log and status, the runs’ POST policy its results/', async () => {
    const key = layout.imageRecord(first.stackDigest);
    const buildSecret = fake.get('Secret', objectName(first.id, 'build-upload'))!;
    const urls = Object.values<string>(buildSecret.data).map((d) => /url = "([^"]+)"/.exec(Buffer.from(d, 'base64').toString('utf8'))![1]!);
    expect(urls.map((u) => decodeURIComponent(new URL(u).pathname))).toEqual([`/amun-k8s/${layout.buildLog(first.id)}`, `/amun-k8s/${layout.buildStatus(first.id)}`]);
    const runSecret = fake.get('Secret', objectName(first.id, 'run-upload'))!;
    const curlrc = Buffer.from(runSecret.data['post.curlrc'], 'base64').toString('utf8');
    const policy = JSON.parse(Buffer.from(/form-string = "policy=([^"]+)"/.exec(curlrc)![1]!, 'base64').toString('utf8')) as { conditions: unknown[] };
    const prefixes = policy.conditions.filter((c): c is [string, string, string] => Array.isArray(c) && c[0] === 'starts-with' && c[1] === '$key').map((c) => c[2]);
    expect(prefixes).toEqual([layout.resultsPrefix(first.id)]);
    expect(key.startsWith(prefixes[0]!)).toBe(false);
    expect(key).toBe(`inspections/images/${first.stackDigest}`);
  });
});
