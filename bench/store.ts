/**
 * `npm run bench:store`: the embedded store — our journal (local/persistence.ts, as the emulator
 * runs it) against fauxqs' own persistence (`dataDir`: SQLite, as shipped and with synchronous=NORMAL;
 * `dataDir` + `s3StorageDir`: SQLite and plain files; wired as bench/store-fauxqs.ts describes), with
 * in-memory fauxqs as the ceiling.
 * Every backend runs in a child process of its own (bench/store-child.ts) on loopback, loaded from
 * this process through the real AWS SDK (one attempt per request, no retries).
 *
 * 1. Throughput, memory, disk and restart, BENCH_ROUNDS rounds (default 3, backends in a rotating
 *    order; medians printed):
 *      put      PutObject 4 KiB at 8 clients, every second key a run result (→ an S3 notification)
 *      get      GetObject of those objects at 8 clients
 *      put 1MiB PutObject 1 MiB at 4 clients
 *      send     SendMessage at 8 clients
 *      recv+del ReceiveMessage (10 at a time) + DeleteMessage of each, 8 consumers
 *      fill     PutObject 1 KiB at 16 clients, then the server's heap and RSS after a full GC
 *      restart  SIGTERM, then a new process on the same data: time until it answers
 * 2. SIGKILL safety, BENCH_KILLS trials per persistent backend (default 10, interleaved): writers of
 *    fresh run results (1–256 KiB, each with a notification), writers overwriting a large object,
 *    senders, consumers deleting every other message, poison messages moved to a dead-letter queue
 *    on their second receive — all at once until `kill -9` at a random moment (0.3–1.5 s). Then a
 *    new process on the same data, and checks against what was acknowledged before the kill: no
 *    acknowledged object lost or older than acknowledged, no body that does not match its ETag, no
 *    object without its notification, no notification without its object, no duplicate
 *    notification, no acknowledged message lost or deleted one back, no dead-letter move lost — and
 *    a store that does not start again on its data counts too.
 *
 * Environment: BENCH_SCALE (default 1) multiplies the request counts; BENCH_ROUNDS, BENCH_KILLS;
 * BENCH_BACKENDS (comma-separated subset of journal,sqlite,sqlite-normal,sqlite+files,memory).
 * Prints numbers, asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { BACKENDS, BUCKET, REGION, type Backend, type Ready } from './store-child.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KILLS = Number(process.env.BENCH_KILLS ?? 10);
const SELECTED = (process.env.BENCH_BACKENDS?.split(',') ?? BACKENDS).filter((b): b is Backend => (BACKENDS as string[]).includes(b));
const PERSISTENT = SELECTED.filter((b) => b !== 'memory');
const N = { put: 1000, get: 1000, large: 32, send: 1000, fill: 5000 };
const n = (k: keyof typeof N) => Math.max(1, Math.round(N[k] * SCALE));
/** A replacement must lose nothing and be at least this fast relative to the journal. */
const TARGET = { violations: 0, ratio: 0.8 };

const childScript = fileURLToPath(new URL('./store-child.ts', import.meta.url));
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// ── a backend in a child process ──────────────────────────────────────────────────────────────

interface Child {
  proc: ChildProcess;
  ready: Ready;
  /** Spawn to first answer, in ms (Node start and module loading included). */
  spawnMs: number;
  s3: S3Client;
  sqs: SQSClient;
  exited: Promise<void>;
  mem(): Promise<NodeJS.MemoryUsage>;
  /** SIGTERM and wait; ms until the process is gone. */
  stop(): Promise<number>;
  kill(): Promise<void>;
}

