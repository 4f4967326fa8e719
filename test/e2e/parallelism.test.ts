/**
 * `run.parallelism` under the local executors, on the real embedded stack: the run route takes
 * several messages at once, and the pipeline keeps each inspection to its own parallelism (one at
 * a time by default, as the original). Order and counts are asserted, not durations.
 */
import { join } from 'node:path';
import type { Executor, RunOutput } from '../../functions/core/ports.js';
import { syntheticResult } from '../../functions/core/results.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, tempDir, waitFor } from '../support/stack.js';

describe('run.parallelism', () => {
  const dir = tempDir('amun-parallel-');
  let stack: LocalStack;
  const events: Array<{ id: string; item: number; kind: 'start' | 'end' }> = [];
  const gates = new Map<string, () => void>();
  const runs = new Map<string, number>();

  beforeAll(async () => {
    // Items stay running until the test lets them end: what overlaps is decided by the pipeline alone.
    const executor: Executor = {
      kind: 'process',
      build: async (request) => ({ state: 'succeeded', started_at: null, finished_at: null, exit_code: 0, reason: null, message: null, image: 'local', image_digest: null, stack_digest: request.stackDigest, cached: false }),
      runItem: async (request): Promise<RunOutput> => {
        const key = `${request.inspectionId}/${request.item}`;
        runs.set(key, (runs.get(key) ?? 0) + 1);
        events.push({ id: request.inspectionId, item: request.item, kind: 'start' });
        await new Promise<void>((resolve) => gates.set(key, resolve));
        events.push({ id: request.inspectionId, item: request.item, kind: 'end' });
        const now = new Date();
        const report = syntheticResult({ inspectionId: request.inspectionId, item: request.item, executor: 'process', reason: 'executor_error', message: 'stand-in', script: '', startedAt: now, finishedAt: now, exitCode: 0 });
        return { result: Buffer.from(JSON.stringify({ ...report, reason: null, message: null })), log: Buffer.from('') };
      },
    };
    stack = await startLocalStack({ dataDir: join(dir.path, 'data'), port: 0, waitTimeSeconds: 1, runSlots: 6, overrides: { executor } });
  });
  afterAll(async () => {
    for (const open of gates.values()) open();
    await stack?.stop();
    dir.remove();
  });

  const running = (id: string): number[] => {
    const now = new Set<number>();
    for (const e of events.filter((x) => x.id === id)) {
      if (e.kind === 'start') now.add(e.item);
      else now.delete(e.item);
    }
    return [...now].sort((a, b) => a - b);
  };
  const most = (id: string): number => {
    let current = 0;
    let max = 0;
    for (const e of events.filter((x) => x.id === id)) {
      current += e.kind === 'start' ? 1 : -1;
      max = Math.max(max, current);
    }
    return max;
  };
  /** Lets the running items end, one call at a time, until the inspection is finished. */
  const drive = async (id: string): Promise<void> => {
    for (;;) {
      const status = (await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`)).body.status;
      if (status?.workflow?.finished) return;
      const now = running(id);
      for (const item of now) gates.get(`${id}/${item}`)?.();
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('runs as many items of an inspection at once as its parallelism, never more, each once', async () => {
    const id = (await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'parallel', batch_size: 7, script: 'print(1)', run: { parallelism: 3 } })).body.inspection_id as string;
    await waitFor('three items running', async () => (running(id).length === 3 ? true : undefined), 30_000, 50);
    // Three run; the others wait (their messages received, their turn not come).
    await new Promise((r) => setTimeout(r, 500));
    expect(running(id)).toHaveLength(3);
    await drive(id);
    expect(most(id)).toBe(3);
    for (let item = 0; item < 7; item++) expect({ item, runs: runs.get(`${id}/${item}`) }).toEqual({ item, runs: 1 });
  }, 120_000);

  it('runs the items of an inspection one at a time by default, while another inspection runs beside it', async () => {
    const one = (await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'sequential', batch_size: 3, script: 'print(1)' })).body.inspection_id as string;
    const other = (await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'beside', batch_size: 2, script: 'print(2)', run: { parallelism: 2 } })).body.inspection_id as string;
    await waitFor('both inspections running', async () => (running(one).length === 1 && running(other).length === 2 ? true : undefined), 30_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    expect(running(one)).toHaveLength(1);
    await Promise.all([drive(one), drive(other)]);
    expect(most(one)).toBe(1);
    expect(most(other)).toBe(2);
  }, 120_000);
});
