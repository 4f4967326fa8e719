/**
 * fauxqs' own persistence (`dataDir`, `s3StorageDir`), the alternative to our journal that
 * docs/EMBEDDED-STORE.md measured with bench/store.ts. These pin the behaviours of the pinned
 * fauxqs that the decision rests on — if an upgrade changes one of them, revisit the decision — and
 * check that the benchmark's wiring of it (bench/store-fauxqs.ts) persists objects with their
 * notifications.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { loadFauxqsPersistence, startNative, type NativeMode, type NativeStack, type PersistenceManager } from '../../bench/store-fauxqs.js';
import { startEmulator } from '../../local/emulator.js';
import { loadFauxqs, type FxSqsQueue, type FxSqsStore } from '../../local/fauxqs.js';
import { BUCKET, emulatorBase, queueCounts, s3For, sqsFor, tempDir } from './fixtures/aws.js';

const url = (name: string) => `http://127.0.0.1:1/000000000000/${name}`;
const arn = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const held = (q: FxSqsQueue | undefined) => (q ? q.messages.length + q.inflightMessages.size + q.delayedMessages.length : -1);

/** SQS stores on fauxqs' PersistenceManager, loaded from `dir` and written through, as startFauxqs wires them. */
async function open(dir: string): Promise<{ pm: PersistenceManager; sqs: FxSqsStore }> {
  const fx = await loadFauxqs();
  const { PersistenceManager } = await loadFauxqsPersistence();
  const pm = new PersistenceManager(dir);
  const sqs = fx.newSqsStore();
  pm.load(sqs, fx.newSnsStore(), fx.newS3Store());
  sqs.persistence = pm;
  for (const q of sqs.allQueues()) q.persistence = pm;
  return { pm, sqs };
}

describe('fauxqs 2.4.1 dataDir persistence (the alternative to the journal)', () => {
  const dirs: Array<{ remove(): void }> = [];
  const open_: PersistenceManager[] = [];
  const newDir = () => {
    const d = tempDir('amun-fauxqs-persistence-');
    dirs.push(d);
    return d.path;
  };
  const openTracked = async (dir: string) => {
    const stores = await open(dir);
    open_.push(stores.pm);
    return stores;
  };
  afterEach(() => {
    for (const pm of open_.splice(0)) {
      try {
        pm.close();
      } catch {
        /* closed */
      }
    }
    for (const d of dirs.splice(0)) d.remove();
  });

  it('moves a message to its dead-letter queue in two commits: a crash between them loses it', async () => {
    const fx = await loadFauxqs();
    const dir = newDir();
    const { pm, sqs } = await openTracked(dir);
    sqs.createQueue('dlq', url('dlq'), arn('dlq'));
    const q = sqs.createQueue('q', url('q'), arn('q'), {
      VisibilityTimeout: '0',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('dlq'), maxReceiveCount: 1 }),
    });
    q.enqueue(fx.createMessage('doomed'));
    const resolver = (a: string) => sqs.getQueueByArn(a);
    expect(q.dequeue(1, undefined, resolver)).toHaveLength(1);
    // The second receive moves it: the delete from `q` is committed, then the process dies before
    // the insert into `dlq` (simulated by that insert failing).
    const insert = pm.insertMessage.bind(pm);
    pm.insertMessage = (queue, msg) => {
      if (queue === 'dlq') throw new Error('killed here');
      insert(queue, msg);
    };
    expect(() => q.dequeue(1, undefined, resolver)).toThrow('killed here');
    pm.close();

    const again = await openTracked(dir);
    expect(held(again.sqs.getQueueByName('q'))).toBe(0);
    expect(held(again.sqs.getQueueByName('dlq'))).toBe(0);
  });

  it('fails ChangeMessageVisibility to 0 (it writes a NULL receive count) and loses the message until a restart', async () => {
    const fx = await loadFauxqs();
    const { sqs } = await openTracked(newDir());
    const q = sqs.createQueue('q', url('q'), arn('q'), { VisibilityTimeout: '900' });
    q.enqueue(fx.createMessage('released'));
    const [received] = q.dequeue(1) as Array<{ ReceiptHandle: string }>;
    const queue = q as FxSqsQueue & { changeVisibility(handle: string, seconds: number): void };
    expect(() => queue.changeVisibility(received!.ReceiptHandle, 0)).toThrow(/NOT NULL/);
    expect(held(q)).toBe(0);
  });

  it('restores a message that was in flight as in flight, until its old visibility deadline', async () => {
    const fx = await loadFauxqs();
    const dir = newDir();
    const { pm, sqs } = await openTracked(dir);
    const q = sqs.createQueue('q', url('q'), arn('q'), { VisibilityTimeout: '900' });
    q.enqueue(fx.createMessage('interrupted'));
    expect(q.dequeue(1)).toHaveLength(1);
    pm.close();
    const again = (await openTracked(dir)).sqs.getQueueByName('q');
    expect(again?.messages).toHaveLength(0);
    expect(again?.inflightMessages.size).toBe(1);
    expect([...(again?.inflightMessages.values() ?? [])][0]?.visibilityDeadline).toBeGreaterThan(Date.now() + 800_000);
  });
});

