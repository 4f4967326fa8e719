/**
 * Durable state for the embedded AWS stand-in: an append-only journal of operations plus append-only
 * pack files of object bodies.
 *
 * Layout under the data directory:
 *   journal.jsonl        one JSON operation per line; a line `{"tx":[...]}` is several operations that
 *                        must land together (an object and its S3 notifications, a receive that moves
 *                        a message to its dead-letter queue)
 *   bodies-<gen>.pack    object bodies and multipart parts, appended before the line that references
 *                        them as {p: gen, o: offset, l: length}
 *   LOCK                 the pid of the process that holds the directory
 *
 * Every mutation is written through before the call returns (write(2) into the page cache, no
 * fsync), so a SIGKILL right after a response loses nothing that was acknowledged; a power cut may.
 * A put costs two appends and no file creation. A line cut short by a crash is the tail of the file
 * and is dropped on replay: its operation never returned. On open the journal is replayed and
 * rewritten as a snapshot (temp file, fsync, rename); when the packs hold more dead bytes than live
 * ones (overwritten or deleted bodies), the live bodies are first copied into a new pack generation
 * that the snapshot references, and older packs are removed once the snapshot is in place. While
 * running, the journal alone is compacted the same way once it has grown well past the snapshot.
 * Visibility deadlines are not journaled: a message in flight when the process stopped comes back
 * visible, with its receive count, as after an expired visibility timeout.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type {
  FxBucketType,
  FxChecksumAlgorithm,
  FxMultipartPart,
  FxMultipartUpload,
  FxS3Object,
  FxS3Persistence,
  FxSqsMessage,
  FxSqsPersistence,
  FxSqsQueue,
} from './fauxqs.js';

// ── Journal records ──────────────────────────────────────────────────────────────────────────

/** Where a body lives: pack generation, offset, length. Empty bodies are `null`. */
export type BodyRef = { p: number; o: number; l: number } | null;

/** An object's metadata as journaled: fauxqs' object without key and body, its date as ISO 8601. */
export type StoredObjectMeta = Omit<FxS3Object, 'key' | 'body' | 'lastModified'> & { lastModified: string };

export interface StoredUpload {
  uploadId: string;
  bucket: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  initiated: string;
  contentLanguage?: string;
  contentDisposition?: string;
  cacheControl?: string;
  contentEncoding?: string;
  checksumAlgorithm?: FxChecksumAlgorithm;
}

export interface StoredPart {
  partNumber: number;
  body: BodyRef;
  etag: string;
  lastModified: string;
  checksumValue?: string;
}

export interface StoredQueue {
  attributes: Record<string, string>;
  tags: Record<string, string>;
  created: number;
  modified: number;
  seq: number;
}

export type Op =
  | { op: 'bucket'; name: string; created: string; type: FxBucketType }
  | { op: 'bucket-'; name: string }
  | { op: 'lifecycle'; bucket: string; config: string }
  | { op: 'lifecycle-'; bucket: string }
  | { op: 'obj'; bucket: string; key: string; body: BodyRef; meta: StoredObjectMeta }
  | { op: 'obj-'; bucket: string; key: string }
  /** All objects of one bucket, or of every bucket. */
  | { op: 'objs-'; bucket?: string }
  | { op: 'rename'; bucket: string; from: string; to: string }
  | { op: 'mpu'; upload: StoredUpload }
  | { op: 'part'; uploadId: string; part: StoredPart }
  /** One multipart upload, or all of them. */
  | { op: 'mpu-'; uploadId?: string }
  | ({ op: 'queue'; name: string } & StoredQueue)
  | { op: 'queue-'; name: string }
  | { op: 'qattr'; name: string; attributes: Record<string, string>; modified: number }
  | { op: 'qseq'; name: string; seq: number }
  | { op: 'msg'; queue: string; m: FxSqsMessage }
  /** A receive: the new receive count and first-receive time. */
  | { op: 'rcv'; id: string; n: number; f?: number }
  | { op: 'msg-'; id: string }
  /** All messages of one queue, or of every queue. */
  | { op: 'msgs-'; queue?: string }
  | { op: 'purge' };

