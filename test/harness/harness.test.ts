/**
 * The run harness (functions/harness/*.py) as the executors run it: a real `python3 -I -S` child
 * process (HARNESS_COMMAND) writing into a temporary output directory; under each Python 3.6 and
 * later this machine has, started both so and as a plain `python3` (the process executor's way).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validators, toProblems } from '../../functions/core/validation.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entrypoint = join(repoRoot, 'functions', 'harness', 'entrypoint.py');
/** How the container and Kubernetes executors start the harness (HARNESS_COMMAND): no site, no PYTHON* variables. */
const LEAN = ['-I', '-S'];
const hwinfoScript = join(repoRoot, 'functions', 'harness', 'hwinfo.py');
const fixtureDir = join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38', 'results', '0');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a command to its end; never rejects on a non-zero exit. */
function runCommand(argv: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<Ran> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(base)) {
    if (name.startsWith('AMUN_') || name === 'JOB_COMPLETION_INDEX') delete base[name];
  }
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'amun-harness-test-'));
  temps.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

interface Harnessed extends Ran {
  dir: string;
  output: string;
  script: string;
  result: JsonObject;
}

/** Writes `content` as the script and runs the harness on it with `--venv` pointing nowhere unless given. */
async function harness(content: string | null, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Harnessed> {
  const dir = tempDir();
  const script = join(dir, 'script');
  const output = join(dir, 'output');
  if (content !== null) writeFileSync(script, content, { mode: 0o644 });
  const argv = ['python3', ...LEAN, entrypoint, '--script', script, '--output', output];
  if (!args.includes('--venv')) argv.push('--venv', join(dir, 'no-venv'));
  const ran = await runCommand([...argv, ...args], env);
  const resultPath = join(output, 'result');
  if (!existsSync(resultPath)) throw new Error(`no result (exit ${ran.code}): ${ran.stderr}`);
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as JsonObject;
  return { ...ran, dir, output, script, result };
}

function expectValidResult(result: unknown): void {
  const ok = validators.result(result);
  expect(toProblems(validators.result.errors)).toEqual([]);
  expect(ok).toBe(true);
}

const usage = (result: JsonObject): Record<string, number> => result.usage as Record<string, number>;

/**
 * A Python snippet that burns `seconds` of user CPU (counted as CPU, not wall time, so that a busy
 * machine stretches it instead of shrinking it; the clock read rarely, so little system time).
 */
const burn = (seconds: number): string =>
  `import os\nx = 0\nwhile os.times().user < ${seconds}:\n    for i in range(100000):\n        x += i\n`;

describe('entrypoint.py', () => {
  it('runs a Python script, parses its JSON stdout, measures it and writes valid result, hwinfo and log', async () => {
    const content = `${burn(0.3)}import json, sys\nprint(json.dumps({"answer": 42, "name": "probe"}))\n`;
    const run = await harness(content, ['--inspection-id', 'inspection-test-1234', '--item', '2', '--executor', 'process']);
    expect(run.code).toBe(0);
    const { result } = run;
    expectValidResult(result);
    expect(result.exit_code).toBe(0);
    expect(result.reason).toBeNull();
    expect(result.stdout).toEqual({ answer: 42, name: 'probe' });
    expect(usage(result).ru_utime).toBeGreaterThan(0);
    expect(result.wall_time).toBeGreaterThanOrEqual(0.3);
    expect(result.executor).toBe('process');
    expect(result.inspection_id).toBe('inspection-test-1234');
    expect(result.item).toBe(2);
    expect(result.script_sha256).toBe(createHash('sha256').update(readFileSync(run.script)).digest('hex'));
    expect(Date.parse(result.finished_at as string)).toBeGreaterThanOrEqual(Date.parse(result.started_at as string));
    expect(result.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    // The original's later fields: the script's start and end, zone-less UTC, the same instants.
    const fields = result as unknown as Record<string, string>;
    for (const [original, ours] of [['start_datetime', 'started_at'], ['end_datetime', 'finished_at']] as const) {
      expect(fields[original]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
      expect(Math.abs(Date.parse(`${fields[original]}Z`) - Date.parse(fields[ours] ?? ''))).toBeLessThanOrEqual(1);
    }

    const hwinfo = JSON.parse(readFileSync(join(run.output, 'hwinfo'), 'utf8')) as unknown;
    expect(validators.hwinfo(hwinfo)).toBe(true);
    expect(hwinfo).toEqual(result.hwinfo);
    expect(readFileSync(join(run.output, 'log'), 'utf8')).toContain('"answer": 42');
    // result is renamed into place: no temporary files are left beside it
    expect(readdirSync(run.output).sort()).toEqual(['hwinfo', 'log', 'result']);
    // the original's formatting: sorted keys, two-space indent
    const topKeys = [...readFileSync(join(run.output, 'result'), 'utf8').matchAll(/^ {2}"([^"]+)":/gm)].map((m) => m[1]);
    expect(topKeys).toEqual(Object.keys(result).sort());
  });

  it("keeps every key of the original's result with the same JSON type", async () => {
    const fixture = JSON.parse(readFileSync(join(fixtureDir, 'result'), 'utf8')) as JsonObject;
    const fixtureHwinfo = JSON.parse(readFileSync(join(fixtureDir, 'hwinfo'), 'utf8')) as JsonObject;
    const run = await harness(`import json\nprint(json.dumps({"name": "PiConv2D", "@result": {"rate": 1.5}}))\n`);
    expectValidResult(run.result);

    // Values the original had but some nodes cannot tell (no CUDA, no cpufreq, no cache sysfs) may be null.
    const mayBeNull = new Set(['runtime_environment.cuda_version']);
    const problems = [
      ...compareTypes(fixture, run.result, '', mayBeNull, ['usage', 'runtime_environment']),
      ...compareHwinfo(fixture.hwinfo as JsonObject, run.result.hwinfo as JsonObject, 'hwinfo'),
      ...compareHwinfo(fixtureHwinfo, JSON.parse(readFileSync(join(run.output, 'hwinfo'), 'utf8')) as JsonObject, 'hwinfo-file'),
    ];
    expect(problems).toEqual([]);
    // the same hardware keys, no fewer: cpu_type in particular is a fixed set of predicates
    for (const section of ['cpu_info', 'cpu_features', 'cpu_type', 'platform']) {
      const ours = Object.keys((run.result.hwinfo as JsonObject)[section] as JsonObject);
      expect(ours).toEqual(expect.arrayContaining(Object.keys(fixtureHwinfo[section] as JsonObject)));
    }
    expect(Object.keys((run.result.hwinfo as JsonObject).cpu_type as JsonObject).sort())
      .toEqual(Object.keys(fixtureHwinfo.cpu_type as JsonObject).sort());
    // runtime_environment is derived from os_release and hwinfo as the original derived it
    const runtime = run.result.runtime_environment as JsonObject;
    const osRelease = run.result.os_release as JsonObject | null;
    if (existsSync('/etc/os-release')) {
      expect(osRelease).not.toBeNull();
      for (const [key, value] of Object.entries(osRelease ?? {})) {
        expect(key).toBe(key.toLowerCase());
        expect(value).not.toMatch(/^["']|["']$/);
      }
    }
    if (osRelease) expect(runtime.operating_system).toEqual({ name: osRelease.id ?? null, version: osRelease.version_id ?? null });
    const cpuInfo = (run.result.hwinfo as JsonObject).cpu_info as JsonObject;
    expect(runtime.hardware).toEqual({ cpu_family: cpuInfo.family, cpu_model: cpuInfo.model });
    expect(runtime.python_version).toMatch(/^3\.\d+$/);
  });

  it('keeps non-JSON stdout as text, gives {} for empty stdout, captures stderr and the exit code', async () => {
    const text = await harness(`import sys\nprint("hello, not json")\nsys.stderr.write("warning: here\\n")\n`);
    expect(text.result.stdout).toBe('hello, not json\n');
    expect(text.result.stderr).toBe('warning: here\n');
    expect(readFileSync(join(text.output, 'log'), 'utf8')).toBe('hello, not json\nwarning: here\n');
    expectValidResult(text.result);

    const empty = await harness(`pass\n`);
    expect(empty.result.stdout).toEqual({});
    expect(empty.result.stderr).toBe('');

    // NaN parses in Python but would make the report invalid JSON: it stays text
    const nan = await harness(`print("NaN")\n`);
    expect(nan.result.stdout).toBe('NaN\n');

    const failing = await harness(`import sys\nprint("[1, 2]")\nsys.stderr.write("bad\\n")\nsys.exit(3)\n`);
    expect(failing.code).toBe(0);
    expect(failing.result.exit_code).toBe(3);
    expect(failing.result.reason).toBeNull();
    expect(failing.result.stdout).toEqual([1, 2]);
    expect(failing.result.stderr).toBe('bad\n');
    expectValidResult(failing.result);
  });

  it("counts the CPU time of the script's children", async () => {
    const content = `import subprocess, sys\nsubprocess.run([sys.executable, "-c", ${JSON.stringify(burn(0.4))}], check=True)\nprint("{}")\n`;
    const run = await harness(content);
    expect(run.result.exit_code).toBe(0);
    expect(usage(run.result).ru_utime).toBeGreaterThanOrEqual(0.2);
  });

  it('runs a script with a #! line directly, making it executable', async () => {
    const run = await harness(`#!/bin/bash\necho "bash $BASH_VERSION in $(pwd)"\necho "to stderr" >&2\nexit 0\n`);
    expect(run.result.exit_code).toBe(0);
    // Python would have failed on this text: bash ran it, in the script's directory
    expect(run.result.stdout).toMatch(new RegExp(`^bash \\d+\\.\\S+ in ${escapeRegExp(run.dir)}\\n$`));
    expect(run.result.stderr).toBe('to stderr\n');
    expect(statSync(run.script).mode & 0o100).toBe(0o100);
    expectValidResult(run.result);
  });

  it('runs the script in --workdir when given', async () => {
    const workdir = tempDir();
    const run = await harness(`import os\nprint(os.getcwd())\n`, ['--workdir', workdir]);
    expect(run.result.stdout).toBe(`${workdir}\n`);
  });

  it('terminates a script that passes its deadline, with its whole process group', async () => {
    const pidFile = join(tempDir(), 'pid');
    const run = await harness(`#!/bin/bash\nsleep 300 &\necho $! > ${pidFile}\nsleep 300\n`, ['--deadline', '1']);
    expect(run.code).toBe(0);
    expect(run.result.reason).toBe('deadline');
    // SIGTERM ended it, at the deadline: not before it, and long before its 300 s were up
    expect(run.result.exit_code).toBe(-15);
    expect(run.result.message).toMatch(/deadline/);
    expect(run.result.wall_time).toBeGreaterThanOrEqual(1);
    expect(run.result.wall_time).toBeLessThan(30);
    expectValidResult(run.result);
    // the background child went with the script
    expect(isAlive(Number(readFileSync(pidFile, 'utf8').trim()))).toBe(false);
  });

  it('kills a script that ignores SIGTERM 5 s after the deadline', async () => {
    // The shell ignores SIGTERM within milliseconds of its start (and its sleep inherits that), long
    // before the deadline however busy the machine.
    const content = `#!/bin/sh\ntrap '' TERM\nsleep 300\n`;
    const run = await harness(content, [], { AMUN_DEADLINE_SECONDS: '1.5' });
    expect(run.result.reason).toBe('deadline');
    expect(run.result.exit_code).toBe(-9);
    expect(run.result.message).toMatch(/SIGKILL/);
    // the 1.5 s deadline and the 5 s grace went by first; SIGKILL came long before the 300 s were up
    expect(run.result.wall_time).toBeGreaterThanOrEqual(6.5);
    expect(run.result.wall_time).toBeLessThan(30);
  });

  it('reports a missing script as a harness error in a valid result', async () => {
    const run = await harness(null, ['--inspection-id', 'inspection-missing-0001']);
    expect(run.code).toBe(0);
    expectValidResult(run.result);
    expect(run.result.reason).toBe('harness_error');
    expect(run.result.exit_code).toBeNull();
    expect(run.result.message).toContain(run.script);
    expect(run.result.inspection_id).toBe('inspection-missing-0001');
    expect(validators.hwinfo(run.result.hwinfo)).toBe(true);
  });

  it('reports an interpreter that does not exist as a harness error', async () => {
    const run = await harness(`#!/nonexistent/interpreter\nprint(1)\n`);
    expect(run.code).toBe(0);
    expectValidResult(run.result);
    expect(run.result.reason).toBe('harness_error');
    expect(run.result.exit_code).toBeNull();
  });

  it('exits non-zero only when it cannot write a result at all', async () => {
    const dir = tempDir();
    const blocker = join(dir, 'file');
    writeFileSync(blocker, '');
    const ran = await runCommand(['python3', ...LEAN, entrypoint, '--script', join(dir, 'script'), '--output', join(blocker, 'output')]);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toContain('output');
  });

  it('runs the script with the python of --venv', async () => {
    const dir = tempDir();
    const venv = join(dir, 'venv');
    const made = await runCommand(['python3', '-m', 'venv', '--without-pip', venv]);
    expect(made.code).toBe(0);
    const content = `import json, os, sys\nprint(json.dumps({"executable": sys.executable, "prefix": sys.prefix, "virtual_env": os.environ.get("VIRTUAL_ENV")}))\n`;
    const run = await harness(content, ['--venv', venv]);
    const stdout = run.result.stdout as JsonObject;
    expect(stdout.executable).toBe(join(venv, 'bin', 'python3'));
    expect(stdout.prefix).toBe(venv);
    expect(stdout.virtual_env).toBe(venv);
    const version = await runCommand([join(venv, 'bin', 'python3'), '-c', 'import sys; print("%d.%d" % sys.version_info[:2])']);
    expect((run.result.runtime_environment as JsonObject).python_version).toBe(version.stdout.trim());
  });

  it('takes its options from the environment when no flags are given', async () => {
    const dir = tempDir();
    const script = join(dir, 'script');
    writeFileSync(script, 'print(\'{"from": "env"}\')\n');
    const output = join(dir, 'out');
    const ran = await runCommand(['python3', ...LEAN, entrypoint], {
      AMUN_SCRIPT: script,
      AMUN_OUTPUT_DIR: output,
      JOB_COMPLETION_INDEX: '4',
      AMUN_EXECUTOR_KIND: 'kubernetes',
      AMUN_INSPECTION_ID: 'inspection-env-0001',
      AMUN_VENV: join(dir, 'no-venv'),
    });
    expect(ran.code).toBe(0);
    const result = JSON.parse(readFileSync(join(output, 'result'), 'utf8')) as JsonObject;
    expectValidResult(result);
    expect(result).toMatchObject({ stdout: { from: 'env' }, item: 4, executor: 'kubernetes', inspection_id: 'inspection-env-0001' });
  });
});

/** The Python interpreters 3.6 to 3.13 this machine has (pyenv's included), else just python3. */
function interpreters(): string[] {
  const found: string[] = [];
  const pyenv = join(process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv'), 'versions');
  for (let minor = 6; minor <= 13; minor++) {
    const onPath = (process.env.PATH ?? '').split(':').map((d) => join(d, `python3.${minor}`)).find((p) => existsSync(p) && !p.includes('shims'));
    let inPyenv: string | undefined;
    try {
      inPyenv = readdirSync(pyenv).filter((v) => v.startsWith(`3.${minor}.`)).map((v) => join(pyenv, v, 'bin', 'python3')).find((p) => existsSync(p));
    } catch { /* no pyenv */ }
    const python = onPath ?? inPyenv;
    if (python) found.push(python);
  }
  return found.length > 0 ? found : ['python3'];
}

describe.each(interpreters().flatMap((python) => [[python, ''], [python, LEAN.join(' ')]]))('under %s %s', (python, flags) => {
  it('runs a script and writes a valid result and hwinfo', async () => {
    const dir = tempDir();
    const script = join(dir, 'script');
    writeFileSync(script, 'import json, sys\nprint(json.dumps({"v": list(sys.version_info[:2])}))\nsys.exit(5)\n');
    const output = join(dir, 'out');
    const ran = await runCommand([python, ...flags.split(' ').filter(Boolean), entrypoint, '--script', script, '--output', output, '--venv', join(dir, 'none'), '--deadline', '30']);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    const result = JSON.parse(readFileSync(join(output, 'result'), 'utf8')) as JsonObject;
    expectValidResult(result);
    expect(result.exit_code).toBe(5);
    const [major, minor] = (result.stdout as { v: number[] }).v;
    expect((result.runtime_environment as JsonObject).python_version).toBe(`${major}.${minor}`);
    expect(validators.hwinfo(JSON.parse(readFileSync(join(output, 'hwinfo'), 'utf8')))).toBe(true);
  });
});

describe('hwinfo.py', () => {
  it('prints a hwinfo document that validates', async () => {
    const ran = await runCommand(['python3', hwinfoScript]);
    expect(ran.code).toBe(0);
    const hwinfo = JSON.parse(ran.stdout) as JsonObject;
    const ok = validators.hwinfo(hwinfo);
    expect(toProblems(validators.hwinfo.errors)).toEqual([]);
    expect(ok).toBe(true);
    const cpuInfo = hwinfo.cpu_info as JsonObject;
    expect(cpuInfo.count).toBeGreaterThanOrEqual(1);
    const flags = (hwinfo.cpu_features as JsonObject).flags as string[];
    expect([...flags].sort()).toEqual(flags);
    if (process.arch === 'x64') {
      expect(cpuInfo.arch).toBe('X86_64');
      expect(cpuInfo.bits).toBe(64);
      expect(flags.length).toBeGreaterThan(0);
      expect(flags).toContain('sse2');
      expect((hwinfo.cpu_type as JsonObject).has_sse2).toBe(true);
    }
    const memory = hwinfo.memory as JsonObject;
    expect(memory.total_bytes).toBeGreaterThan(0);
  });

  it('lists GPUs from nvidia-smi and takes the CUDA version from its header', async () => {
    const bin = tempDir();
    writeFileSync(join(bin, 'nvidia-smi'), fakeNvidiaSmi(true));
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const ran = await runCommand(['python3', hwinfoScript], env);
    const hwinfo = JSON.parse(ran.stdout) as JsonObject;
    expect(validators.hwinfo(hwinfo)).toBe(true);
    expect(hwinfo.gpus).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-aaaa', memory_total_mib: 81559, driver_version: '550.54.15', cuda_version: '12.4', compute_capability: '9.0' },
      { index: 1, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-bbbb', memory_total_mib: null, driver_version: '550.54.15', cuda_version: '12.4', compute_capability: '9.0' },
    ]);
    // the result's runtime_environment takes the same CUDA version
    const run = await harness(`print("{}")\n`, [], env);
    expect((run.result.runtime_environment as JsonObject).cuda_version).toBe('12.4');
    expectValidResult(run.result);

    // drivers that do not know compute_cap: asked again without it
    writeFileSync(join(bin, 'nvidia-smi'), fakeNvidiaSmi(false));
    const old = JSON.parse((await runCommand(['python3', hwinfoScript], env)).stdout) as JsonObject;
    expect(old.gpus).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-aaaa', memory_total_mib: 81559, driver_version: '550.54.15', cuda_version: '12.4', compute_capability: null },
      { index: 1, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-bbbb', memory_total_mib: null, driver_version: '550.54.15', cuda_version: '12.4', compute_capability: null },
    ]);
  });
});

function fakeNvidiaSmi(knowsComputeCap: boolean): string {
  return `#!/bin/sh
case "$1" in
  --query-gpu=*compute_cap*)
    ${knowsComputeCap ? '' : 'echo \'Field "compute_cap" is not a valid field to query.\' >&2; exit 2'}
    echo "0, NVIDIA H100 80GB HBM3, GPU-aaaa, 81559, 550.54.15, 9.0"
    echo "1, NVIDIA H100 80GB HBM3, GPU-bbbb, [N/A], 550.54.15, 9.0" ;;
  --query-gpu=*)
    echo "0, NVIDIA H100 80GB HBM3, GPU-aaaa, 81559, 550.54.15"
    echo "1, NVIDIA H100 80GB HBM3, GPU-bbbb, [N/A], 550.54.15" ;;
  *)
    echo "+-----------------------------------------------------------------------------------------+"
    echo "| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |"
    echo "+-----------------------------------------------------------------------------------------+" ;;
esac
`;
}

function jsonType(value: Json | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Problems where `ours` lacks a key of `theirs` or holds another JSON type there. Objects named in
 * `recurse` (and all objects below them) are compared key by key; `mayBeNull` lists dotted paths where
 * one side may be null while the other has a value.
 */
function compareTypes(theirs: JsonObject, ours: JsonObject, prefix: string, mayBeNull: Set<string>, recurse: string[] | 'all'): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(theirs)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const mine = ours[key];
    const [a, b] = [jsonType(value), jsonType(mine)];
    if (a !== b && !(mayBeNull.has(path) && b !== 'missing' && (a === 'null' || b === 'null'))) {
      problems.push(`${path}: original ${a}, ours ${b}`);
      continue;
    }
    if (a === 'object' && b === 'object' && (recurse === 'all' || recurse.includes(key))) {
      problems.push(...compareTypes(value as JsonObject, mine as JsonObject, path, mayBeNull, 'all'));
    }
    if (a === 'array' && b === 'array') {
      const kinds = new Set([...(value as Json[]), ...(mine as Json[])].map((v) => jsonType(v)));
      if (kinds.size > 1) problems.push(`${path}: mixed item types ${[...kinds].join(', ')}`);
    }
  }
  return problems;
}

/**
 * hwinfo: the four original sections must be objects with every original key; a nested value may be
 * null only where this node cannot know it (no cpufreq, no cache sysfs, no brand), never of another type.
 */
function compareHwinfo(theirs: JsonObject, ours: JsonObject, prefix: string): string[] {
  const optional = new Set<string>();
  for (const section of ['cpu_info', 'cpu_features', 'cpu_type']) {
    for (const key of Object.keys((theirs[section] ?? {}) as JsonObject)) optional.add(`${prefix}.${section}.${key}`);
  }
  for (const strict of ['arch', 'arch_string_raw', 'bits', 'count', 'cpuinfo_version', 'cpuinfo_version_string']) {
    optional.delete(`${prefix}.cpu_info.${strict}`);
  }
  optional.delete(`${prefix}.cpu_features.flags`);
  for (const key of ['nbits', 'is_32bit', 'is_64bit']) optional.delete(`${prefix}.cpu_type.${key}`);
  // on this node (x86 Linux with /proc/cpuinfo and cache sysfs) everything the original had is known
  if (process.arch === 'x64' && process.platform === 'linux') optional.clear();
  const top = Object.fromEntries(['cpu_info', 'cpu_features', 'cpu_type', 'platform'].map((k) => [k, theirs[k] ?? null]));
  return compareTypes(top, ours, prefix, optional, 'all');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Running and not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

describe('a run cut short by SIGTERM (a drained, preempted or evicted pod)', () => {
  /** Starts the harness on a script that prints, then sleeps; sends the harness SIGTERM once the script runs. */
  async function interrupted(env: NodeJS.ProcessEnv): Promise<Ran & { output: string }> {
    const dir = tempDir();
    const script = join(dir, 'script');
    const output = join(dir, 'output');
    const marker = join(dir, 'running');
    writeFileSync(script, `import time\nprint("started", flush=True)\nopen(${JSON.stringify(marker)}, "w").close()\ntime.sleep(300)\n`);
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(base)) if (name.startsWith('AMUN_')) delete base[name];
    const started = Date.now();
    const child = spawn('python3', [...LEAN, entrypoint, '--script', script, '--output', output, '--venv', join(dir, 'no-venv')], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    for (let waited = 0; !existsSync(marker) && waited < 30_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(marker)).toBe(true);
    child.kill('SIGTERM');
    const code = await closed;
    return { code, stdout: '', stderr, seconds: (Date.now() - started) / 1000, output };
  }

  it('with AMUN_INTERRUPTED_EXIT_CODE: no result (the run is to run again), the log kept, that exit code', async () => {
    const ran = await interrupted({ AMUN_INTERRUPTED_EXIT_CODE: '143' });
    expect(ran.code).toBe(143);
    expect(ran.seconds).toBeLessThan(60);
    expect(existsSync(join(ran.output, 'result'))).toBe(false);
    expect(readFileSync(join(ran.output, 'log'), 'utf8')).toContain('started');
    expect(ran.stderr).toMatch(/cut short by SIGTERM; no result is recorded/);
  });

  it('without it (container and process executors): the result says the signal was passed on, exit 0', async () => {
    const ran = await interrupted({});
    expect(ran.code).toBe(0);
    const result = JSON.parse(readFileSync(join(ran.output, 'result'), 'utf8')) as JsonObject;
    expectValidResult(result);
    expect(result.message).toMatch(/received signal 15/);
  });
});
