/**
 * The original service's own Python client, unchanged: the `amun` package from PyPI (0.5.0, its
 * generated swagger_client and its lib wrappers), installed by scripts/ci-original-client.sh into a
 * venv under /var/cache/amun (.ci/run does it). test/contract/fixtures/original_client.py drives a
 * stack with it as its users did and prints what it saw; this test checks that.
 *
 * Without the venv the suite is skipped loudly, and fails under CI (CI=true).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { tempDir } from '../support/stack.js';

const PYTHON = process.env.AMUN_CLIENT_PYTHON ?? '/var/cache/amun/amun-client-0.5.0/bin/python';
const DRIVER = join(import.meta.dirname, 'fixtures', 'original_client.py');

function drive(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [DRIVER, url], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const installed = existsSync(PYTHON);
const suite = installed ? describe : process.env.CI === 'true' ? describe : describe.skip;
if (!installed) process.stderr.write(`\n!!! original client: ${PYTHON} is missing (scripts/ci-original-client.sh makes it); ${process.env.CI === 'true' ? 'failing under CI' : 'SKIPPING'}\n\n`);

suite('the original amun client (PyPI amun 0.5.0), unchanged', () => {
  const dir = tempDir('amun-original-client-');
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('submits, waits on batch-size, reads every result and log, the build log, the status and the specification; errors come back declared', async () => {
    if (!installed) throw new Error(`${PYTHON} is missing under CI: run scripts/ci-original-client.sh`);
    const outcome = await drive(stack.apiUrl);
    expect({ code: outcome.code, stderr: outcome.code === 0 ? '' : outcome.stderr }).toEqual({ code: 0, stderr: '' });
    const seen = JSON.parse(outcome.stdout) as Record<string, any>;

    expect(seen.version).toEqual({ version: expect.any(String), service_version: expect.stringContaining('store-layout') });
    expect(seen.dockerfile).toMatch(/^FROM docker\.io\/library\/python:3\.12-slim$/m);
    expect(seen.submitted).toMatchObject({ inspection_id: expect.stringMatching(/^inspection-amun-client-[0-9a-f]{8}$/), parameters: { batch_size: 3 } });

    // batch-size counts the results stored: from 0, never down, up to the batch size.
    const counts = seen.counts as number[];
    expect(counts[0]).toBe(0);
    expect(counts.at(-1)).toBe(3);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    for (const state of seen.states as Array<Record<string, unknown>>) {
      expect(state.data_stored).toBe(true);
      expect(['scheduling', 'waiting', 'running', 'terminated']).toContain(state.build);
      expect(state.progress).toMatch(/^[0-4]\/4$/);
    }

    // Every result, and the log as the client's model reads it (the run's result document).
    expect(seen.results).toHaveLength(3);
    for (const result of seen.results as Array<Record<string, any>>) {
      expect(result).toMatchObject({ exit_code: 0, stdout: { ok: true, rate: 12.5 }, log_exit_code: 0, log_stdout: { ok: true, rate: 12.5 } });
      expect(result.hwinfo_keys).toEqual(expect.arrayContaining(['cpu_info', 'platform']));
      expect(result.usage_utime).toBeGreaterThanOrEqual(0);
    }
    expect(seen.build_log.length).toBeGreaterThan(0);
    expect(seen.specification).toMatchObject({ identifier: 'amun-client', batch_size: 3, base: 'docker.io/library/python:3.12-slim' });
    expect(seen.finished).toMatchObject({ data_stored: true, build: { state: 'terminated', exit_code: 0 }, workflow: { phase: 'Succeeded', progress: '4/4', items_total: 3 } });

    expect(seen.errors).toEqual({
      'unknown inspection': { status: 404, body: expect.objectContaining({ error: expect.any(String) }) },
      'item past the batch': { status: 404, body: expect.objectContaining({ error: expect.any(String) }) },
      'bad specification': { status: 400, body: expect.objectContaining({ problems: [{ path: '/batch_size', message: expect.any(String) }] }) },
    });
  }, 180_000);
});