type Line = Op | { tx: Op[] };

// ── State and its reducer ────────────────────────────────────────────────────────────────────

export interface StoredMessage {
  queue: string;
  /** Shared with the fauxqs queue once loaded: fauxqs mutates it in place. */
  m: FxSqsMessage;
  /** Receive count last written to the journal. */
  n: number;
}

export interface PersistedState {
  buckets: Map<string, { created: string; type: FxBucketType; lifecycle?: string }>;
  objects: Map<string, Map<string, { body: BodyRef; meta: StoredObjectMeta }>>;
  uploads: Map<string, { upload: StoredUpload; parts: Map<number, StoredPart> }>;
  queues: Map<string, StoredQueue>;
  /** In journal order, which is the order messages are restored (roughly their send order). */
  messages: Map<string, StoredMessage>;
}

export function emptyState(): PersistedState {
  return { buckets: new Map(), objects: new Map(), uploads: new Map(), queues: new Map(), messages: new Map() };
}

/** Applies one operation; unknown targets are ignored (the operation raced a delete). */
export function applyOp(state: PersistedState, op: Op): void {
  switch (op.op) {
    case 'bucket':
      state.buckets.set(op.name, { created: op.created, type: op.type, ...lifecycleOf(state, op.name) });
      if (!state.objects.has(op.name)) state.objects.set(op.name, new Map());
      return;
    case 'bucket-':
      state.buckets.delete(op.name);
      state.objects.delete(op.name);
      return;
    case 'lifecycle': {
      const b = state.buckets.get(op.bucket);
      if (b) b.lifecycle = op.config;
      return;
    }
    case 'lifecycle-': {
      const b = state.buckets.get(op.bucket);
      if (b) delete b.lifecycle;
      return;
    }
    case 'obj':
      state.objects.get(op.bucket)?.set(op.key, { body: op.body, meta: op.meta });
      return;
    case 'obj-':
      state.objects.get(op.bucket)?.delete(op.key);
      return;
    case 'objs-':
      for (const [bucket, objects] of state.objects) if (op.bucket === undefined || op.bucket === bucket) objects.clear();
      return;
    case 'rename': {
      const objects = state.objects.get(op.bucket);
      const obj = objects?.get(op.from);
      if (!objects || !obj) return;
      objects.delete(op.from);
      objects.set(op.to, obj);
      return;
    }
    case 'mpu':
      state.uploads.set(op.upload.uploadId, { upload: op.upload, parts: new Map() });
      return;
    case 'part':
      state.uploads.get(op.uploadId)?.parts.set(op.part.partNumber, op.part);
      return;
    case 'mpu-':
      if (op.uploadId === undefined) state.uploads.clear();
      else state.uploads.delete(op.uploadId);
      return;
    case 'queue':
      state.queues.set(op.name, { attributes: op.attributes, tags: op.tags, created: op.created, modified: op.modified, seq: op.seq });
      return;
    case 'queue-':
      state.queues.delete(op.name);
      for (const [id, rec] of state.messages) if (rec.queue === op.name) state.messages.delete(id);
      return;
    case 'qattr': {
      const q = state.queues.get(op.name);
      if (q) {
        q.attributes = op.attributes;
        q.modified = op.modified;
      }
      return;
    }
    case 'qseq': {
      const q = state.queues.get(op.name);
      if (q) q.seq = op.seq;
      return;
    }
    case 'msg':
      // Re-inserting moves it to the end: a message moved to a dead-letter queue queues up behind
      // what is already there.
      state.messages.delete(op.m.messageId);
      state.messages.set(op.m.messageId, { queue: op.queue, m: op.m, n: op.m.approximateReceiveCount });
      return;
    case 'rcv': {
      const rec = state.messages.get(op.id);
      if (!rec) return;
      rec.n = op.n;
      rec.m.approximateReceiveCount = op.n;
      if (op.f !== undefined) rec.m.approximateFirstReceiveTimestamp = op.f;
      return;
    }
    case 'msg-':
      state.messages.delete(op.id);
      return;
    case 'msgs-':
      for (const [id, rec] of state.messages) if (op.queue === undefined || rec.queue === op.queue) state.messages.delete(id);
      return;
    case 'purge':
      state.buckets.clear();
      state.objects.clear();
      state.uploads.clear();
      state.queues.clear();
      state.messages.clear();
      return;
  }
}

