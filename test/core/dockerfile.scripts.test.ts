/**
 * The shell scripts the generated build runs, executed with stub package managers: which manager
 * is picked, which arguments it gets, and that package names are data, never evaluated.
 * (The scripts were also run for real in images built by podman from generated Dockerfiles.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_PACKAGES_SH, INSTALL_PYTHON_SH } from '../../functions/core/dockerfile.js';

const SH = '/bin/sh';

describe('build scripts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'amun-scripts-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Stub commands that only log their arguments; PATH holds nothing else. */
  function stubs(...names: string[]): string {
    const bin = join(dir, 'bin');
    spawnSync(SH, ['-c', `mkdir -p '${bin}'`]);
    for (const name of names) {
      const path = join(bin, name);
      writeFileSync(path, `#!${SH}\nprintf '%s' '${name}' >> '${join(dir, 'log')}'\nfor a in "$@"; do printf ' <%s>' "$a" >> '${join(dir, 'log')}'; done\necho >> '${join(dir, 'log')}'\n`);
      chmodSync(path, 0o755);
    }
    return bin;
  }

  function installPackages(bin: string, args: string[], list: string): { status: number | null; stderr: string; log: string[] } {
    writeFileSync(join(dir, 'install-packages.sh'), INSTALL_PACKAGES_SH);
    writeFileSync(join(dir, 'packages.txt'), list);
    const result = spawnSync(SH, [join(dir, 'install-packages.sh'), ...args, join(dir, 'packages.txt')], { env: { PATH: bin }, encoding: 'utf8' });
    const log = existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').split('\n').filter((l) => l !== '') : [];
    return { status: result.status, stderr: result.stderr, log };
  }

  it('is valid POSIX shell', () => {
    for (const script of [INSTALL_PACKAGES_SH, INSTALL_PYTHON_SH]) {
      const result = spawnSync(SH, ['-n'], { input: script, encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
  });

  it('prefers dnf, updates when asked, and passes each listed package as one argument, unevaluated', () => {
    const marker = join(dir, 'pwned');
    const { status, log } = installPackages(stubs('dnf', 'yum', 'apt-get'), ['--update'], `gcc\n\nlibfoo=1.2\n$(touch ${marker})\n\`touch ${marker}\`\na b`);
    expect(status).toBe(0);
    expect(log).toEqual(['dnf <-y> <upgrade>', `dnf <-y> <install> <gcc> <libfoo=1.2> <$(touch ${marker})> <\`touch ${marker}\`> <a b>`, 'dnf <clean> <all>']);
    expect(existsSync(marker)).toBe(false);
  });

  it('falls back to yum (failing on unknown names) and to apt-get (update first, no recommends)', () => {
    expect(installPackages(stubs('yum', 'apt-get'), [], 'gcc\n').log).toEqual([
      'yum <-y> <--setopt=skip_missing_names_on_install=False> <install> <gcc>',
      'yum <clean> <all>',
    ]);
    rmSync(join(dir, 'log'));
    rmSync(join(dir, 'bin'), { recursive: true });
    // rm is a stub too: the lists of the host running the test stay where they are.
    const { log } = installPackages(stubs('apt-get', 'rm'), ['--update'], 'gcc\ng++\n');
    expect(log.slice(0, 3)).toEqual(['apt-get <update>', 'apt-get <-y> <upgrade>', 'apt-get <install> <-y> <--no-install-recommends> <gcc> <g++>']);
    expect(log[3]).toMatch(/^rm <-rf> <\/var\/lib\/apt\/lists\//);
    expect(log).toHaveLength(4);
  });

  it('updates without installing when the list is empty', () => {
    expect(installPackages(stubs('dnf'), ['--update'], '').log).toEqual(['dnf <-y> <upgrade>', 'dnf <clean> <all>']);
  });

  it('fails clearly when the image has no package manager', () => {
    const { status, stderr, log } = installPackages(stubs(), [], 'gcc\n');
    expect(status).toBe(1);
    expect(stderr).toMatch(/no supported package manager \(dnf, yum, microdnf or apt-get\)/);
    expect(log).toEqual([]);
  });
});
