import fc from 'fast-check';
import { decodeContext, decodeStoredContext, encodeContext, encodeStoredContext, isBlobReference, matchesBlob } from '../../functions/core/context.js';
import { isUnchangingContextPath } from '../../functions/core/dockerfile.js';
import { CorruptDataError } from '../../functions/core/errors.js';

describe('stored build context', () => {
  it('gives back every file byte for byte with its mode, text or not', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            path: fc.stringMatching(/^[a-z]{1,8}(\/[a-z0-9_-][a-z0-9._-]{0,7}){0,3}$/),
            mode: fc.constantFrom(0o644, 0o755, 0o600),
            content: fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
          }),
          { selector: (f) => f.path, maxLength: 8 },
        ),
        (files) => {
          const back = decodeContext(Buffer.from(encodeContext(files)), 'test');
          const bytes = (c: string | Buffer) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
          const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
          expect(back.map((f) => [f.path, f.mode, bytes(f.content).toString('hex')])).toEqual(sorted.map((f) => [f.path, f.mode, bytes(f.content).toString('hex')]));
        },
      ),
    );
  });

  it('is deterministic and refuses a context that does not match its schema', () => {
    const files = [{ path: 'b', content: 'x' }, { path: 'a', content: Buffer.from([0xff, 0x00]), mode: 0o755 }];
    expect(encodeContext(files)).toBe(encodeContext([...files].reverse()));
    expect(() => decodeContext(Buffer.from(JSON.stringify({ files: [{ path: '../etc/passwd', mode: 420, encoding: 'utf8', content: '' }] })), 'bad')).toThrow(CorruptDataError);
  });

  it('stores shared files by digest and gives every byte back with their blobs; reads a context stored with every file inline', () => {
    const bytes = (c: string | Buffer) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            path: fc.stringMatching(/^(shared|own)(\/[a-z0-9_-][a-z0-9._-]{0,7}){1,3}$/),
            mode: fc.constantFrom(0o644, 0o755),
            content: fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
          }),
          { selector: (f) => f.path, maxLength: 8 },
        ),
        (files) => {
          const shared = (path: string) => path.startsWith('shared/');
          const { text, blobs } = encodeStoredContext(files, shared);
          const store = new Map(blobs.map((b) => [b.sha256, b.content]));
          const back = decodeStoredContext(Buffer.from(text), 'test').map((f) => {
            if (!isBlobReference(f)) return f;
            const content = store.get(f.sha256)!;
            expect(matchesBlob(f, content)).toBe(true);
            return { path: f.path, mode: f.mode, content };
          });
          const view = (fs: ReadonlyArray<{ path: string; mode?: number; content: string | Buffer }>) =>
            [...fs].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => [f.path, f.mode, bytes(f.content).toString('hex')]);
          expect(view(back)).toEqual(view(files));
          expect(decodeStoredContext(Buffer.from(text), 'test').filter(isBlobReference).map((f) => f.path).sort()).toEqual(files.filter((f) => shared(f.path)).map((f) => f.path).sort());
          // A context stored before blobs (every file inline) reads as it did.
          expect(view(decodeStoredContext(Buffer.from(encodeContext(files)), 'old') as typeof files)).toEqual(view(files));
        },
      ),
    );
  });

  it('shares only what no specification can change: the harness and the generator\'s own scripts', () => {
    expect(['amun/harness/entrypoint.py', 'amun/harness/hwinfo.py', 'amun/build/run-user.sh', 'amun/build/native/install-packages.sh', 'amun/build/python/install-python.sh'].every(isUnchangingContextPath)).toBe(true);
    expect(['amun/script', 'amun/files/0', 'amun/Pipfile', 'amun/Pipfile.lock', 'amun/build/native/packages.txt', 'amun/build/python/requirements-lock-000.txt', 'amun/python-packages.txt', 'amun/build/constraints.txt'].some(isUnchangingContextPath)).toBe(false);
  });

  it('refuses a stored context that does not match its schema, and bytes that are not the blob named', () => {
    expect(() => decodeStoredContext(Buffer.from('{"files":[{"path":"a","mode":420,"sha256":"abc","size":1}]}'), 'bad')).toThrow(CorruptDataError);
    expect(() => decodeStoredContext(Buffer.from('not json'), 'bad')).toThrow(CorruptDataError);
    const [blob] = encodeStoredContext([{ path: 'x', content: 'hello' }], () => true).blobs;
    expect(matchesBlob({ sha256: blob!.sha256, size: 5 }, Buffer.from('hello'))).toBe(true);
    expect(matchesBlob({ sha256: blob!.sha256, size: 5 }, Buffer.from('hellO'))).toBe(false);
  });
});