function lifecycleOf(state: PersistedState, bucket: string): { lifecycle?: string } {
  const lifecycle = state.buckets.get(bucket)?.lifecycle;
  return lifecycle === undefined ? {} : { lifecycle };
}

/** Every body the state references. */
export function referencedBodies(state: PersistedState): Array<{ body: NonNullable<BodyRef>; set(ref: NonNullable<BodyRef>): void }> {
  const out: Array<{ body: NonNullable<BodyRef>; set(ref: NonNullable<BodyRef>): void }> = [];
  for (const objects of state.objects.values()) {
    for (const o of objects.values()) {
      const body = o.body;
      if (body) out.push({ body, set: (ref) => (o.body = ref) });
    }
  }
  for (const u of state.uploads.values()) {
    for (const part of u.parts.values()) {
      const body = part.body;
      if (body) out.push({ body, set: (ref) => (part.body = ref) });
    }
  }
  return out;
}

/** The state as operations that rebuild it. */
export function snapshotOps(state: PersistedState): Op[] {
  const ops: Op[] = [];
  for (const [name, b] of state.buckets) {
    ops.push({ op: 'bucket', name, created: b.created, type: b.type });
    if (b.lifecycle !== undefined) ops.push({ op: 'lifecycle', bucket: name, config: b.lifecycle });
    for (const [key, o] of state.objects.get(name) ?? []) ops.push({ op: 'obj', bucket: name, key, body: o.body, meta: o.meta });
  }
  for (const { upload, parts } of state.uploads.values()) {
    ops.push({ op: 'mpu', upload });
    for (const part of parts.values()) ops.push({ op: 'part', uploadId: upload.uploadId, part });
  }
  for (const [name, q] of state.queues) ops.push({ op: 'queue', name, ...q });
  for (const rec of state.messages.values()) {
    if (!state.queues.has(rec.queue)) continue;
    ops.push({ op: 'msg', queue: rec.queue, m: { ...rec.m, approximateReceiveCount: rec.n } });
  }
  return ops;
}

// ── The journal file ─────────────────────────────────────────────────────────────────────────

export interface JournalOptions {
  /**
   * Compact the journal while running once it exceeds this many bytes and twice the last snapshot;
   * on open, rewrite the packs when their dead bytes exceed this and the live bytes (default 64 MiB).
   */
  compactAfterBytes?: number;
  warn?: (message: string) => void;
}

