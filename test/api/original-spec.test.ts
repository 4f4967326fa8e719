/**
 * A specification read from the original's store re-submits with 202: the stored example's
 * build/specification, byte for byte as the original wrote it (its '@created', its script URL),
 * POSTed to /api/v1/inspect on a started stack. What is stored keeps the URL as the script and
 * records what was fetched beside it; the build context carries the fetched text.
 *
 * The script URL is answered by a fetcher given to the stack (no network in tests); builds are
 * acknowledged without running (this is about the API, not about building TensorFlow).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTEXT_PATHS } from '../../functions/core/dockerfile.js';
import { validators } from '../../functions/core/validation.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir } from '../support/stack.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const stored = readFileSync(join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38', 'build', 'specification'), 'utf8');
const original = JSON.parse(stored) as Record<string, unknown> & { script: string };
const fetchedText = '#!/usr/bin/env python3\nimport json\nprint(json.dumps({"conv2d": "stand-in"}))\n';

describe("a specification from the original's store", () => {
  const dir = tempDir('amun-original-spec-');
  let stack: LocalStack;
  const fetched: string[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      executor: 'process',
      waitTimeSeconds: 1,
      overrides: { fetchScript: async (url) => (fetched.push(url), fetchedText) },
      // Builds are acknowledged, not run.
      wrapHandler: (name, handler) => (name === 'build' ? async () => ({ batchItemFailures: [] }) : handler),
    });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('is accepted as stored (202), keeps its script URL and records what was fetched beside it', async () => {
    const answer = await api(stack.apiUrl, 'POST', '/api/v1/inspect', stored);
    expect({ status: answer.status, body: answer.status === 202 ? undefined : answer.body }).toEqual({ status: 202, body: undefined });
    expect(validators.submitAnswer(answer.body)).toBe(true);
    expect(fetched).toEqual([original.script]);
    const id = answer.body.inspection_id as string;

    const read = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/specification`);
    expect(read.status).toBe(200);
    const spec = read.body.specification as Record<string, unknown>;
    const record = { url: original.script, sha256: createHash('sha256').update(fetchedText).digest('hex'), bytes: Buffer.byteLength(fetchedText) };
    expect(spec).toMatchObject({ script: original.script, '@script_fetched': record, python: original.python, python_packages: original.python_packages, batch_size: 20 });
    expect(spec['@created']).not.toBe(original['@created']); // this inspection's own creation time
    expect(answer.body.parameters).toEqual(spec);

    const context = await stack.app.records.context(id);
    expect(context.find((f) => f.path === CONTEXT_PATHS.script)?.content.toString('utf8')).toBe(fetchedText);
  });

  it('is accepted again as this service stored it (its own annotations replaced, the script fetched again)', async () => {
    const first = await api(stack.apiUrl, 'POST', '/api/v1/inspect', stored);
    const again = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${first.body.inspection_id as string}/specification`)).body.specification as Record<string, unknown>;
    const second = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { ...again, '@amun_service_version': '0.7.2' });
    expect(second.status).toBe(202);
    expect(second.body.parameters).toMatchObject({ script: original.script, '@amun_service_version': '0.7.2' });
    expect(fetched.length).toBe(3);
  });
});
