/**
 * A store the original service wrote: its example inspection (../shared/fixtures/amun-example,
 * batch 20 of which 3 results are kept, no listing entry, no summary, results in the original's
 * shape) copied object by object into the bucket of a running stack, as `aws s3 sync` would.
 *
 * - the next start finds the listing missing and builds it from the store's layout: the
 *   inspection is listed, its status summarized, its results, logs and build log read as the
 *   original's clients read them (the original description's schemas enforced);
 * - its stored specification re-submits with 202;
 * - `amun reindex` on a stopped data directory lists and summarizes it, and a second run changes
 *   nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../functions/adapters/clients.js';
import { validators } from '../../functions/core/validation.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';
import { amun } from '../support/cli.js';
import { exampleDir, OriginalClient } from '../support/original-openapi.js';
import { api, snapshot, tempDir, waitFor } from '../support/stack.js';

const ID = 'inspection-rhtf-conv2d-0f845f38';
const ITEMS = [0, 1, 2];
const fixture = (...parts: string[]): string => readFileSync(join(exampleDir, ...parts), 'utf8');
const fixtureJson = (...parts: string[]): Record<string, unknown> => JSON.parse(fixture(...parts)) as Record<string, unknown>;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** Every file of the example, PUT under the store prefix as the original laid it out. */
async function copyExample(stack: LocalStack): Promise<number> {
  const s3 = makeS3Client({ region: stack.config.region, endpoint: stack.storageEndpoint });
  const paths = files(exampleDir);
  for (const path of paths) {
    const key = `${stack.config.storePrefix}/${ID}/${relative(exampleDir, path)}`;
    await s3.send(new PutObjectCommand({ Bucket: stack.config.bucket, Key: key, Body: readFileSync(path) }));
  }
  return paths.length;
}

const listed = async (stack: LocalStack): Promise<string[]> => (await api(stack.apiUrl, 'GET', '/api/v1/inspect?limit=100')).body.inspections as string[];

const base = (dataDir: string, extra: Partial<LocalStackOptions> = {}): LocalStackOptions => ({ dataDir, port: 0, executor: 'process', waitTimeSeconds: 1, ...extra });

describe('the original example inspection copied into the store', () => {
  const dir = tempDir('amun-original-store-');
  const fetched: string[] = [];
  let stack: LocalStack;

  beforeAll(async () => {
    // Copied into a running stack: its result objects reach the index stage as S3 events would.
    // (Started with an empty store: the listing is not missing, only not built at start, so
    // that nothing races the copy.)
    const first = await startLocalStack(base(dir.path, { reindexAtStart: false }));
    expect(await copyExample(first)).toBe(12);
    await first.idle();
    // No listing entry: the original wrote none, and copying objects writes none.
    expect(await listed(first)).not.toContain(ID);
    await first.stop();
    // The next start finds the listing missing and builds it.
    stack = await startLocalStack(base(dir.path, { overrides: { fetchScript: async (url) => (fetched.push(url), 'print("stand-in")\n') } }));
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('is listed after the next start, dated by its @created', async () => {
    await waitFor('the listing to be rebuilt', async () => ((await listed(stack)).includes(ID) ? true : undefined), 30_000);
    const created = fixtureJson('build', 'specification')['@created'] as string; // zone-less: UTC
    const entry = stack.app.layout.indexEntry(ID, Date.parse(`${created}Z`));
    expect(await stack.app.store.exists(entry)).toBe(true);
  });

  it('is summarized from what it stored: 3 of 20 items, the build inferred from its results', async () => {
    const answer = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${ID}/status`);
    expect(answer.status).toBe(200);
    const status = answer.body.status;
    expect(status.data_stored).toBe(true);
    expect(status.build).toMatchObject({ state: 'terminated', exit_code: 0 });
    expect(status.workflow).toMatchObject({ items_total: 20, items_done: 3, progress: '4/21' });
    expect(status.workflow.startedAt).toEqual(expect.any(String));
    const summary = await stack.app.records.summary(ID);
    expect(summary).toBeDefined();
    expect(validators.summary(summary?.summary)).toBe(true);
  });

  it("reads as the original's clients read it: batch-size, every result and log, the build log, the specification (the original's schemas enforced)", async () => {
    const client = new OriginalClient(stack.apiUrl);
    const path = { inspection_id: ID };
    expect((await client.call('get_inspection_job_batch_size', { path })).body.batch_size).toBe(3);
    for (const item of ITEMS) {
      const stored = fixtureJson('results', String(item), 'result');
      const result = await client.call('get_inspection_job_result', { path: { ...path, item } });
      expect(result.body.result).toEqual(stored);
      const log = await client.call('get_inspection_job_log', { path: { ...path, item } });
      expect(log.body.log).toBe(fixture('results', String(item), 'log'));
    }
    expect((await client.call('get_inspection_job_result', { path: { ...path, item: 3 } })).status).toBe(404);
    expect((await client.call('get_inspection_build_log', { path })).body.log).toBe(fixture('build', 'log'));
    const specification = (await client.call('get_inspection_specification', { path })).body.specification;
    expect(specification).toEqual(fixtureJson('build', 'specification'));
  });

  it('re-submits its stored specification with 202, as it is', async () => {
    const specification = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${ID}/specification`)).body.specification as Record<string, unknown>;
    const answer = await api(stack.apiUrl, 'POST', '/api/v1/inspect', specification);
    expect(answer.status).toBe(202);
    expect(fetched).toEqual([specification.script]);
    expect(answer.body.parameters).toMatchObject({ identifier: specification.identifier, script: specification.script, batch_size: 20, python: specification.python });
  });
});

describe('amun reindex', () => {
  const dir = tempDir('amun-reindex-');

  afterAll(() => dir.remove());

  it('lists and summarizes what the store holds unlisted, once: a second run adds nothing and changes no object', async () => {
    // A stack that builds no listing at start and runs no index stage: the example stays as the
    // original left it (no listing entry, no summary).
    const stack = await startLocalStack(base(dir.path, { reindexAtStart: false, wrapHandler: (name, handler) => (name === 'index' ? async () => ({ batchItemFailures: [] }) : handler) }));
    await copyExample(stack);
    await stack.idle();
    expect(await stack.app.records.summary(ID)).toBeUndefined();
    await stack.stop();

    const env = { AMUN_DATA_DIR: dir.path };
    const first = await amun(['reindex'], { env });
    expect({ code: first.code, stdout: first.stdout }).toEqual({ code: 0, stdout: '1 inspection in the store; 1 added to the listing, 1 summarized\n' });

    const after = await startLocalStack(base(dir.path, { reindexAtStart: false }));
    let before: Map<string, string>;
    try {
      expect(await listed(after)).toEqual([ID]);
      expect((await after.app.records.summary(ID))?.summary).toMatchObject({ items_done: 3, batch_size: 20, build: 'succeeded' });
      before = await snapshot(after);
    } finally {
      await after.stop();
    }

    const second = await amun(['reindex'], { env });
    expect({ code: second.code, stdout: second.stdout }).toEqual({ code: 0, stdout: '1 inspection in the store; 0 added to the listing, 0 summarized\n' });
    const again = await startLocalStack(base(dir.path, { reindexAtStart: false }));
    try {
      expect(await snapshot(again)).toEqual(before);
    } finally {
      await again.stop();
    }
  });

  it('refuses --url: it reads the store itself', async () => {
    const outcome = await amun(['--url', 'http://127.0.0.1:9', 'reindex']);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toMatch(/reads the store itself/);
  });
});
