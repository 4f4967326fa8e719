/**
 * What submit stores and how: the files every inspection shares (the harness, the generator's own
 * scripts) are stored once as content-addressed blobs and named from each context, so a
 * script-only inspection stores a few KB; every reader still gets the full context, so stack
 * digests are those of a context with every file inline; contexts stored before blobs still
 * read; a minted id is claimed with a conditional create, no read first. On the embedded S3 (real
 * HTTP, the store's own operation counters).
 */
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../functions/adapters/clients.js';
import { encodeContext } from '../../functions/core/context.js';
import { digestBuild, generateBuild, isUnchangingContextPath } from '../../functions/core/dockerfile.js';
import { CorruptDataError } from '../../functions/core/errors.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import { InspectionService } from '../../functions/core/inspections.js';
import { Layout } from '../../functions/core/layout.js';
import type { ContextFile, MessageQueue } from '../../functions/core/ports.js';
import { InspectionRecords } from '../../functions/core/records.js';
import { normalizeSpecification } from '../../functions/core/specification.js';
import { BUCKET, REGION, startEmbeddedS3, type EmbeddedS3 } from '../kubernetes/support/s3.js';
import { tempDir } from '../support/stack.js';

const SCRIPT_ONLY = { base: 'registry.fedoraproject.org/fedora:40', identifier: 'storage', script: 'import json\nprint(json.dumps({"answer": 42}))\n' };
const VERSION = '1.0.0';
/** The target of issue 14: what one script-only inspection stores at submit. */
const MAX_STORED_BYTES = 5 * 1024;

const bytes = (c: string | Buffer): Buffer => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
const view = (files: ReadonlyArray<ContextFile>) =>
  [...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => ({ path: f.path, mode: f.mode ?? 0o644, sha: bytes(f.content).toString('hex') }));

