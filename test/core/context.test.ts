import fc from 'fast-check';
import { decodeContext, encodeContext } from '../../functions/core/context.js';
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
});
