/**
 * Killing the local stack (SIGKILL, no chance to flush) after the first result and starting it
 * again on the same data directory finishes the inspection with exactly three results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { api, drain, tempDir, waitFor } from '../support/stack.js';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');

interface Running {
  child: ChildProcess;
  apiUrl: string;
  storage: string;
  completions: string;
  exited: Promise<void>;
}

function start(dataDir: string): Promise<Running> {
  const child = spawn(node, ['--import', 'tsx', 'local/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', AMUN_DATA_DIR: dataDir, AMUN_EXECUTOR: 'process', AMUN_WAIT_SECONDS: '1', AMUN_LOG_LEVEL: 'INFO' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split('\n')) {
        if (!line.includes('amun is listening')) continue;
        const entry = JSON.parse(line) as { api: string; storage: string; completions: string };
        resolve({ child, apiUrl: entry.api.replace(/\/api\/v1$/, ''), storage: entry.storage, completions: entry.completions, exited });
      }
    });
    child.once('exit', (code) => reject(new Error(`stack exited with ${code}: ${stderr}`)));
  });
}

describe('restart after a crash', () => {
  const dir = tempDir();
  let running: Running | undefined;
  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGTERM');
      await running.exited;
    }
    dir.remove();
  });

  it('finishes with exactly three results and one completion message', async () => {
    running = await start(dir.path);
    const submitted = await api(running.apiUrl, 'POST', '/api/v1/inspect', {
      base: 'localhost/debian:bookworm',
      identifier: 'restart',
      batch_size: 3,
      script: 'import time, json\ntime.sleep(1.5)\nprint(json.dumps({"ok": True}))\n',
    });
    expect(submitted.status).toBe(202);
    const id = submitted.body.inspection_id as string;
    await waitFor('the first result', async () => ((await api(running!.apiUrl, 'GET', `/api/v1/inspect/${id}/job/0/result`)).status === 200 ? true : undefined), 60_000, 50);
    running.child.kill('SIGKILL');
    await running.exited;

    running = await start(dir.path);
    const first = running;
    const status = await waitFor('the inspection to finish after the restart', async () => {
      const s = await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? s.body.status : undefined;
    }, 90_000, 200);
    expect(status.workflow).toMatchObject({ state: 'succeeded', items_done: 3, items_failed: 0 });
    for (const item of [0, 1, 2]) expect((await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/job/${item}/result`)).status).toBe(200);
    expect((await api(first.apiUrl, 'GET', `/api/v1/inspect/${id}/job/3/result`)).status).toBe(404);
    const completions = await drain({ storageEndpoint: first.storage }, first.completions);
    expect(completions.filter((m) => (m as { inspection_id: string }).inspection_id === id)).toHaveLength(1);
  }, 180_000);
});