const JOURNAL = 'journal.jsonl';
const PACK = /^bodies-(\d+)\.pack$/;
const packName = (gen: number) => `bodies-${gen}.pack`;
const heldDirs = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Journal {
  readonly dir: string;
  readonly state: PersistedState;
  private fd = -1;
  private bytes = 0;
  private snapshotBytes = 0;
  private pending: Op[] | undefined;
  private readonly compactAfterBytes: number;
  private readonly warn: (message: string) => void;
  private closed = false;
  /** Open pack files by generation (read), and the one appended to. */
  private readonly packs = new Map<number, number>();
  private writeGen = 0;
  private writePos = 0;

  /** Replays the directory's journal, compacts it and takes the directory's lock. */
  static open(dir: string, options: JournalOptions = {}): Journal {
    return new Journal(dir, options);
  }

  private constructor(dir: string, options: JournalOptions) {
    this.dir = dir;
    this.compactAfterBytes = options.compactAfterBytes ?? 64 * 1024 * 1024;
    this.warn = options.warn ?? ((m) => process.emitWarning(m, 'AmunPersistence'));
    mkdirSync(dir, { recursive: true });
    this.lock();
    try {
      this.state = this.replay();
      this.startGeneration();
    } catch (err) {
      this.closePacks();
      this.unlock();
      throw err;
    }
  }

  private lock(): void {
    const lockFile = join(this.dir, 'LOCK');
    if (heldDirs.has(lockFile)) throw new Error(`data directory ${this.dir} is already open in this process`);
    if (existsSync(lockFile)) {
      const pid = Number(readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new Error(`data directory ${this.dir} is in use by process ${pid}`);
      }
    }
    writeFileSync(lockFile, `${process.pid}\n`);
    heldDirs.add(lockFile);
  }

  private unlock(): void {
    const lockFile = join(this.dir, 'LOCK');
    heldDirs.delete(lockFile);
    rmSync(lockFile, { force: true });
  }

  private replay(): PersistedState {
    const state = emptyState();
    const file = join(this.dir, JOURNAL);
    if (!existsSync(file)) return state;
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    // The segment after the last newline is either empty or a line a crash cut short.
    const torn = lines.pop();
    if (torn) this.warn(`persistence: dropped an incomplete last journal line (${torn.length} bytes) in ${file}`);
    for (const [i, line] of lines.entries()) {
      if (!line) continue;
      let parsed: Line;
      try {
        parsed = JSON.parse(line) as Line;
      } catch {
        this.warn(`persistence: skipped unreadable journal line ${i + 1} in ${file}`);
        continue;
      }
      if ('tx' in parsed) for (const op of parsed.tx) applyOp(state, op);
      else applyOp(state, parsed);
    }
    return state;
  }

  private packFd(gen: number): number {
    let fd = this.packs.get(gen);
    if (fd === undefined) {
      fd = openSync(join(this.dir, packName(gen)), gen === this.writeGen ? 'a+' : 'r');
      this.packs.set(gen, fd);
    }
    return fd;
  }

  private closePacks(): void {
    for (const fd of this.packs.values()) closeSync(fd);
    this.packs.clear();
  }

  /**
   * On open: copy live bodies into a new pack when the old ones are mostly dead, write the snapshot
   * that references them, then drop the packs nothing references.
   */
  private startGeneration(): void {
    const onDisk = new Map<number, number>();
    for (const name of readdirSync(this.dir)) {
      const m = PACK.exec(name);
      if (m?.[1]) onDisk.set(Number(m[1]), fstatSyncPath(join(this.dir, name)));
      else if (name.endsWith('.tmp')) rmSync(join(this.dir, name), { force: true });
    }
    const bodies = referencedBodies(this.state);
    for (const { body } of bodies) {
      if (!onDisk.has(body.p)) throw new Error(`persistence: ${packName(body.p)} is missing from ${this.dir}; the journal references it`);
    }
    const referenced = new Set(bodies.map((b) => b.body.p));
    const live = bodies.reduce((n, b) => n + b.body.l, 0);
    const dead = [...referenced].reduce((n, gen) => n + (onDisk.get(gen) ?? 0), 0) - live;
    const newest = Math.max(0, ...onDisk.keys());
    if (dead > this.compactAfterBytes && dead > live) {
      // A new generation holding exactly the live bodies.
      this.writeGen = newest + 1;
      const target = join(this.dir, packName(this.writeGen));
      const out = openSync(target, 'w+');
      let pos = 0;
      try {
        for (const b of bodies) {
          const data = this.readBody(b.body);
          writeAll(out, data);
          b.set({ p: this.writeGen, o: pos, l: data.length });
          pos += data.length;
        }
      } catch (err) {
        closeSync(out);
        throw err;
      }
      this.packs.set(this.writeGen, out);
      this.writePos = pos;
    } else {
      // Keep appending to the pack in use (a fresh one when nothing is referenced).
      this.writeGen = referenced.size > 0 ? Math.max(...referenced) : newest + 1;
      const fd = this.packs.get(this.writeGen);
      if (fd !== undefined) {
        // Opened read-only while checking: reopen for appending.
        closeSync(fd);
        this.packs.delete(this.writeGen);
      }
      this.writePos = fstatSync(this.packFd(this.writeGen)).size;
    }
    this.compact();
    // The snapshot is in place: older generations are unreferenced now.
    for (const [gen, fd] of [...this.packs]) {
      if (gen !== this.writeGen) {
        closeSync(fd);
        this.packs.delete(gen);
      }
    }
    for (const gen of onDisk.keys()) if (gen !== this.writeGen) rmSync(join(this.dir, packName(gen)), { force: true });
  }

  /** Rewrites the journal as a snapshot of the state (atomically: temp file, fsync, rename). */
  compact(): void {
    const file = join(this.dir, JOURNAL);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    let size = 0;
    try {
      const chunk: string[] = [];
      let chunkBytes = 0;
      const flush = () => {
        if (chunk.length === 0) return;
        size += writeAll(fd, Buffer.from(chunk.join(''), 'utf8'));
        chunk.length = 0;
        chunkBytes = 0;
      };
      for (const op of snapshotOps(this.state)) {
        const line = `${JSON.stringify(op)}\n`;
        chunk.push(line);
        chunkBytes += line.length;
        if (chunkBytes > 1 << 20) flush();
      }
      flush();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // Bodies the snapshot references must be on disk before it replaces the journal.
    const pack = this.packs.get(this.writeGen);
    if (pack !== undefined) fsyncSync(pack);
    if (this.fd >= 0) closeSync(this.fd);
    renameSync(tmp, file);
    fsyncDir(this.dir);
    this.fd = openSync(file, 'a');
    this.bytes = size;
    this.snapshotBytes = size;
  }

  /** Writes operations as one line: after a crash either all of them are there or none is. */
  append(ops: Op | Op[]): void {
    const list = Array.isArray(ops) ? ops : [ops];
    if (list.length === 0) return;
    if (this.closed) throw new Error('persistence: journal is closed');
    if (this.pending) {
      // Inside a transaction later operations may depend on earlier ones: apply at once.
      for (const op of list) applyOp(this.state, op);
      this.pending.push(...list);
      return;
    }
    // Written first, so that a failed write (disk full) leaves no trace in the state either.
    this.write(list);
    for (const op of list) applyOp(this.state, op);
  }

  /** Runs `fn`, writing every operation it appends as one line when it returns. */
  tx<T>(fn: () => T): T {
    if (this.pending) return fn();
    const pending: Op[] = [];
    this.pending = pending;
    try {
      return fn();
    } finally {
      this.pending = undefined;
      // Written even when fn throws: the state already holds what fn did before it threw.
      if (!this.closed) this.write(pending);
    }
  }

  private write(ops: Op[]): void {
    if (ops.length === 0) return;
    const line: Line = ops.length === 1 ? (ops[0] as Op) : { tx: ops };
    this.bytes += writeAll(this.fd, Buffer.from(`${JSON.stringify(line)}\n`, 'utf8'));
    if (this.bytes > this.compactAfterBytes && this.bytes > 2 * this.snapshotBytes) this.compact();
  }

  /** Appends a body to the current pack; empty bodies take no space. */
  writeBody(body: Buffer): BodyRef {
    if (body.length === 0) return null;
    if (this.closed) throw new Error('persistence: journal is closed');
    writeAll(this.packFd(this.writeGen), body);
    const ref = { p: this.writeGen, o: this.writePos, l: body.length };
    this.writePos += body.length;
    return ref;
  }

  readBody(ref: BodyRef): Buffer {
    if (!ref) return Buffer.alloc(0);
    const fd = this.packFd(ref.p);
    const buf = Buffer.allocUnsafe(ref.l);
    let off = 0;
    while (off < ref.l) {
      const n = readSync(fd, buf, off, ref.l - off, ref.o + off);
      if (n === 0) throw new Error(`persistence: ${packName(ref.p)} ends before ${ref.o + ref.l}`);
      off += n;
    }
    return buf;
  }

  get journalBytes(): number {
    return this.bytes;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.closePacks();
    this.unlock();
  }
}

function fstatSyncPath(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Buffer): number {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  return buf.length;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Not every platform can fsync a directory; the rename is atomic regardless.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ── fauxqs write-through → journal ───────────────────────────────────────────────────────────

/** A notification to enqueue in the same journal line as the object that caused it. */
export interface PendingDelivery {
  queue: FxSqsQueue;
  msg: FxSqsMessage;
}

export type ObjectWriteKind = 'put' | 'multipart';

function metaOf(obj: FxS3Object): StoredObjectMeta {
  const { body: _body, key: _key, lastModified, ...rest } = obj;
  return { ...rest, lastModified: lastModified.toISOString() };
}

export function objectFromStored(key: string, meta: StoredObjectMeta): FxS3Object {
  const { lastModified, ...rest } = meta;
  // Bodies stay on disk: fauxqs reads them through readBody() when contentLength > 0.
  return { key, body: Buffer.alloc(0), ...rest, lastModified: new Date(lastModified) };
}

function storedUpload(u: FxMultipartUpload): StoredUpload {
  const { parts: _parts, initiated, ...rest } = u;
  return { ...rest, initiated: initiated.toISOString() };
}

export function uploadFromStored(u: StoredUpload, parts: Map<number, StoredPart>, readBody: (ref: BodyRef) => Buffer): FxMultipartUpload {
  const { initiated, ...rest } = u;
  const restored = new Map<number, FxMultipartPart>();
  for (const [n, p] of parts) {
    restored.set(n, {
      partNumber: p.partNumber,
      body: readBody(p.body),
      etag: p.etag,
      lastModified: new Date(p.lastModified),
      ...(p.checksumValue !== undefined ? { checksumValue: p.checksumValue } : {}),
    });
  }
  return { ...rest, initiated: new Date(initiated), parts: restored };
}

/**
 * Implements the write-through interfaces fauxqs' SqsStore/SqsQueue and S3Store call into
 * (fauxqs' own SQLite PersistenceManager is not used), appending to the journal.
 */
export class JournalPersistence implements FxSqsPersistence, FxS3Persistence {
  /** Consulted on every object creation; what it returns is enqueued atomically with the object. */
  objectHook: ((bucket: string, obj: FxS3Object, kind: ObjectWriteKind) => PendingDelivery[]) | undefined;
  /** Told after an object creation was written, with what was enqueued for it. */
  afterObjectWrite: ((bucket: string, obj: FxS3Object, kind: ObjectWriteKind, delivered: PendingDelivery[]) => void) | undefined;
  private suppressInsert = false;

  constructor(readonly journal: Journal) {}

  private get state(): PersistedState {
    return this.journal.state;
  }

  // ── S3 ──
  // Bodies are appended to the pack and never rewritten in place: replacing or deleting an object
  // only changes the journal; the dead bytes go at the next compaction of the packs.

  insertBucket(name: string, creationDate: Date, type: FxBucketType): void {
    this.journal.append({ op: 'bucket', name, created: creationDate.toISOString(), type });
  }

  deleteBucket(name: string): void {
    this.journal.append({ op: 'bucket-', name });
  }

  saveBucketLifecycleConfiguration(bucket: string, config: string): void {
    this.journal.append({ op: 'lifecycle', bucket, config });
  }

  deleteBucketLifecycleConfiguration(bucket: string): void {
    this.journal.append({ op: 'lifecycle-', bucket });
  }

  upsertObject(bucket: string, obj: FxS3Object): void {
    this.writeObject(bucket, obj, 'put', []);
  }

  completeMultipartUpload(uploadId: string, bucket: string, obj: FxS3Object): void {
    this.writeObject(bucket, obj, 'multipart', [{ op: 'mpu-', uploadId }]);
  }

  private writeObject(bucket: string, obj: FxS3Object, kind: ObjectWriteKind, extra: Op[]): void {
    const body = this.journal.writeBody(obj.body);
    const deliveries = this.objectHook?.(bucket, obj, kind) ?? [];
    this.journal.append([
      { op: 'obj', bucket, key: obj.key, body, meta: metaOf(obj) },
      ...extra,
      ...deliveries.map((d): Op => ({ op: 'msg', queue: d.queue.name, m: d.msg })),
    ]);
    // Already journaled with the object: hand them to the queues without a second write.
    this.suppressInsert = true;
    try {
      for (const d of deliveries) d.queue.enqueue(d.msg);
    } finally {
      this.suppressInsert = false;
    }
    this.afterObjectWrite?.(bucket, obj, kind, deliveries);
  }

  deleteObject(bucket: string, key: string): void {
    if (!this.state.objects.get(bucket)?.has(key)) return;
    this.journal.append({ op: 'obj-', bucket, key });
  }

  deleteObjectsByBucket(bucket: string): void {
    this.journal.append({ op: 'objs-', bucket });
  }

  deleteAllObjects(): void {
    this.journal.append({ op: 'objs-' });
  }

  renameObject(bucket: string, sourceKey: string, destKey: string): void {
    this.journal.append({ op: 'rename', bucket, from: sourceKey, to: destKey });
  }

  readBody(bucket: string, key: string): Buffer {
    const o = this.state.objects.get(bucket)?.get(key);
    if (!o) throw new Error(`persistence: no stored body for ${bucket}/${key}`);
    return this.journal.readBody(o.body);
  }

  insertMultipartUpload(upload: FxMultipartUpload): void {
    this.journal.append({ op: 'mpu', upload: storedUpload(upload) });
  }

  upsertMultipartPart(uploadId: string, part: FxMultipartPart): void {
    const body = this.journal.writeBody(part.body);
    this.journal.append({
      op: 'part',
      uploadId,
      part: {
        partNumber: part.partNumber,
        body,
        etag: part.etag,
        lastModified: part.lastModified.toISOString(),
        ...(part.checksumValue !== undefined ? { checksumValue: part.checksumValue } : {}),
      },
    });
  }

  deleteMultipartUpload(uploadId: string): void {
    this.journal.append({ op: 'mpu-', uploadId });
  }

  deleteAllMultipartUploads(): void {
    this.journal.append({ op: 'mpu-' });
  }

  loadS3(): void {
    // The emulator restores the stores itself (see restoreStores in emulator.ts).
  }

  purgeAll(): void {
    this.journal.append({ op: 'purge' });
  }

  close(): void {
    // The journal is closed by its owner.
  }

  // ── SQS ──

  insertQueue(queue: FxSqsQueue): void {
    this.journal.append({
      op: 'queue',
      name: queue.name,
      attributes: { ...queue.attributes },
      tags: Object.fromEntries(queue.tags),
      created: queue.createdTimestamp,
      modified: queue.lastModifiedTimestamp,
      seq: queue.sequenceCounter,
    });
  }

  deleteQueue(name: string): void {
    this.journal.append({ op: 'queue-', name });
  }

  updateQueueAttributes(name: string, attributes: Record<string, string>, lastModified: number): void {
    this.journal.append({ op: 'qattr', name, attributes: { ...attributes }, modified: lastModified });
  }

  updateQueueSequenceCounter(name: string, counter: number): void {
    this.journal.append({ op: 'qseq', name, seq: counter });
  }

  insertMessage(queueName: string, msg: FxSqsMessage): void {
    if (this.suppressInsert) return;
    this.journal.append({ op: 'msg', queue: queueName, m: msg });
  }

  deleteMessage(messageId: string): void {
    if (!this.state.messages.has(messageId)) return;
    this.journal.append({ op: 'msg-', id: messageId });
  }

  updateMessageInflight(
    messageId: string,
    _receiptHandle: string,
    _visibilityDeadline: number,
    receiveCount: number,
    firstReceiveTimestamp: number | undefined,
  ): void {
    // Visibility changes (heartbeats) are not journaled: only receives, which change the count.
    const rec = this.state.messages.get(messageId);
    if (!rec || rec.n === receiveCount) return;
    this.journal.append({
      op: 'rcv',
      id: messageId,
      n: receiveCount,
      ...(firstReceiveTimestamp !== undefined ? { f: firstReceiveTimestamp } : {}),
    });
  }

  updateMessageReady(): void {
    // Visibility is not journaled (and fauxqs' own version of this nulls the receive count).
  }

  deleteQueueMessages(queueName: string): void {
    this.journal.append({ op: 'msgs-', queue: queueName });
  }

  deleteAllMessages(): void {
    this.journal.append({ op: 'msgs-' });
  }

  clearMessagesAndObjects(): void {
    this.journal.tx(() => {
      this.deleteAllMessages();
      this.deleteAllObjects();
      this.deleteAllMultipartUploads();
    });
  }
}
