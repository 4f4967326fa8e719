/**
 * The load generator of bench/api.ts, on its own thread so that the clients do not take CPU from
 * the API's thread (as a second process would not). Jobs arrive as messages; each answers with
 * the latencies it measured and the inspection ids it created.
 */
import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';
import { threadCpuMs } from './thread-cpu.js';

export interface LoadJob {
  url: string;
  what: 'submit' | 'status';
  clients: number;
  total: number;
  maxSeconds: number;
  ids: string[];
  /** The spec submitted (default: a script-less one with a new identifier each time). */
  spec?: Record<string, unknown>;
}

export interface LoadResult {
  latencies: number[];
  errors: number;
  seconds: number;
  ids: string[];
  /** CPU time of this thread while the job ran, in ms (Linux; NaN elsewhere). */
  cpuMs: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
let serial = 0;

function call(base: URL, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, method, path, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  const base = new URL(job.url);
  const ids: string[] = [];
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const once = async (): Promise<number> => {
    if (job.what === 'submit') {
      const body = JSON.stringify(job.spec ?? { base: 'registry.fedoraproject.org/fedora:40', identifier: `bench ${serial++}`, environment: [{ name: 'BENCH', value: '1' }] });
      const res = await call(base, 'POST', '/api/v1/inspect', body);
      if (res.status === 202) ids.push((JSON.parse(res.text) as { inspection_id: string }).inspection_id);
      return res.status;
    }
    const id = job.ids[Math.floor(Math.random() * job.ids.length)];
    return (await call(base, 'GET', `/api/v1/inspect/${id}/status`)).status;
  };
  const deadline = performance.now() + job.maxSeconds * 1000;
  const started = performance.now();
  const cpu0 = threadCpuMs();
  await Promise.all(
    Array.from({ length: job.clients }, async () => {
      while (issued < job.total && performance.now() < deadline) {
        issued++;
        const t = performance.now();
        const status = await once().catch(() => 0);
        latencies.push(performance.now() - t);
        if (status >= 400 || status === 0) errors++;
      }
    }),
  );
  return { latencies, errors, seconds: (performance.now() - started) / 1000, ids, cpuMs: threadCpuMs() - cpu0 };
}

parentPort!.on('message', (job: LoadJob | 'close') => {
  if (job === 'close') {
    agent.destroy();
    parentPort!.close();
    return;
  }
  void run(job).then((result) => parentPort!.postMessage(result));
});