async function spawnChild(backend: Backend, dir: string): Promise<Child> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', childScript, backend, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => waiting.shift()?.(line));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      waiting.push(resolve);
      void exited.then(() => reject(new Error(`${backend} child exited: ${stderr}`)));
    });
  const ready = JSON.parse(await next()) as Ready;
  const spawnMs = performance.now() - t0;
  const s3 = new S3Client({ endpoint: ready.endpoint, region: REGION, forcePathStyle: true, credentials, maxAttempts: 1 });
  const sqs = new SQSClient({ endpoint: ready.endpoint, region: REGION, credentials, maxAttempts: 1 });
  const close = () => {
    s3.destroy();
    sqs.destroy();
  };
  return {
    proc,
    ready,
    spawnMs,
    s3,
    sqs,
    exited,
    async mem() {
      const line = next();
      proc.stdin!.write('mem\n');
      return (JSON.parse(await line) as { mem: NodeJS.MemoryUsage }).mem;
    },
    async stop() {
      const t = performance.now();
      close();
      proc.kill('SIGTERM');
      await exited;
      return performance.now() - t;
    },
    async kill() {
      process.kill(ready.pid, 'SIGKILL');
      await exited;
      close();
    },
  };
}

/** Spawns, trying again (after 2 s) when the process does not come up: a failure that repeats is the store's. */
async function spawnRetrying(backend: Backend, dir: string, attempts = 3): Promise<Child> {
  for (let i = 1; ; i++) {
    try {
      return await spawnChild(backend, dir);
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(2000);
    }
  }
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? duBytes(p) : statSync(p).size;
  }
  return total;
}

/** Runs `total` tasks on `concurrency` workers; seconds and errors. */
async function pool(total: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<{ seconds: number; errors: number }> {
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        try {
          await task(i);
        } catch {
          errors++;
        }
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, errors };
}

async function queueTotal(sqs: SQSClient, url: string): Promise<number> {
  const { Attributes: a = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

// ── 1. throughput, memory, restart ───────────────────────────────────────────────────────────

type Metric =
  | 'put/s'
  | 'get/s'
  | 'put 1MiB MiB/s'
  | 'send/s'
  | 'recv+del msg/s'
  | 'fill put/s'
  | 'heap MiB'
  | 'heap Δ MiB'
  | 'rss MiB'
  | 'disk MiB'
  | 'stop ms'
  | 'restore ms'
  | 'restart ms'
  | 'errors'
  | 'notified';
const METRICS: Metric[] = ['put/s', 'get/s', 'put 1MiB MiB/s', 'send/s', 'recv+del msg/s', 'fill put/s', 'heap MiB', 'heap Δ MiB', 'rss MiB', 'disk MiB', 'stop ms', 'restore ms', 'restart ms', 'errors', 'notified'];
/** Rates (larger is better); the target ratio applies to these. */
const RATE: Metric[] = ['put/s', 'get/s', 'put 1MiB MiB/s', 'send/s', 'recv+del msg/s', 'fill put/s'];

async function throughputRound(backend: Backend): Promise<Record<Metric, number>> {
  const dir = mkdtempSync(join(tmpdir(), `amun-bench-store-${backend.replace('+', '-')}-`));
  const out = {} as Record<Metric, number>;
  let errors = 0;
  try {
    const c = await spawnRetrying(backend, dir);
    const mem0 = await c.mem();
    const small = Array.from({ length: 64 }, () => randomBytes(4096));
    const key = (i: number) => `inspections/b${i}/results/0/${i % 2 === 0 ? 'result' : 'log'}`;
    let r = await pool(n('put'), 8, (i) => c.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key(i), Body: small[i % small.length] })));
    out['put/s'] = n('put') / r.seconds;
    errors += r.errors;
    out.notified = await queueTotal(c.sqs, c.ready.queueUrls.indexEvents);

    r = await pool(n('get'), 8, async (i) => {
      const got = await c.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key(i % n('put')) }));
      if ((await got.Body!.transformToByteArray()).length !== 4096) throw new Error('short body');
    });
    out['get/s'] = n('get') / r.seconds;
    errors += r.errors;

    const mib = randomBytes(1 << 20);
    r = await pool(n('large'), 4, (i) => c.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `inspections/large/${i}`, Body: mib })));
    out['put 1MiB MiB/s'] = n('large') / r.seconds;
    errors += r.errors;

    const body = 'x'.repeat(256);
    r = await pool(n('send'), 8, (i) => c.sqs.send(new SendMessageCommand({ QueueUrl: c.ready.queueUrls.completions, MessageBody: `${i}:${body}` })));
    out['send/s'] = n('send') / r.seconds;
    errors += r.errors;

    let received = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        let empty = 0;
        while (received < n('send') && empty < 20) {
          const got = await c.sqs.send(new ReceiveMessageCommand({ QueueUrl: c.ready.queueUrls.completions, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }));
          const msgs = got.Messages ?? [];
          empty = msgs.length === 0 ? empty + 1 : 0;
          received += msgs.length;
          await Promise.all(msgs.map((m) => c.sqs.send(new DeleteMessageCommand({ QueueUrl: c.ready.queueUrls.completions, ReceiptHandle: m.ReceiptHandle }))));
        }
      }),
    );
    out['recv+del msg/s'] = received / ((performance.now() - t0) / 1000);
    if (received !== n('send')) errors += Math.abs(n('send') - received);

    const kib = randomBytes(1024);
    r = await pool(n('fill'), 16, (i) => c.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `inspections/fill/${i}/build/log`, Body: kib })));
    out['fill put/s'] = n('fill') / r.seconds;
    errors += r.errors;
    const mem = await c.mem();
    out['heap MiB'] = mem.heapUsed / 2 ** 20;
    out['heap Δ MiB'] = (mem.heapUsed - mem0.heapUsed) / 2 ** 20;
    out['rss MiB'] = mem.rss / 2 ** 20;

    out['stop ms'] = await c.stop();
    out['disk MiB'] = duBytes(dir) / 2 ** 20;
    const again = await spawnRetrying(backend, dir);
    out['restore ms'] = again.ready.startMs;
    out['restart ms'] = again.spawnMs;
    const head = await again.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'inspections/fill/', MaxKeys: 1000 }));
    if (backend !== 'memory' && (head.KeyCount ?? 0) < Math.min(1000, n('fill'))) errors++;
    await again.stop();
    out.errors = errors;
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ── 2. SIGKILL trials ────────────────────────────────────────────────────────────────────────