describe('submit: what is stored, once and per inspection', () => {
  const dir = tempDir('amun-submit-store-');
  let s3: EmbeddedS3;
  let client: ReturnType<typeof makeS3Client>;
  const layout = new Layout('inspections');
  const sent: Array<Record<string, unknown>> = [];
  const queue: MessageQueue = { send: async (message) => void sent.push(message as Record<string, unknown>) };
  const service = (records: InspectionRecords) => new InspectionService({ records, workQueue: queue, clock: { now: () => new Date() }, version: VERSION });

  beforeAll(async () => {
    s3 = await startEmbeddedS3(join(dir.path, 's3'));
    client = makeS3Client({ region: REGION, endpoint: s3.endpoint });
  }, 60_000);
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    dir.remove();
  });

  const sizes = async (prefix: string): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) out.set(o.Key!, o.Size ?? 0);
      token = page.NextContinuationToken;
    } while (token);
    return out;
  };
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

  it(`stores a script-only inspection in under ${MAX_STORED_BYTES} bytes, the shared files once`, async () => {
    const { inspectionId } = await service(s3.records).submit(SCRIPT_ONLY);
    const own = await sizes(layout.root(inspectionId));
    expect([...own.keys()].sort()).toEqual([layout.context(inspectionId), layout.dockerfile(inspectionId), layout.specification(inspectionId)].sort());
    expect(sum(own)).toBeLessThan(MAX_STORED_BYTES);

    // The shared files are blobs, each stored once however many inspections name them.
    const blobs = await sizes(`${layout.blobPrefix}/`);
    const shared = generateBuild(normalizeSpecification(SCRIPT_ONLY, { now: new Date(), version: VERSION }), harnessFiles).context.filter((f) => isUnchangingContextPath(f.path));
    expect(shared.map((f) => f.path)).toEqual(expect.arrayContaining(['amun/harness/entrypoint.py', 'amun/build/run-user.sh']));
    expect(blobs.size).toBe(shared.length);
    expect(sum(blobs)).toBe(shared.reduce((a, f) => a + bytes(f.content).length, 0));
    await service(s3.records).submit(SCRIPT_ONLY);
    await service(new InspectionRecords({ store: s3.store, layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) })).submit(SCRIPT_ONLY);
    expect(await sizes(`${layout.blobPrefix}/`)).toEqual(blobs);
  });

  it('gives every reader the full context: the same files and stack digest as generated', async () => {
    const spec = { ...SCRIPT_ONLY, packages: ['jq'], python_packages: ['requests==2.32.3'] };
    const { inspectionId, specification } = await service(s3.records).submit(spec);
    const generated = generateBuild(specification, harnessFiles);
    // A reader in another process (nothing cached) reads the blobs from the store.
    const fresh = new InspectionRecords({ store: s3.store, layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) });
    const context = await fresh.context(inspectionId);
    expect(view(context)).toEqual(view(generated.context));
    expect(digestBuild(await fresh.dockerfile(inspectionId), context)).toBe(generated.stackDigest);
  });

  it('reads a context stored before blobs, with every file inline, as before', async () => {
    const specification = normalizeSpecification(SCRIPT_ONLY, { now: new Date('2026-01-02T03:04:05Z'), version: VERSION });
    const generated = generateBuild(specification, harnessFiles);
    const id = 'inspection-stored-before-blobs-0a1b2c3d';
    await s3.store.put(layout.context(id), encodeContext(generated.context), 'application/json');
    await s3.store.put(layout.dockerfile(id), generated.dockerfile, 'text/plain');
    const context = await s3.records.context(id);
    expect(view(context)).toEqual(view(generated.context));
    expect(digestBuild(generated.dockerfile, context)).toBe(generated.stackDigest);
  });

  it('refuses a blob that does not match its digest, and a context naming one that is missing', async () => {
    const { inspectionId } = await service(s3.records).submit({ ...SCRIPT_ONLY, packages: ['tar'] });
    const stored = JSON.parse((await s3.text(layout.context(inspectionId)))!) as { files: Array<{ path: string; sha256?: string }> };
    const named = stored.files.find((f) => f.path === 'amun/build/native/install-packages.sh')!;
    expect(named.sha256).toMatch(/^[0-9a-f]{64}$/);
    const original = (await s3.store.get(layout.blob(named.sha256!)))!;
    const fresh = () => new InspectionRecords({ store: s3.store, layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) });
    try {
      await s3.store.put(layout.blob(named.sha256!), Buffer.concat([original, Buffer.from('#')]));
      await expect(fresh().context(inspectionId)).rejects.toThrow(CorruptDataError);
      const missing = { ...stored, files: stored.files.map((f) => (f === named ? { ...f, sha256: '0'.repeat(64) } : f)) };
      await s3.store.put(layout.context(inspectionId), JSON.stringify(missing), 'application/json');
      await expect(fresh().context(inspectionId)).rejects.toThrow(/names the blob 0{64}.*not stored/);
    } finally {
      await s3.store.put(layout.blob(named.sha256!), original);
    }
  });

  it('claims a minted id with a conditional create: no read, and a taken id is minted again with nothing written over', async () => {
    // Warm: this process has stored the blobs, so a submit costs its own objects only.
    await service(s3.records).submit(SCRIPT_ONLY);
    const before = { ...s3.store.stats };
    sent.length = 0;
    const { inspectionId } = await service(s3.records).submit(SCRIPT_ONLY);
    expect({ put: s3.store.stats.put - before.put, head: s3.store.stats.head - before.head, get: s3.store.stats.get - before.get }).toEqual({ put: 4, head: 0, get: 0 });
    expect(sent).toEqual([{ type: 'build', inspection_id: inspectionId }]);

    // The first id minted is taken (its Dockerfile exists, as in an inspection the original wrote).
    const store = Object.create(s3.store) as typeof s3.store;
    const taken: string[] = [];
    store.putIf = async (key, body, condition, contentType) => {
      if (taken.length === 0 && key.endsWith('/build/Dockerfile')) {
        taken.push(key);
        await s3.store.put(key, 'FROM theirs\n', 'text/plain');
      }
      return s3.store.putIf(key, body, condition, contentType);
    };
    const records = new InspectionRecords({ store, layout, logSink: () => ({ write: () => undefined, flush: async () => undefined }) });
    const again = await service(records).submit(SCRIPT_ONLY);
    const first = layout.parse(taken[0]!)!.id;
    expect(again.inspectionId).not.toBe(first);
    expect([...(await sizes(layout.root(first))).keys()]).toEqual([layout.dockerfile(first)]);
    expect(await s3.text(layout.dockerfile(first))).toBe('FROM theirs\n');
    expect(await s3.records.exists(again.inspectionId)).toBe(true);
  });

  it('a seeded submit (a spec drop) creates once: a redelivery writes and queues nothing', async () => {
    sent.length = 0;
    const createdAt = new Date('2026-02-03T04:05:06Z');
    const first = await service(s3.records).submit(SCRIPT_ONLY, { idSeed: 'specs/a.json@etag', createdAt });
    const before = { ...s3.store.stats };
    const second = await service(s3.records).submit(SCRIPT_ONLY, { idSeed: 'specs/a.json@etag', createdAt });
    expect([first.created, second.created, second.inspectionId]).toEqual([true, false, first.inspectionId]);
    expect(s3.store.stats.put - before.put).toBe(0);
    expect(sent).toHaveLength(1);
  });
});
