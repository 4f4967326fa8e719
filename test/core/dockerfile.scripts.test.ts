/**
 * The shell scripts the generated build runs, executed with stub package managers: which manager
 * is picked, which arguments it gets, and that package names are data, never evaluated; and the
 * run user's account, written into a scratch etc directory.
 * (The scripts were also run for real in images built by podman from generated Dockerfiles.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTALL_PACKAGES_SH, INSTALL_PYTHON_SH, RUN_USER_SH } from '../../functions/core/dockerfile.js';

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
    for (const script of [INSTALL_PACKAGES_SH, INSTALL_PYTHON_SH, RUN_USER_SH]) {
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

  describe('run-user.sh', () => {
    const ENTRY = 'amun:x:1042:0:Amun run user:/home/amun:/bin/sh';
    const DEBIAN_PASSWD = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
    const DEBIAN_GROUP = 'root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\n';

    /** Runs the script on `<dir>/etc` holding these files (undefined: absent); returns them after. */
    function runUser(files: { passwd?: string; group?: string }): { status: number | null; stdout: string; stderr: string; passwd: string; group: string } {
      const etc = join(dir, 'etc');
      spawnSync(SH, ['-c', `mkdir -p '${etc}'`]);
      if (files.passwd !== undefined) writeFileSync(join(etc, 'passwd'), files.passwd);
      if (files.group !== undefined) writeFileSync(join(etc, 'group'), files.group);
      writeFileSync(join(dir, 'run-user.sh'), RUN_USER_SH);
      const result = spawnSync(SH, [join(dir, 'run-user.sh'), etc], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      const read = (name: string): string => (existsSync(join(etc, name)) ? readFileSync(join(etc, name), 'utf8') : '');
      return { status: result.status, stdout: result.stdout, stderr: result.stderr, passwd: read('passwd'), group: read('group') };
    }

    it('adds the run user (home /home/amun, primary group 0) and its group, leaving every other line as it was', () => {
      const { status, stdout, stderr, passwd, group } = runUser({ passwd: DEBIAN_PASSWD, group: DEBIAN_GROUP });
      expect({ status, stderr, stdout }).toEqual({ status: 0, stderr: '', stdout: '' });
      expect(passwd).toBe(`${DEBIAN_PASSWD}${ENTRY}\n`);
      expect(group).toBe(`${DEBIAN_GROUP}amun:x:1042:\n`);
      expect(existsSync(join(dir, 'etc', '.amun-run-user.new'))).toBe(false);
    });

    it('is idempotent: a second run changes nothing', () => {
      runUser({ passwd: DEBIAN_PASSWD, group: DEBIAN_GROUP });
      const etc = join(dir, 'etc');
      const first = { passwd: readFileSync(join(etc, 'passwd'), 'utf8'), group: readFileSync(join(etc, 'group'), 'utf8') };
      const again = spawnSync(SH, [join(dir, 'run-user.sh'), etc], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      expect(again.status).toBe(0);
      expect(again.stdout).toBe(`amun: replacing the base image's passwd entry ${ENTRY}\n`);
      expect({ passwd: readFileSync(join(etc, 'passwd'), 'utf8'), group: readFileSync(join(etc, 'group'), 'utf8') }).toEqual(first);
    });

    it("replaces the base image's entries for uid 1042 and for the name amun, and keeps a group that has the gid", () => {
      const passwd = 'root:x:0:0:root:/root:/bin/sh\nbuilder:x:1042:1042::/nonexistent:/usr/sbin/nologin\namun:x:500:500::/var/lib/amun:/bin/false\nother:x:10420:0::/home/other:/bin/sh\n';
      const group = 'root:x:0:\nbuilder:x:1042:\n';
      const out = runUser({ passwd, group });
      expect(out.status).toBe(0);
      expect(out.passwd).toBe(`root:x:0:0:root:/root:/bin/sh\nother:x:10420:0::/home/other:/bin/sh\n${ENTRY}\n`);
      expect(out.stdout.split('\n').filter(Boolean)).toEqual([
        "amun: replacing the base image's passwd entry builder:x:1042:1042::/nonexistent:/usr/sbin/nologin",
        "amun: replacing the base image's passwd entry amun:x:500:500::/var/lib/amun:/bin/false",
      ]);
      expect(out.group).toBe(group);
    });

    it('copes with files that lack a last newline, or are missing, and with text that looks like shell', () => {
      const odd = `root:x:0:0:$(touch ${join(dir, 'pwned')}) \`id\` \\n %s:/root:/bin/sh`;
      const out = runUser({ passwd: odd, group: 'root:x:0:' });
      expect(out.status).toBe(0);
      expect(out.passwd).toBe(`${odd}\n${ENTRY}\n`);
      expect(out.group).toBe('root:x:0:\namun:x:1042:\n');
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
      rmSync(join(dir, 'etc'), { recursive: true });
      const empty = runUser({});
      expect(empty).toMatchObject({ status: 0, passwd: `${ENTRY}\n`, group: 'amun:x:1042:\n' });
    });
  });
});