type Violation =
  | 'store does not start'
  | 'lost object'
  | 'older than acked'
  | 'body ≠ ETag'
  | 'object without notification'
  | 'notification without object'
  | 'duplicate notification'
  | 'lost message'
  | 'deleted message back'
  | 'lost DLQ move'
  | 'duplicate DLQ move';
const VIOLATIONS: Violation[] = [
  'store does not start',
  'lost object',
  'older than acked',
  'body ≠ ETag',
  'object without notification',
  'notification without object',
  'duplicate notification',
  'lost message',
  'deleted message back',
  'lost DLQ move',
  'duplicate DLQ move',
];

interface Trial {
  violations: Record<Violation, number>;
  acked: { objects: number; overwrites: number; sent: number; deleted: number; poison: number };
  killAtMs: number;
  errors: string[];
}

async function drain(sqs: SQSClient, url: string): Promise<Message[]> {
  const out: Message[] = [];
  for (let empty = 0; empty < 2; ) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 600 }));
    const msgs = got.Messages ?? [];
    empty = msgs.length === 0 ? empty + 1 : 0;
    out.push(...msgs);
  }
  return out;
}

async function killTrial(backend: Backend): Promise<Trial> {
  const dir = mkdtempSync(join(tmpdir(), `amun-bench-kill-${backend.replace('+', '-')}-`));
  const violations = Object.fromEntries(VIOLATIONS.map((v) => [v, 0])) as Record<Violation, number>;
  const errors: string[] = [];
  try {
    const c = await spawnRetrying(backend, dir);
    const { s3, sqs } = c;
    const q = c.ready.queueUrls;
    const fresh = new Map<string, string>();
    const hot = new Map<string, number>();
    const sent = new Set<string>();
    const deleted = new Set<string>();
    /** Deletes sent, answered or not: such a message may be gone. */
    const deleting = new Set<string>();
    const poison = new Set<string>();
    let overwrites = 0;
    let running = true;
    const loop = async (body: (i: number) => Promise<void>) => {
      for (let i = 0; running; i++) {
        try {
          await body(i);
        } catch {
          if (running) await sleep(5);
        }
      }
    };
    const sizes = [1024, 16 * 1024, 256 * 1024];
    const loops = [
      ...[0, 1, 2].map((w) =>
        loop(async (i) => {
          const key = `inspections/k${w}-${i}/results/0/result`;
          const r = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: randomBytes(sizes[randomInt(sizes.length)]!) }));
          if (running) fresh.set(key, (r.ETag ?? '').replace(/"/g, ''));
        }),
      ),
      ...[0, 1].map((w) =>
        loop(async (i) => {
          const key = `inspections/hot${w}/summary`;
          const body = Buffer.concat([Buffer.from(`${i}\n`), randomBytes(64 * 1024 + randomInt(192 * 1024))]);
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
          if (running) {
            hot.set(key, i);
            overwrites++;
          }
        }),
      ),
      ...[0, 1].map((w) =>
        loop(async (i) => {
          const body = `m-${w}-${i}`;
          await sqs.send(new SendMessageCommand({ QueueUrl: q.work, MessageBody: body }));
          if (running) sent.add(body);
        }),
      ),
      ...[0, 1].map(() =>
        loop(async () => {
          const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.work, MaxNumberOfMessages: 10 }));
          if (!got.Messages?.length) await sleep(5);
          await Promise.all(
            (got.Messages ?? [])
              .filter((m) => Number(m.Body?.split('-')[2]) % 2 === 0)
              .map(async (m) => {
                deleting.add(m.Body!);
                await sqs.send(new DeleteMessageCommand({ QueueUrl: q.work, ReceiptHandle: m.ReceiptHandle }));
                if (running) deleted.add(m.Body!);
              }),
          );
        }),
      ),
      loop(async (i) => {
        const body = `p-${i}`;
        await sqs.send(new SendMessageCommand({ QueueUrl: q.run, MessageBody: body }));
        if (running) poison.add(body);
      }),
      loop(async () => {
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.run, MaxNumberOfMessages: 10 }));
        if (!got.Messages?.length) await sleep(5);
      }),
    ];
    const killAtMs = 300 + randomInt(1200);
    await sleep(killAtMs);
    // Answers that arrive after the kill signal was sent are not counted as acknowledged.
    const killed = c.kill();
    running = false;
    await killed;
    await Promise.all(loops);

    let after: Child;
    try {
      after = await spawnRetrying(backend, dir, 2);
    } catch (err) {
      violations['store does not start']++;
      errors.push((err as Error).message.split('\n').find((l) => /Error/.test(l)) ?? (err as Error).message.slice(0, 200));
      return { violations, acked: { objects: fresh.size, overwrites, sent: sent.size, deleted: deleted.size, poison: poison.size }, killAtMs, errors };
    }
    try {
      // What was in flight at the kill: fauxqs restores it in flight (2 s visibility), the journal visible.
      await sleep(2500);
      const present = new Map<string, string>();
      let token: string | undefined;
      do {
        const page = await after.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'inspections/', ContinuationToken: token }));
        for (const o of page.Contents ?? []) present.set(o.Key!, (o.ETag ?? '').replace(/"/g, ''));
        token = page.NextContinuationToken;
      } while (token);
      for (const [key, etag] of fresh) if (present.get(key) !== etag) violations['lost object']++;
      for (const key of hot.keys()) if (!present.has(key)) violations['lost object']++;
      await pool(present.size, 8, async (i) => {
        const key = [...present.keys()][i]!;
        try {
          const got = await after.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
          const bytes = Buffer.from(await got.Body!.transformToByteArray());
          if (md5(bytes) !== (got.ETag ?? '').replace(/"/g, '')) violations['body ≠ ETag']++;
          const acked = hot.get(key);
          if (acked !== undefined && Number(bytes.subarray(0, bytes.indexOf(10)).toString()) < acked) violations['older than acked']++;
        } catch (err) {
          violations['body ≠ ETag']++;
          errors.push(`GET ${key}: ${(err as Error).name}`);
        }
      });

      const notified = new Map<string, number>();
      for (const m of await drain(after.sqs, after.ready.queueUrls.indexEvents)) {
        const obj = (JSON.parse(m.Body ?? '{}') as { Records: Array<{ s3: { object: { key: string; eTag: string } } }> }).Records[0]!.s3.object;
        notified.set(obj.key, (notified.get(obj.key) ?? 0) + 1);
        if (present.get(obj.key) !== obj.eTag) violations['notification without object']++;
      }
      for (const key of present.keys()) {
        if (!key.endsWith('/result')) continue;
        const count = notified.get(key) ?? 0;
        if (count === 0) violations['object without notification']++;
        if (count > 1) violations['duplicate notification'] += count - 1;
      }

      const bodies = new Map<string, number>();
      for (const url of [after.ready.queueUrls.work, after.ready.dlqUrls.work]) {
        for (const m of await drain(after.sqs, url)) bodies.set(m.Body!, (bodies.get(m.Body!) ?? 0) + 1);
      }
      for (const b of sent) {
        if (!deleting.has(b) && !bodies.has(b)) {
          violations['lost message']++;
          errors.push(`lost ${b}`);
        }
      }
      for (const b of deleted) if (bodies.has(b)) violations['deleted message back']++;
      const poisoned = new Map<string, number>();
      for (const url of [after.ready.queueUrls.run, after.ready.dlqUrls.run]) {
        for (const m of await drain(after.sqs, url)) poisoned.set(m.Body!, (poisoned.get(m.Body!) ?? 0) + 1);
      }
      for (const b of poison) {
        const count = poisoned.get(b) ?? 0;
        if (count === 0) violations['lost DLQ move']++;
        if (count > 1) violations['duplicate DLQ move'] += count - 1;
      }
    } finally {
      await after.stop();
    }
    return { violations, acked: { objects: fresh.size, overwrites, sent: sent.size, deleted: deleted.size, poison: poison.size }, killAtMs, errors };
  } finally {
    if (process.env.BENCH_KEEP && VIOLATIONS.some((v) => violations[v] > 0)) errors.push(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

// ── report ───────────────────────────────────────────────────────────────────────────────────

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmt = (x: number) => (!Number.isFinite(x) ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

console.log(`amun store benchmark — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, data under ${tmpdir()}`);
console.log(`backends: ${SELECTED.join(', ')}; ${ROUNDS} round(s) of throughput, ${KILLS} SIGKILL trial(s) per persistent backend; each backend in its own process\n`);

const results = new Map<Backend, Record<Metric, number[]>>(SELECTED.map((b) => [b, Object.fromEntries(METRICS.map((m) => [m, [] as number[]])) as Record<Metric, number[]>]));
for (let round = 0; round < ROUNDS; round++) {
  const order = SELECTED.map((_, i) => SELECTED[(i + round) % SELECTED.length]!);
  for (const backend of order) {
    const r = await throughputRound(backend);
    for (const m of METRICS) results.get(backend)![m].push(r[m]);
    process.stderr.write(`round ${round + 1}/${ROUNDS} ${backend}: ${fmt(r['put/s'])} put/s, ${fmt(r['recv+del msg/s'])} recv+del/s\n`);
  }
}
if (ROUNDS > 0) {
  const med = (b: Backend, m: Metric) => median(results.get(b)![m]);
  const others = SELECTED.filter((b) => b !== 'journal');
  const hasJournal = SELECTED.includes('journal');
  const header = ['median of rounds', ...SELECTED, ...(hasJournal ? others.map((b) => `${b}/journal`) : [])];
  const rows = METRICS.map((m) => [m, ...SELECTED.map((b) => fmt(med(b, m))), ...(hasJournal ? others.map((b) => `${fmt(med(b, m) / med('journal', m))}×`) : [])]);
  console.log(table(header, rows));
  console.log(
    `\nput: ${n('put')} × 4 KiB at 8 clients (half notify); get: ${n('get')}; put 1MiB: ${n('large')} at 4; send / recv+del: ${n('send')} messages; ` +
      `fill: ${n('fill')} × 1 KiB at 16, then heap (and its growth since the start: Δ) and RSS after a full GC; disk after the SIGTERM stop; restore = open + listen in the new process, restart = spawn to ready.`,
  );
  if (hasJournal) {
    console.log(`target for a replacement: every rate ≥ ${TARGET.ratio}× the journal's`);
    for (const b of others.filter((o) => o !== 'memory')) {
      const slow = RATE.filter((m) => med(b, m) / med('journal', m) < TARGET.ratio);
      console.log(`  ${b}: ${slow.length === 0 ? 'met' : `MISSED (${slow.map((m) => `${m} ${fmt(med(b, m) / med('journal', m))}×`).join(', ')})`}`);
    }
  }
}

if (KILLS > 0 && PERSISTENT.length > 0) {
  const trials = new Map<Backend, Trial[]>(PERSISTENT.map((b) => [b, []]));
  for (let t = 0; t < KILLS; t++) {
    for (const backend of PERSISTENT) {
      const trial = await killTrial(backend);
      trials.get(backend)!.push(trial);
      const bad = VIOLATIONS.filter((v) => trial.violations[v] > 0).map((v) => `${v} ${trial.violations[v]}`);
      process.stderr.write(`kill ${t + 1}/${KILLS} ${backend} at ${trial.killAtMs} ms: ${bad.length ? bad.join(', ') : 'clean'}${trial.errors.length ? ` (${trial.errors.slice(0, 3).join('; ')})` : ''}\n`);
    }
  }
  const sum = (b: Backend, f: (t: Trial) => number) => trials.get(b)!.reduce((a, t) => a + f(t), 0);
  const rows = [
    ...VIOLATIONS.map((v) => [v, ...PERSISTENT.map((b) => String(sum(b, (t) => t.violations[v])))]),
    ['trials with any violation', ...PERSISTENT.map((b) => `${trials.get(b)!.filter((t) => VIOLATIONS.some((v) => t.violations[v] > 0)).length} of ${KILLS}`)],
    ['acked: objects (notified)', ...PERSISTENT.map((b) => String(sum(b, (t) => t.acked.objects)))],
    ['acked: overwrites', ...PERSISTENT.map((b) => String(sum(b, (t) => t.acked.overwrites)))],
    ['acked: messages sent', ...PERSISTENT.map((b) => String(sum(b, (t) => t.acked.sent)))],
    ['acked: messages deleted', ...PERSISTENT.map((b) => String(sum(b, (t) => t.acked.deleted)))],
    ['acked: poison messages', ...PERSISTENT.map((b) => String(sum(b, (t) => t.acked.poison)))],
  ];
  console.log(`\nSIGKILL at a random moment under load, ${KILLS} trial(s) each — violations summed over the trials (target: ${TARGET.violations})`);
  console.log(table(['after restart', ...PERSISTENT], rows));
  for (const b of PERSISTENT) {
    const total = VIOLATIONS.reduce((a, v) => a + sum(b, (t) => t.violations[v]), 0);
    console.log(`  ${b}: ${total === TARGET.violations ? 'met' : `MISSED (${total})`}`);
  }
}
