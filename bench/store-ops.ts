/**
 * Counting a store's operations in a benchmark: its methods, by the operation each counts as (as
 * S3ObjectStore.stats counts them: conditional writes are puts, versioned reads gets), wrapped so
 * that every call is reported to `count` before it runs.
 */
export type Op = 'get' | 'put' | 'exists' | 'list' | 'delete';
export const OPS: Op[] = ['get', 'put', 'exists', 'list', 'delete'];
export type Counts = Record<Op, number>;
export const zero = (): Counts => ({ get: 0, put: 0, exists: 0, list: 0, delete: 0 });

const METHODS: Record<string, Op> = { get: 'get', read: 'get', put: 'put', putIf: 'put', exists: 'exists', list: 'list', delete: 'delete' };

export function countStoreOps(store: object, count: (op: Op) => void): void {
  const methods = store as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const [method, op] of Object.entries(METHODS)) {
    const original = methods[method]!.bind(store);
    methods[method] = (...args: unknown[]) => {
      count(op);
      return original(...args);
    };
  }
}
