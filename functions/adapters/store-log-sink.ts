/**
 * A log that a reader of the store can follow while a step runs: S3 has no append, so the whole
 * text is re-uploaded at most once per interval while output arrives, and once more at the end.
 */
import type { LogSink, ObjectStore } from '../core/ports.js';

export interface StoreLogSinkOptions {
  intervalMs?: number;
  /** Beyond this many bytes the oldest output is dropped (a marker says so). */
  maxBytes?: number;
}

export class StoreLogSink implements LogSink {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private uploading: Promise<void> = Promise.resolve();
  private dirty = false;
  private readonly intervalMs: number;
  private readonly maxBytes: number;

  constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    options: StoreLogSinkOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  }

  write(chunk: string | Buffer): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (bytes.length === 0) return;
    this.chunks.push(bytes);
    this.size += bytes.length;
    while (this.size > this.maxBytes && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      this.size -= first.length;
      this.dropped += first.length;
    }
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.upload().catch(() => undefined);
    }, this.intervalMs);
  }

  text(): string {
    const head = this.dropped > 0 ? `[… ${this.dropped} earlier bytes dropped …]\n` : '';
    return head + Buffer.concat(this.chunks).toString('utf8');
  }

  private upload(): Promise<void> {
    this.uploading = this.uploading.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await this.store.put(this.key, this.text(), 'text/plain; charset=utf-8');
    });
    return this.uploading;
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = true;
    await this.upload();
  }
}
