/**
 * The harness's start-up is part of every run's cost (issue 14): started as the executors start it
 * (`python3 -I -S`), it imports next to nothing, and what it does in place of the modules it no
 * longer imports answers as they did: JSON written and read byte for byte as the json module does,
 * hwinfo's string tests as the regular expressions they replaced (test/harness/lean_checks.py
 * compares them on fixed and random inputs), the script started as subprocess started it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const harnessDir = join(repoRoot, 'functions', 'harness');
const entrypoint = join(harnessDir, 'entrypoint.py');
const checks = join(repoRoot, 'test', 'harness', 'lean_checks.py');

const dir = mkdtempSync(join(tmpdir(), 'amun-lean-harness-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('AMUN_') || name === 'JOB_COMPLETION_INDEX') delete env[name];
  return { ...env, ...extra };
}

let runs = 0;
/** The harness on `content` (argv before the harness's own: `launcher`); its report and stderr. */
function harness(content: string, launcher: string[] = ['python3', '-I', '-S'], extra: string[] = []): { result: Record<string, unknown>; stderr: string; status: number | null } {
  const work = join(dir, `run-${++runs}`);
  const script = join(dir, `script-${runs}`);
  writeFileSync(script, content, { mode: 0o755 });
  const ran = spawnSync(launcher[0]!, [...launcher.slice(1), entrypoint, '--script', script, `--output=${work}`, '--venv', join(dir, 'no-venv'), ...extra], { encoding: 'utf8', env: cleanEnv() });
  const result = JSON.parse(readFileSync(join(work, 'result'), 'utf8')) as Record<string, unknown>;
  return { result, stderr: ran.stderr, status: ran.status };
}

function lean(check: 'json' | 'hwinfo'): { checked: number; mismatches: unknown[] } {
  const ran = spawnSync('python3', [checks, harnessDir, check], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (ran.status !== 0) throw new Error(`lean_checks.py ${check} failed: ${ran.stderr}`);
  return JSON.parse(ran.stdout) as { checked: number; mismatches: unknown[] };
}

describe('the harness started as the executors start it', () => {
  it('imports none of the modules a run without GPUs, errors or help does not need', () => {
    const { result, stderr } = harness('import json\nprint(json.dumps({"ok": True}))\n', ['python3', '-I', '-S', '-X', 'importtime']);
    expect(result).toMatchObject({ exit_code: 0, reason: null, stdout: { ok: true } });
    const imported = stderr.split('\n').filter((l) => l.startsWith('import time:')).map((l) => l.split('|')[2]?.trim()).filter((m): m is string => !!m);
    // The harness comes byte-compiled (an imported module); only the launcher is compiled at every start.
    expect(imported).toEqual(expect.arrayContaining(['runner', 'hwinfo']));
    expect(statSync(entrypoint).size).toBeLessThan(2048);
    // Each of these took milliseconds of every run (re, enum, functools and collections behind json and signal).
    const heavy = ['re', 'json', 'enum', 'functools', 'collections', 'signal', 'subprocess', 'threading', 'argparse', 'tempfile', 'shutil', 'socket', 'hashlib', '_hashlib', 'platform', 'datetime', 'traceback', 'locale', 'csv', 'warnings', 'site'];
    expect(imported.filter((m) => heavy.includes(m))).toEqual([]);
  });

  it('writes and reads JSON as the json module does', () => {
    const { checked, mismatches } = lean('json');
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(5000);
  });

  it("answers hwinfo's questions as the regular expressions and the platform module did", () => {
    const { checked, mismatches } = lean('hwinfo');
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(40_000);
  });

  it('starts the script as subprocess did: its own session, stdin from /dev/null, no descriptor of its launcher, SIGPIPE and SIGXFSZ at their defaults', () => {
    // A launcher that leaves descriptor 50 open for its children; the script reports its own process.
    const script = [
      '#!/bin/sh',
      'set -- $(cut -d" " -f5,6 /proc/$$/stat)',
      'printf \'{"pid": %s, "pgid": %s, "sid": %s, "stdin": "%s", "fds": "%s", "ignored": "%s"}\\n\' "$$" "$1" "$2" "$(readlink /proc/$$/fd/0)" "$(ls /proc/$$/fd | tr "\\n" " ")" "$(sed -n "s/^SigIgn:[[:space:]]*//p" /proc/$$/status)"',
    ].join('\n');
    const launcher = 'import os, sys; os.dup2(os.open("/dev/null", os.O_RDONLY), 50); os.execvp("python3", ["python3", "-I", "-S"] + sys.argv[1:])';
    const { result } = harness(`${script}\n`, ['python3', '-c', launcher]);
    const out = result.stdout as { pid: number; pgid: number; sid: number; stdin: string; fds: string; ignored: string };
    expect(result).toMatchObject({ exit_code: 0, reason: null });
    expect(out.pgid).toBe(out.pid);
    expect(out.sid).toBe(out.pid);
    expect(out.stdin).toBe('/dev/null');
    expect(out.fds.trim().split(' ').map(Number)).not.toContain(50);
    const ignored = BigInt(`0x${out.ignored}`);
    expect({ SIGPIPE: (ignored >> 12n) & 1n, SIGXFSZ: (ignored >> 24n) & 1n }).toEqual({ SIGPIPE: 0n, SIGXFSZ: 0n });
  });

  it('finds an interpreter the #! line names without a path on the PATH the script gets', () => {
    writeFileSync(join(dir, 'amun-lean-shell'), '#!/bin/sh\nexec /bin/sh "$@"\n', { mode: 0o755 });
    const ran = spawnSync('python3', ['-I', '-S', '-c', [
      'import sys, os; sys.path.insert(0, sys.argv[1]); import runner as e',
      'r, w = os.pipe()',
      'out = os.fdopen(w, "wb")',
      'pid, _ = e.spawn(["amun-lean-shell", "-c", "echo found"], "/", dict(os.environ, PATH=sys.argv[2] + ":/usr/bin:/bin"), out, out)',
      'out.close(); print(os.read(r, 100).decode().strip(), os.waitpid(pid, 0)[1])',
      'try:',
      '    null = open(os.devnull, "wb")',
      '    e.spawn(["amun-no-such-interpreter"], "/", dict(os.environ), null, null)',
      'except OSError as error:',
      '    print(type(error).__name__)',
    ].join('\n'), harnessDir, dir], { encoding: 'utf8' });
    expect(ran.stderr).toBe('');
    expect(ran.stdout.trim().split('\n')).toEqual(['found 0', 'FileNotFoundError']);
  });

  it('reads --flag value and --flag=value itself and leaves help and unknown options to argparse', () => {
    const { result } = harness('print(1)\n', undefined, ['--item=3', '--executor', 'process', '--deadline=30']);
    expect(result).toMatchObject({ item: 3, executor: 'process', exit_code: 0, stdout: 1 });
    const help = spawnSync('python3', ['-I', '-S', entrypoint, '--help'], { encoding: 'utf8', env: cleanEnv() });
    expect({ status: help.status, usage: help.stdout.startsWith('usage:'), mentions: help.stdout.includes('--result-output-limit') }).toEqual({ status: 0, usage: true, mentions: true });
    const unknown = spawnSync('python3', ['-I', '-S', entrypoint, '--no-such-option'], { encoding: 'utf8', env: cleanEnv() });
    expect({ status: unknown.status, error: unknown.stderr.includes('unrecognized arguments: --no-such-option') }).toEqual({ status: 2, error: true });
  });
});
