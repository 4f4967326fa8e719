/**
 * A failure mid-pipeline is recorded in the store and visible in status; nothing is retried
 * forever: an executor that keeps failing on an item gives that item a result saying why, and
 * an inspection whose build keeps failing is closed as failed.
 */
import { join } from 'node:path';
import { ProcessExecutor } from '../../functions/adapters/executors/process.js';
import type { Executor } from '../../functions/core/ports.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { api, drain, tempDir, waitFor } from '../support/stack.js';

async function finished(stack: LocalStack, id: string): Promise<any> {
  return waitFor('the inspection to finish', async () => {
    const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
    return s.body?.status?.workflow?.finished ? s.body.status : undefined;
  }, 60_000, 100);
}

describe('failures mid-pipeline', () => {
  const dir = tempDir();
  let stack: LocalStack;
  const attempts = { build: 0, item1: 0 };

  beforeAll(async () => {
    const real = new ProcessExecutor({ dataDir: join(dir.path, 'process') });
    const flaky: Executor = {
      kind: 'process',
      build: async (request) => {
        if (request.spec.identifier === 'broken-build') {
          attempts.build++;
          throw new Error('the engine went away');
        }
        return real.build(request);
      },
      runItem: async (request) => {
        if (request.item === 1) {
          attempts.item1++;
          throw new Error('the engine went away');
        }
        return real.runItem(request);
      },
    };
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      waitTimeSeconds: 1,
      overrides: { executor: flaky, logIntervalMs: 50 },
      queueAttributes: { run: { visibilityTimeoutSeconds: 1 }, work: { visibilityTimeoutSeconds: 1 } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('gives an item that keeps failing a result with the reason, and closes the inspection as failed', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'flaky', batch_size: 3, script: 'print("{}")' });
    const status = await finished(stack, submitted.body.inspection_id);
    expect(status.workflow).toMatchObject({ state: 'failed', items_done: 3, items_failed: 1 });
    expect(attempts.item1).toBe(3);
    const result = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${submitted.body.inspection_id}/job/1/result`);
    expect(result.body.result).toMatchObject({ reason: 'executor_error', exit_code: null, item: 1 });
    expect(result.body.result.message).toContain('the engine went away');
    expect((await drain(stack, stack.queueUrls.completions!)).map((m: any) => m.state)).toEqual(['failed']);
  });

  it('records an executor that fails a build as a failed build, at once', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'broken-build', script: 'print(1)' });
    const status = await finished(stack, submitted.body.inspection_id);
    expect(attempts.build).toBe(1);
    expect(status.build).toMatchObject({ state: 'terminated', reason: 'executor_error' });
    expect(status.workflow).toMatchObject({ state: 'failed', build: 'failed', items_done: 0 });
    const log = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${submitted.body.inspection_id}/build/log`);
    expect(log.body.log).toContain('the engine went away');
  });

  it('closes a build that cannot even start after the last delivery, instead of dropping it', async () => {
    // A stored inspection whose Dockerfile is gone: every delivery fails before the executor runs.
    const id = 'inspection-orphan-0000aaaa';
    const { store, layout } = stack.app;
    await store.put(layout.specification(id), JSON.stringify({ base: 'x/y:z', batch_size: 1, script: 'print(1)' }));
    await stack.app.queues.work.send({ type: 'build', inspection_id: id });
    const status = await finished(stack, id);
    expect(status.build).toMatchObject({ state: 'terminated', reason: 'executor_error' });
    expect(status.workflow).toMatchObject({ state: 'failed', build: 'failed' });
    expect((await store.get(layout.buildStatus(id)))?.toString()).toContain('build failed 3 times');
  });
});

describe('runs that cannot be started', () => {
  const dir = tempDir();
  let stack: LocalStack;
  let starts = 0;

  beforeAll(async () => {
    // A cluster executor whose cluster stays unreachable: the build reports, the runs never start.
    const unreachable: Executor = {
      kind: 'kubernetes',
      build: async (request) => ({ state: 'succeeded', started_at: null, finished_at: null, exit_code: 0, reason: null, message: null, image: 'registry.example/amun@sha256:' + '0'.repeat(64), image_digest: null, stack_digest: request.stackDigest, cached: false }),
      startRuns: async (request) => {
        // One inspection's runs are refused outright (they cannot be placed); the others' cluster is unreachable.
        if (request.spec.identifier === 'refused') return { state: 'refused', message: 'no node can place /run/requests/hardware/cpu_family' };
        starts++;
        throw new Error('connect ECONNREFUSED the cluster');
      },
    };
    stack = await startLocalStack({
      dataDir: dir.path,
      port: 0,
      waitTimeSeconds: 1,
      overrides: { executor: unreachable, logIntervalMs: 50 },
      queueAttributes: { scheduleEvents: { visibilityTimeoutSeconds: 1 } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('gives every item a result saying why after the last delivery, and closes the inspection as failed', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'unschedulable', batch_size: 2, script: 'print(1)' });
    const status = await finished(stack, submitted.body.inspection_id);
    expect(starts).toBe(5);
    expect(status.workflow).toMatchObject({ state: 'failed', items_done: 2, items_failed: 2 });
    for (const item of [0, 1]) {
      const result = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${submitted.body.inspection_id}/job/${item}/result`);
      expect(result.body.result).toMatchObject({ reason: 'executor_error', exit_code: null, item });
      expect(result.body.result.message).toContain('scheduling failed 5 times: connect ECONNREFUSED the cluster');
    }
    const dlq = await drain(stack, stack.dlqUrls.scheduleEvents!);
    expect(dlq).toEqual([]);
  }, 120_000);

  it('gives every item of refused runs a result with the executor’s reason, at once', async () => {
    const submitted = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'x/y:z', identifier: 'refused', batch_size: 3, script: 'print(1)' });
    const status = await finished(stack, submitted.body.inspection_id);
    expect(status.workflow).toMatchObject({ state: 'failed', items_done: 3, items_failed: 3 });
    for (const item of [0, 1, 2]) {
      const result = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${submitted.body.inspection_id}/job/${item}/result`);
      expect(result.body.result).toMatchObject({ reason: 'executor_error', exit_code: null, item, executor: 'kubernetes', message: 'no node can place /run/requests/hardware/cpu_family' });
    }
  }, 120_000);
});
