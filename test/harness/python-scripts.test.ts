/**
 * A Python script runs with the stack's interpreter whatever its '#!' line names (python, python3,
 * python3.X, by path or through env, or no '#!' line at all), as the original's inspect.py ran
 * every script with the venv's python3: `#!/usr/bin/python3` must not skip the venv. Scripts in
 * other languages still run through their own '#!' line. Real harness runs against a real venv.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const harnessDir = join(repoRoot, 'functions', 'harness');
const entrypoint = join(harnessDir, 'entrypoint.py');

let dir = '';
let venv = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'amun-python-scripts-'));
  venv = join(dir, 'venv');
  // No pip needed: the venv only has to be a different interpreter prefix.
  const made = spawnSync('python3', ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`python3 -m venv failed: ${made.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the harness on `content` with the venv, as the container executor starts it (`python3 -I
 * -S`: the harness skips site and the PYTHON* variables; the script must not); returns its report
 * and what the script printed.
 */
function runScript(name: string, content: string, extraEnv: NodeJS.ProcessEnv = {}): { result: Record<string, unknown>; stdout: unknown } {
  const script = join(dir, `${name}.script`);
  const output = join(dir, `${name}.out`);
  writeFileSync(script, content, { mode: 0o644 });
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  for (const key of Object.keys(env)) if (key.startsWith('AMUN_')) delete env[key];
  const ran = spawnSync('python3', ['-I', '-S', entrypoint, '--script', script, '--output', output, '--venv', venv, '--workdir', dir], { encoding: 'utf8', env });
  const resultPath = join(output, 'result');
  if (!existsSync(resultPath)) throw new Error(`no result (exit ${ran.status}): ${ran.stderr}`);
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as Record<string, unknown>;
  return { result, stdout: result.stdout };
}

const PRINT_PREFIX = 'import json, sys\nprint(json.dumps({"prefix": sys.prefix, "optimize": sys.flags.optimize}))\n';

describe('a Python script runs with the stack interpreter (the venv)', () => {
  it.each([
    ['an absolute python3', '#!/usr/bin/python3\n'],
    ['python3 through env', '#!/usr/bin/env python3\n'],
    ['python through env -S', '#!/usr/bin/env -S python\n'],
    ['a versioned python3.X that may not even exist', '#!/opt/nowhere/bin/python3.99\n'],
    ['plain python', '#!/usr/bin/python\n'],
    ['a CRLF line', '#!/usr/bin/python3\r\n'],
    ['no #! line', ''],
  ])('%s', (_name, shebang) => {
    const { result, stdout } = runScript(`py-${_name.replace(/\W+/g, '-')}`, `${shebang}${PRINT_PREFIX}`);
    expect({ exit_code: result.exit_code, reason: result.reason, stderr: result.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
    expect(realpathSync((stdout as { prefix: string }).prefix)).toBe(realpathSync(venv));
  });

  it("keeps the options of the '#!' line", () => {
    const { stdout } = runScript('py-options', `#!/usr/bin/python3 -O\n${PRINT_PREFIX}`);
    expect(stdout).toEqual({ prefix: expect.any(String), optimize: 1 });
    expect(realpathSync((stdout as { prefix: string }).prefix)).toBe(realpathSync(venv));
  });
});

describe('the script keeps what the harness skips', () => {
  it('runs with its site, its user site and the PYTHON* variables of the environment', () => {
    const extra = join(dir, 'pythonpath');
    mkdirSync(extra, { recursive: true });
    writeFileSync(join(extra, 'amun_marker.py'), 'WHERE = "pythonpath"\n');
    const { result, stdout } = runScript(
      'site',
      'import json, sys, amun_marker\nprint(json.dumps({"marker": amun_marker.WHERE, "no_site": sys.flags.no_site, "isolated": sys.flags.isolated, "ignore_environment": sys.flags.ignore_environment, "site": "site" in sys.modules, "prefix": sys.prefix}))\n',
      { PYTHONPATH: extra },
    );
    expect(result).toMatchObject({ exit_code: 0 });
    expect(stdout).toEqual({ marker: 'pythonpath', no_site: 0, isolated: 0, ignore_environment: 0, site: true, prefix: expect.any(String) });
    expect(realpathSync((stdout as { prefix: string }).prefix)).toBe(realpathSync(venv));
  });
});

describe('other scripts keep their own interpreter', () => {
  it('runs a shell script through its #! line, with the venv first on PATH', () => {
    const { result, stdout } = runScript('sh', '#!/bin/sh\nprintf \'{"shell": "%s", "python": "%s"}\\n\' "$0" "$(command -v python3)"\n');
    expect(result).toMatchObject({ exit_code: 0 });
    expect((stdout as { python: string }).python).toBe(join(venv, 'bin', 'python3'));
  });

  it('does not take python2 or a name that merely starts with python for the stack interpreter', () => {
    const check = spawnSync(
      'python3',
      [
        '-c',
        [
          'import sys; sys.path.insert(0, sys.argv[1]); import runner as e',
          'lines = [b"#!/usr/bin/python2", b"#!/usr/bin/pythonista", b"#!/usr/bin/env perl", b"#!/usr/bin/env FOO=1 python3", b"#!/usr/bin/python3.11", b"#!/usr/bin/env -S python3 -X dev"]',
          'print([e._python_shebang(l) for l in lines])',
        ].join('\n'),
        harnessDir,
      ],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    expect(check.stdout.trim()).toBe("[None, None, None, None, [], ['-X', 'dev']]");
  });
});
