/** An in-memory ObjectStore for tests that need no S3. */
import type { ListPage, ObjectStore } from '../../../functions/core/ports.js';

export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();

  async get(key: string): Promise<Buffer | undefined> {
    return this.objects.get(key);
  }
  async put(key: string, body: string | Buffer): Promise<void> {
    this.objects.set(key, typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  }
  async exists(key: string): Promise<boolean> {
    return this.objects.has(key);
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  async list(prefix: string, options: { delimiter?: string } = {}): Promise<ListPage> {
    const keys: string[] = [];
    const prefixes = new Set<string>();
    for (const key of [...this.objects.keys()].sort()) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const cut = options.delimiter ? rest.indexOf(options.delimiter) : -1;
      if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1));
      else keys.push(key);
    }
    return { keys, prefixes: [...prefixes] };
  }
  text(key: string): string | undefined {
    return this.objects.get(key)?.toString('utf8');
  }
}
