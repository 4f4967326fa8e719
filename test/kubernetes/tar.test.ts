/** The build context tarball: reproducible bytes, modes kept, read back by the system tar. */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tar, tarGz } from '../../functions/adapters/kubernetes/tar.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import { tempDir } from '../support/stack.js';
import { cpuPinnedSpec } from './support/fixtures.js';

describe('context tarball', () => {
  const generated = generateBuild(cpuPinnedSpec(), harnessFiles);
  const files = [{ path: 'Dockerfile', content: generated.dockerfile }, ...generated.context];

  it('is byte-for-byte reproducible and independent of input order', () => {
    expect(tarGz(files).equals(tarGz([...files].reverse()))).toBe(true);
  });

  it('extracts with the system tar to the same files and modes', () => {
    const dir = tempDir('amun-tar-');
    try {
      writeFileSync(join(dir.path, 'context.tar.gz'), tarGz(files));
      const out = spawnSync('tar', ['-xzf', 'context.tar.gz', '--no-same-owner'], { cwd: dir.path, encoding: 'utf8' });
      expect(out.stderr).toBe('');
      expect(out.status).toBe(0);
      for (const file of files) {
        expect(readFileSync(join(dir.path, file.path), 'utf8')).toBe(file.content.toString());
        expect(statSync(join(dir.path, file.path)).mode & 0o777).toBe(file.mode ?? 0o644);
      }
    } finally {
      dir.remove();
    }
  });

  it('writes ustar headers with valid checksums, long paths through the prefix field', () => {
    const dirs = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const raw = gunzipSync(tarGz([{ path: `${dirs}/file.txt`, content: 'x' }]));
    expect(raw.length % 512).toBe(0);
    expect(raw.subarray(257, 263).toString('latin1')).toBe('ustar\0');
    // Entries: two directories, then the file; checksum over the header with its field as spaces.
    const header = raw.subarray(1024, 1536);
    expect(header.subarray(345, 345 + 121).toString('utf8')).toBe(dirs);
    expect(header.subarray(0, 8).toString('utf8')).toBe('file.txt');
    const stored = parseInt(header.subarray(148, 154).toString('ascii'), 8);
    const copy = Buffer.from(header);
    copy.fill(0x20, 148, 156);
    expect(stored).toBe(copy.reduce((a, b) => a + b, 0));
  });

  it('refuses paths that could escape the context', () => {
    for (const path of ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b']) expect(() => tar([{ path, content: '' }])).toThrow(/unsafe/);
  });
});
