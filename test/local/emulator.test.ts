/**
 * The embedded AWS stand-in, over HTTP with the real SDK clients: persistence across restarts and
 * SIGKILL, S3 → SQS notifications, and the fauxqs internals it relies on (pinned version).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { validators } from '../../functions/core/validation.js';
import { queues, type QueueName } from '../../functions/routes.js';
import { startEmulator, type Emulator, type ObjectCreatedEvent } from '../../local/emulator.js';
import { PINNED_VERSION, fauxqsPackageDir, loadFauxqs, type FxSqsQueue } from '../../local/fauxqs.js';
import { Journal, JournalPersistence } from '../../local/persistence.js';
import { decodeEventKey, encodeEventKey, Sequencer } from '../../local/s3-notifications.js';
import { BUCKET, REGION, emulatorBase, queueCounts, s3For, sleep, sqsFor, tempDir, waitFor } from './fixtures/aws.js';

const allQueues = Object.keys(queues) as QueueName[];

async function receiveAll(sqs: ReturnType<typeof sqsFor>, url: string, max = 10): Promise<Message[]> {
  const r = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: max, MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'] }),
  );
  return r.Messages ?? [];
}

async function totals(emu: Emulator): Promise<Record<QueueName, number>> {
  const sqs = sqsFor(emu.endpoint);
  const out = {} as Record<QueueName, number>;
  for (const q of allQueues) out[q] = (await queueCounts(sqs, emu.queueUrls[q])).total;
  return out;
}

function packBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pack'))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

describe('emulator', () => {
  const dirs: Array<{ remove(): void }> = [];
  const running: Emulator[] = [];
  const newDir = () => {
    const d = tempDir('amun-emulator-');
    dirs.push(d);
    return d.path;
  };
  const start = async (dataDir: string, extra: Partial<Parameters<typeof startEmulator>[0]> = {}) => {
    const emu = await startEmulator({ ...emulatorBase, dataDir, ...extra });
    running.push(emu);
    return emu;
  };

  afterEach(async () => {
    for (const emu of running.splice(0)) await emu.stop();
    for (const d of dirs.splice(0)) d.remove();
  });

  it('runs on the pinned fauxqs version', () => {
    const pkg = JSON.parse(readFileSync(join(fauxqsPackageDir(), 'package.json'), 'utf8')) as { version: string };
    expect(pkg.version).toBe(PINNED_VERSION);
  });

  it('finds the fauxqs internals it wires into (store members, write-through hooks)', async () => {
    const fx = await loadFauxqs();
    const sqsStore = fx.newSqsStore() as unknown as Record<string, unknown>;
    for (const m of ['createQueue', 'getQueueByName', 'getQueueByArn', 'allQueues', 'shutdown']) expect(typeof sqsStore[m]).toBe('function');
    const s3Store = fx.newS3Store() as unknown as Record<string, unknown>;
    for (const m of ['createBucket', 'hasBucket', 'setBucketCreationDate', 'restoreObject', 'restoreMultipartUpload', 'restoreBucketLifecycleConfiguration']) {
      expect(typeof s3Store[m]).toBe('function');
    }
    const queue = fx.newSqsStore().createQueue('q', 'http://h/000000000000/q', 'arn:aws:sqs:us-east-1:000000000000:q');
    for (const m of ['enqueue', 'dequeue', 'setAttributes', 'isFifo', 'processTimers']) expect(typeof (queue as unknown as Record<string, unknown>)[m]).toBe('function');
    expect(Array.isArray(queue.messages) && Array.isArray(queue.delayedMessages) && queue.inflightMessages instanceof Map).toBe(true);
    const msg = fx.createMessage('body');
    expect(msg).toMatchObject({ body: 'body', approximateReceiveCount: 0, messageAttributes: {} });
    expect(msg.md5OfBody).toBe('841a2d689ad86bd1611447453c22c6fc');
  });

  it('journals an object and its notification as one line: a torn line loses both, never one', () => {
    const dir = newDir();
    const journal = Journal.open(dir);
    const p = new JournalPersistence(journal);
    p.insertBucket('b-b-b', new Date(), 'general-purpose');
    const queue = { name: 'amun-schedule-events', enqueue: () => undefined } as unknown as FxSqsQueue;
    p.insertQueue({ name: 'amun-schedule-events', attributes: {}, tags: new Map(), createdTimestamp: 1, lastModifiedTimestamp: 1, sequenceCounter: 0 } as never);
    let n = 0;
    p.objectHook = () => [{ queue, msg: { messageId: `m${++n}`, body: 'event', md5OfBody: '', messageAttributes: {}, md5OfMessageAttributes: '', sentTimestamp: 1, approximateReceiveCount: 0 } }];
    const obj = (key: string) => ({ key, body: Buffer.from(key), contentType: 'x', contentLength: key.length, etag: '"e"', lastModified: new Date(), metadata: {} });
    p.upsertObject('b-b-b', obj('first'));
    p.upsertObject('b-b-b', obj('second'));
    journal.close();
    const file = join(dir, 'journal.jsonl');
    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1) ?? '{}')).toMatchObject({ tx: [{ op: 'obj', key: 'second' }, { op: 'msg', queue: 'amun-schedule-events' }] });
    // Cut the last line anywhere: after replay neither the object nor its message is there.
    writeFileSync(file, text.slice(0, text.length - Math.floor((lines.at(-1)?.length ?? 0) / 3)));
    const replayed = Journal.open(dir, { warn: () => undefined });
    expect([...(replayed.state.objects.get('b-b-b')?.keys() ?? [])]).toEqual(['first']);
    expect([...replayed.state.messages.keys()]).toEqual(['m1']);
    expect(replayed.readBody(replayed.state.objects.get('b-b-b')?.get('first')?.body ?? null).toString()).toBe('first');
    replayed.close();
  });

  it('creates the bucket and every queue with its dead-letter queue and redrive policy', async () => {
    const emu = await start(newDir());
    expect(emu.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const sqs = sqsFor(emu.endpoint);
    for (const q of allQueues) {
      const { Attributes: a = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: emu.queueUrls[q], AttributeNames: ['All'] }));
      expect(a.QueueArn).toBe(`arn:aws:sqs:${REGION}:000000000000:${queues[q].name}`);
      expect(a.VisibilityTimeout).toBe(String(queues[q].visibilityTimeoutSeconds));
      expect(JSON.parse(a.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: `arn:aws:sqs:${REGION}:000000000000:${queues[q].name}-dlq`,
        maxReceiveCount: queues[q].maxReceiveCount,
      });
      const { Attributes: d = {} } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: emu.dlqUrls[q], AttributeNames: ['All'] }));
      expect(Number(d.MessageRetentionPeriod)).toBe(1_209_600);
    }
    const listed = await s3For(emu.endpoint).send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listed.KeyCount ?? 0).toBe(0);
    expect(emu.routeQueues().map((r) => `${r.route}:${r.queue}`)).toEqual(
      expect.arrayContaining(['ingest:ingestEvents', 'build:work', 'schedule:scheduleEvents', 'run:run', 'index:indexEvents']),
    );
  });

  it('keeps objects and undeleted messages across a restart; DLQ moves stay moved', async () => {
    const dir = newDir();
    const emu = await start(dir, { queueAttributes: { run: { maxReceiveCount: 1, visibilityTimeoutSeconds: 0 } } });
    const s3 = s3For(emu.endpoint);
    const sqs = sqsFor(emu.endpoint);

    const binary = randomBytes(200_000);
    const objects: Array<{ Key: string; Body: Buffer; ContentType: string; Metadata: Record<string, string> }> = [
      { Key: 'plain.txt', Body: Buffer.from('hello'), ContentType: 'text/plain; charset=utf-8', Metadata: {} },
      { Key: 'dir/with space/ü ñ 日本 (1)+x.bin', Body: binary, ContentType: 'application/octet-stream', Metadata: { owner: 'amun', note: 'a-b' } },
      { Key: 'empty', Body: Buffer.alloc(0), ContentType: 'application/x-empty', Metadata: {} },
    ];
    const before = new Map<string, { etag?: string; lastModified?: string }>();
    for (const o of objects) {
      const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, ...o }));
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      expect(head.ETag).toBe(put.ETag);
      before.set(o.Key, { etag: put.ETag, lastModified: head.LastModified?.toISOString() });
    }

    const send = (body: string, attrs = {}) =>
      sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: body, MessageAttributes: attrs }));
    const kept = await send('kept', { kind: { DataType: 'String', StringValue: 'build' } });
    const inflight = await send('in flight');
    const deleted = await send('deleted');
    const first = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: emu.queueUrls.work, MaxNumberOfMessages: 1, MessageSystemAttributeNames: ['All'] }),
    );
    expect(first.Messages?.[0]?.MessageId).toBe(kept.MessageId);
    expect(first.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('1');
    // Receive the other two; delete one, leave one in flight.
    const rest = await receiveAll(sqs, emu.queueUrls.work);
    expect(rest.map((m) => m.MessageId).sort()).toEqual([inflight.MessageId, deleted.MessageId].sort());
    const toDelete = rest.find((m) => m.MessageId === deleted.MessageId);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: emu.queueUrls.work, ReceiptHandle: toDelete?.ReceiptHandle }));

    // maxReceiveCount 1, visibility 0: the second receive moves the message to the DLQ.
    const doomed = await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.run, MessageBody: 'doomed' }));
    expect((await receiveAll(sqs, emu.queueUrls.run)).map((m) => m.MessageId)).toEqual([doomed.MessageId]);
    expect(await receiveAll(sqs, emu.queueUrls.run)).toEqual([]);
    expect(await queueCounts(sqs, emu.dlqUrls.run)).toMatchObject({ visible: 1 });

    await emu.stop();
    const again = await start(dir, { queueAttributes: { run: { maxReceiveCount: 1, visibilityTimeoutSeconds: 0 } } });
    const s3b = s3For(again.endpoint);
    const sqsb = sqsFor(again.endpoint);

    const listed = await s3b.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect((listed.Contents ?? []).map((c) => c.Key).sort()).toEqual(objects.map((o) => o.Key).sort());
    for (const o of objects) {
      const got = await s3b.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      expect(bytes.equals(o.Body)).toBe(true);
      expect(got.ETag).toBe(before.get(o.Key)?.etag);
      expect(got.ContentType).toBe(o.ContentType);
      expect(got.Metadata).toEqual(o.Metadata);
      expect(got.LastModified?.toISOString()).toBe(before.get(o.Key)?.lastModified);
    }

    // Both undeleted messages are visible again (the in-flight ones came back), counts kept.
    expect(await queueCounts(sqsb, again.queueUrls.work)).toEqual({ visible: 2, inflight: 0, delayed: 0, total: 2 });
    const after = await receiveAll(sqsb, again.queueUrls.work);
    const byId = new Map(after.map((m) => [m.MessageId, m]));
    expect([...byId.keys()].sort()).toEqual([kept.MessageId, inflight.MessageId].sort());
    expect(byId.get(kept.MessageId)?.Body).toBe('kept');
    expect(byId.get(kept.MessageId)?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(byId.get(kept.MessageId)?.MessageAttributes?.kind?.StringValue).toBe('build');
    expect(byId.get(inflight.MessageId)?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(byId.get(kept.MessageId)?.Attributes?.SentTimestamp).toBe(first.Messages?.[0]?.Attributes?.SentTimestamp);

    expect(await queueCounts(sqsb, again.queueUrls.run)).toMatchObject({ total: 0 });
    const dead = await receiveAll(sqsb, again.dlqUrls.run);
    expect(dead.map((m) => [m.MessageId, m.Body])).toEqual([[doomed.MessageId, 'doomed']]);
  });

  it('survives SIGKILL right after PutObject, SendMessage and DeleteMessage returned', async () => {
    const dir = newDir();
    const tsx = resolve('node_modules/.bin/tsx');
    const child = spawn(tsx, [resolve('test/local/fixtures/emulator-child.ts'), dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // tsx runs under the same Node as the tests.
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
    try {
      const line = await new Promise<string>((resolveLine, reject) => {
        const rl = createInterface({ input: child.stdout });
        rl.once('line', resolveLine);
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready: ${stderr}`)));
      });
      const info = JSON.parse(line) as { endpoint: string; queueUrls: Record<QueueName, string>; pid: number };
      const s3 = s3For(info.endpoint);
      const sqs = sqsFor(info.endpoint);

      const body = randomBytes(50_000);
      const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inspections/crash-1/build/status', Body: body, ContentType: 'application/json' }));
      const many = await Promise.all(
        Array.from({ length: 40 }, (_, i) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `bulk/${i}`, Body: `object ${i}` }))),
      );
      expect(many).toHaveLength(40);
      const survivor = await sqs.send(new SendMessageCommand({ QueueUrl: info.queueUrls.work, MessageBody: 'survivor' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: info.queueUrls.work, MessageBody: 'gone' }));
      const received = await receiveAll(sqs, info.queueUrls.work);
      const gone = received.find((m) => m.Body === 'gone');
      await sqs.send(new DeleteMessageCommand({ QueueUrl: info.queueUrls.work, ReceiptHandle: gone?.ReceiptHandle }));

      // tsx runs the script in a child process of its own: kill that one, the emulator's process.
      expect(info.pid).not.toBe(child.pid);
      process.kill(info.pid, 'SIGKILL');
      await waitFor(() => {
        try {
          process.kill(info.pid, 0);
          return false;
        } catch {
          return true;
        }
      });
      await exited;

      const emu = await start(dir);
      const s3b = s3For(emu.endpoint);
      const sqsb = sqsFor(emu.endpoint);
      const got = await s3b.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'inspections/crash-1/build/status' }));
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
      expect(got.ETag).toBe(put.ETag);
      const bulk = await s3b.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'bulk/' }));
      expect(bulk.KeyCount).toBe(40);
      const work = await receiveAll(sqsb, emu.queueUrls.work);
      expect(work.map((m) => [m.MessageId, m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([[survivor.MessageId, 'survivor', '2']]);
      // The object's notification was journaled with it.
      const events = await receiveAll(sqsb, emu.queueUrls.scheduleEvents);
      expect(events).toHaveLength(1);
      const record = (JSON.parse(events[0]?.Body ?? '{}') as { Records: Array<{ s3: { object: { key: string } } }> }).Records[0];
      expect(record?.s3.object.key).toBe('inspections/crash-1/build/status');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  it('drops a torn last journal line (a write cut short by a crash) and keeps the rest', async () => {
    const dir = newDir();
    const emu = await start(dir);
    await s3For(emu.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'whole', Body: 'ok' }));
    await emu.stop();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(join(dir, 'journal.jsonl'), '{"op":"obj","bucket":"amun-test","key":"torn","body":null,"me');
    const warnings: string[] = [];
    const again = await start(dir, { warn: (m) => warnings.push(m) });
    const listed = await s3For(again.endpoint).send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect((listed.Contents ?? []).map((c) => c.Key)).toEqual(['whole']);
    expect(warnings.join('\n')).toMatch(/incomplete last journal line/);
  });

  it('refuses a data directory another live emulator holds', async () => {
    const dir = newDir();
    await start(dir);
    await expect(startEmulator({ ...emulatorBase, dataDir: dir })).rejects.toThrow(/already open|in use/);
  });

  it('appends per put; compacts the journal while running and the packs on open', async () => {
    const dir = newDir();
    const emu = await start(dir, { compactAfterBytes: 64 * 1024 });
    const s3 = s3For(emu.endpoint);
    const n = 400;
    const size = 2048;
    for (let i = 0; i < n; i += 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) =>
          s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `hot/${(i + j) % 16}`, Body: randomBytes(size), Metadata: { i: String(i + j) } })),
        ),
      );
    }
    // No per-put rewrites (speed targets live in bench/): while running the journal was compacted
    // and the pack only grew by appends.
    expect(statSync(join(dir, 'journal.jsonl')).size).toBeLessThan(4 * 64 * 1024);
    expect(packBytes(dir)).toBe(n * size);
    await emu.stop();
    // On open the pack is mostly dead bytes: only the 16 live bodies are carried over.
    const again = await start(dir, { compactAfterBytes: 64 * 1024 });
    expect(packBytes(dir)).toBe(16 * size);
    const s3b = s3For(again.endpoint);
    const listed = await s3b.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'hot/' }));
    expect(listed.KeyCount).toBe(16);
    const last = await s3b.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'hot/15' }));
    expect(last.Metadata?.i).toBe(String(n - 1));
    const got = await s3b.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'hot/15' }));
    expect((await got.Body!.transformToByteArray()).length).toBe(size);
  });

  it('does not hand messages to a long poll the client aborted', async () => {
    const emu = await start(newDir());
    const sqs = sqsFor(emu.endpoint);
    const abort = new AbortController();
    const poll = sqs
      .send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls.work, WaitTimeSeconds: 5 }), { abortSignal: abort.signal })
      .catch((e: Error) => e);
    await sleep(200);
    abort.abort();
    expect(await poll).toBeInstanceOf(Error);
    await sleep(100);
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.work, MessageBody: 'for the next poll' }));
    await sleep(100);
    const got = await receiveAll(sqs, emu.queueUrls.work);
    expect(got.map((m) => m.Body)).toEqual(['for the next poll']);
  });

  describe('S3 → SQS notifications', () => {
    type Record0 = {
      eventVersion: string;
      eventSource: string;
      awsRegion: string;
      eventTime: string;
      eventName: string;
      userIdentity: { principalId: string };
      requestParameters: { sourceIPAddress: string };
      responseElements: Record<string, string>;
      s3: {
        s3SchemaVersion: string;
        configurationId: string;
        bucket: { name: string; arn: string; ownerIdentity: { principalId: string } };
        object: { key: string; size: number; eTag: string; sequencer: string };
      };
    };
    const parse = (m: Message | undefined) => {
      const body = JSON.parse(m?.Body ?? 'null') as unknown;
      expect(validators.s3Notification(body)).toBe(true);
      const records = (body as { Records: Record0[] }).Records;
      expect(records).toHaveLength(1);
      return records[0] as Record0;
    };

    it('delivers a build status object to the schedule queue only, exactly once, in the AWS shape', async () => {
      const emu = await start(newDir());
      const s3 = s3For(emu.endpoint);
      const sqs = sqsFor(emu.endpoint);
      const seen: ObjectCreatedEvent[] = [];
      emu.onObjectCreated((e) => seen.push(e));
      const key = 'inspections/inspection-abc123/build/status';
      const before = Date.now();
      const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '{"state":"succeeded"}', ContentType: 'application/json' }));
      expect(await totals(emu)).toEqual({ work: 0, run: 0, ingestEvents: 0, scheduleEvents: 1, indexEvents: 0, completions: 0 });
      const msgs = await receiveAll(sqs, emu.queueUrls.scheduleEvents);
      expect(msgs).toHaveLength(1);
      const r = parse(msgs[0]);
      expect(r).toMatchObject({
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: REGION,
        eventName: 'ObjectCreated:Put',
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'amun-schedule',
          bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
          object: { key, size: 21, eTag: put.ETag?.replace(/"/g, '') },
        },
      });
      expect(r.s3.object.eTag).toMatch(/^[0-9a-f]{32}$/);
      expect(r.s3.object.sequencer).toMatch(/^[0-9A-F]+$/);
      expect(Date.parse(r.eventTime)).toBeGreaterThanOrEqual(before - 1000);
      expect(r.responseElements['x-amz-request-id']).toMatch(/^[0-9A-F]{16}$/);
      expect(await receiveAll(sqs, emu.queueUrls.scheduleEvents)).toEqual([]);
      await waitFor(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ bucket: BUCKET, key, eventName: 'ObjectCreated:Put', notified: ['scheduleEvents'] });
    });

    it('encodes keys the way S3 does (space as +) and routes results and specs', async () => {
      const emu = await start(newDir());
      const s3 = s3For(emu.endpoint);
      const sqs = sqsFor(emu.endpoint);
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'specs/a b.json', Body: '{}' }));
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'specs/ü+(1).json', Body: '{}' }));
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inspections/i-1/results/0/result', Body: '{}' }));
      const specs = (await receiveAll(sqs, emu.queueUrls.ingestEvents)).map((m) => parse(m).s3.object.key);
      expect(specs.sort()).toEqual(['specs/%C3%BC%2B%281%29.json', 'specs/a+b.json']);
      expect(specs.map(decodeEventKey).sort()).toEqual(['specs/a b.json', 'specs/ü+(1).json']);
      const results = await receiveAll(sqs, emu.queueUrls.indexEvents);
      expect(results.map((m) => parse(m).s3.object.key)).toEqual(['inspections/i-1/results/0/result']);
      expect(parse(results[0]).s3.configurationId).toBe('amun-index');
    });

    it('sends nothing for keys no route matches', async () => {
      const emu = await start(newDir());
      const s3 = s3For(emu.endpoint);
      for (const key of [
        'specs/readme.txt',
        'inspections/i-1/build/log',
        'inspections/i-1/build/status.bak',
        'other/specs/a.json',
        'inspections-old/i-1/build/status',
        'inspections/i-1/results/0/result.json',
      ]) {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'x' }));
      }
      expect(Object.values(await totals(emu)).reduce((a, b) => a + b, 0)).toBe(0);
    });

    it('names copies and multipart uploads as S3 does, with increasing sequencers', async () => {
      const emu = await start(newDir());
      const s3 = s3For(emu.endpoint);
      const sqs = sqsFor(emu.endpoint);
      const key = 'inspections/i-2/build/status';
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'staging/status', Body: '{"a":1}' }));
      await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key, CopySource: `${BUCKET}/staging/status` }));
      const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ContentType: 'application/json' }));
      const part = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: upload.UploadId, PartNumber: 1, Body: Buffer.from('{"b":2}') }),
      );
      const done = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
        }),
      );
      const records = (await receiveAll(sqs, emu.queueUrls.scheduleEvents)).map((m) => parse(m));
      expect(records.map((r) => r.eventName).sort()).toEqual(['ObjectCreated:CompleteMultipartUpload', 'ObjectCreated:Copy']);
      const multipart = records.find((r) => r.eventName === 'ObjectCreated:CompleteMultipartUpload');
      expect(multipart?.s3.object.eTag).toBe(done.ETag?.replace(/"/g, ''));
      expect(multipart?.s3.object.eTag).toMatch(/-1$/);
      const copy = records.find((r) => r.eventName === 'ObjectCreated:Copy');
      expect(BigInt(`0x${multipart?.s3.object.sequencer}`)).toBeGreaterThan(BigInt(`0x${copy?.s3.object.sequencer}`));
      // The completed object is readable and survives a restart with its multipart ETag.
      const dir = emu.dataDir;
      await emu.stop();
      const again = await start(dir);
      const got = await s3For(again.endpoint).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(await got.Body?.transformToString()).toBe('{"b":2}');
      expect(got.ETag).toBe(done.ETag);
    });

    it('encodes keys like S3 event records and keeps sequencers increasing', () => {
      expect(encodeEventKey('specs/a b.json')).toBe('specs/a+b.json');
      expect(encodeEventKey('a+b/c=d:e')).toBe('a%2Bb/c%3Dd%3Ae');
      expect(decodeEventKey(encodeEventKey('x/ü é/(1)!~*.json'))).toBe('x/ü é/(1)!~*.json');
      const s = new Sequencer();
      const a = s.next(1000);
      const b = s.next(1000);
      const c = s.next(999);
      expect(BigInt(`0x${b}`)).toBeGreaterThan(BigInt(`0x${a}`));
      expect(BigInt(`0x${c}`)).toBeGreaterThan(BigInt(`0x${b}`));
    });
  });
});