describe('bench/store-fauxqs.ts: the stack on fauxqs persistence, as the benchmark runs it', () => {
  const dirs: Array<{ remove(): void }> = [];
  const running: NativeStack[] = [];
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
    for (const d of dirs.splice(0)) d.remove();
  });

  it.each<NativeMode>(['sqlite', 'sqlite+files'])('%s: keeps an object and its notification across a restart', async (mode) => {
    const d = tempDir('amun-fauxqs-native-');
    dirs.push(d);
    const start = async () => {
      const stack = await startNative({ ...emulatorBase, mode, dataDir: d.path });
      running.push(stack);
      return stack;
    };
    const key = 'inspections/i-1/results/0/result';
    const first = await start();
    await s3For(first.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: '{"exit_code":0}' }));
    await s3For(first.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inspections/i-1/results/0/log', Body: 'no event' }));
    expect(await queueCounts(sqsFor(first.endpoint), first.queueUrls.indexEvents)).toMatchObject({ visible: 1, total: 1 });
    await first.stop();

    const again = await start();
    const got = await s3For(again.endpoint).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(await got.Body?.transformToString()).toBe('{"exit_code":0}');
    const events = await sqsFor(again.endpoint).send(new ReceiveMessageCommand({ QueueUrl: again.queueUrls.indexEvents, MaxNumberOfMessages: 10 }));
    expect(events.Messages?.map((m) => (JSON.parse(m.Body ?? '{}') as { Records: Array<{ s3: { object: { key: string } } }> }).Records[0]?.s3.object.key)).toEqual([key]);
    const file = join(d.path, 's3', 'buckets', BUCKET, 'objects', `${key}.data`);
    // s3StorageDir keeps objects as plain files; dataDir alone keeps them in the database.
    expect(existsSync(file)).toBe(mode === 'sqlite+files');
    if (mode === 'sqlite+files') expect(readFileSync(file, 'utf8')).toBe('{"exit_code":0}');
  });

  it('sqlite+files: an object metadata file cut short (a kill while fauxqs writes it in place) keeps the store from starting', async () => {
    const d = tempDir('amun-fauxqs-native-');
    dirs.push(d);
    const first = await startNative({ ...emulatorBase, mode: 'sqlite+files', dataDir: d.path });
    running.push(first);
    await s3For(first.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'inspections/i-1/summary', Body: '{}' }));
    await first.stop();
    const meta = join(d.path, 's3', 'buckets', BUCKET, 'objects', 'inspections/i-1/summary.meta.json');
    writeFileSync(meta, readFileSync(meta, 'utf8').slice(0, 20));
    await expect(startNative({ ...emulatorBase, mode: 'sqlite+files', dataDir: d.path })).rejects.toThrow(SyntaxError);
  });

  it('sqlite+files: writes an object whose key has ../ segments outside its storage directory', async () => {
    const d = tempDir('amun-fauxqs-native-');
    dirs.push(d);
    const stack = await startNative({ ...emulatorBase, mode: 'sqlite+files', dataDir: join(d.path, 'data') });
    running.push(stack);
    await s3For(stack.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/../../../../../../escaped', Body: 'out' }));
    // <tmp dir>/data/s3/buckets/<bucket>/objects/a/../../../../../../escaped → <tmp dir>/escaped, beside the data directory
    expect(readFileSync(join(d.path, 'escaped.data'), 'utf8')).toBe('out');
  });

  it('(the journal, for comparison, keeps such a key as a key)', async () => {
    const d = tempDir('amun-fauxqs-native-');
    dirs.push(d);
    const emulator = await startEmulator({ ...emulatorBase, dataDir: join(d.path, 'data') });
    running.push(emulator);
    const key = 'a/../../../../../../escaped';
    await s3For(emulator.endpoint).send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'in' }));
    const got = await s3For(emulator.endpoint).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(await got.Body?.transformToString()).toBe('in');
    expect(existsSync(join(d.path, 'escaped.data')) || existsSync(join(d.path, 'escaped'))).toBe(false);
  });
});
