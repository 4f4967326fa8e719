/**
 * Specifications the original service accepted are accepted (issue "The original's clients, specs
 * and stores work unchanged", item 2), one describe per point of the item:
 * '@' fields, python.runtime_environment and python.constraints, the empty Python stack, relative
 * file paths and files before the Python install, PEP 508 python_packages, Pipfile.lock entries
 * without hashes or from VCS, CPU model names, and script URLs kept as given.
 * (The harness's choice of interpreter is test/harness/python-scripts.test.ts; real builds are
 * test/container/original-specs.container.test.ts; the stored example re-submitted over HTTP is
 * test/api/original-spec.test.ts.)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPlacement, LABEL_PRESETS, placement, PlacementError } from '../../functions/adapters/kubernetes/manifests/placement.js';
import { CONTEXT_PATHS, generateBuild, INSTALL_PYTHON_SH, type GeneratedBuild } from '../../functions/core/dockerfile.js';
import { SpecificationError } from '../../functions/core/errors.js';
import type { Hwinfo, PipfileLock } from '../../functions/core/generated/types.js';
import { compareHardware } from '../../functions/core/hardware.js';
import { InspectionService, type InspectionDeps } from '../../functions/core/inspections.js';
import { lockToRequirements } from '../../functions/core/pipfile.js';
import type { InspectionRecords } from '../../functions/core/records.js';
import { syntheticResult } from '../../functions/core/results.js';
import { normalizeSpecification, pythonStack, reportedScript, type Specification } from '../../functions/core/specification.js';
import { paths, problemsOf } from '../support/problems.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38');
const storedExample = (): Record<string, unknown> => JSON.parse(readFileSync(join(example, 'build', 'specification'), 'utf8')) as Record<string, unknown>;

const now = new Date('2026-02-03T04:05:06.789Z');
const normalize = (input: unknown): Specification => normalizeSpecification(input, { now, version: 'test' });
const harness = [{ path: 'entrypoint.py', content: 'print(1)\n' }];
const build = (spec: object, scriptText?: string): GeneratedBuild => generateBuild(normalize(spec), harness, scriptText === undefined ? {} : { scriptText });
const h = (c: string): string => `sha256:${c.repeat(64)}`;

const text = (b: GeneratedBuild, path: string): string | undefined => {
  const content = b.context.find((f) => f.path === path)?.content;
  return content === undefined ? undefined : String(content);
};
const instructions = (b: GeneratedBuild): string[] => b.dockerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l));

describe("'@' fields", () => {
  it('accepts the stored example as it is, keeps every annotation the service does not fill, and fills its own anew', () => {
    const stored = { ...storedExample(), '@amun_service_version': '0.7.2', '@thoth.sync': { done: true } };
    const spec = normalize(stored);
    expect(spec['@amun_service_version']).toBe('0.7.2');
    expect(spec['@thoth.sync']).toEqual({ done: true });
    expect(spec['@created']).toBe('2026-02-03T04:05:06.789000');
    expect(spec['@amun_version']).toBe('test');
    expect(spec.script).toBe(storedExample().script);
  });

  it("drops a caller's values for the fields the service fills, whatever their type (a re-submitted stored spec)", () => {
    const spec = normalize({ base: 'fedora:40', '@created': 42, '@amun_version': null, '@script_url': 'https://x', '@script_fetched': { url: 'https://evil', sha256: 'no', bytes: -1 } });
    expect(Object.keys(spec).filter((k) => k.startsWith('@')).sort()).toEqual(['@amun_version', '@created']);
  });

  it('still answers 400 with the JSON Pointer of other unknown fields and of malformed annotation names', () => {
    expect(paths(() => normalize({ base: 'fedora:40', created: 'x', '@': 1, '@ spaced': 1, [`@${'a'.repeat(80)}`]: 1 }))).toEqual([`/@`, '/@ spaced', `/@${'a'.repeat(80)}`, '/created']);
  });
});

describe('python.runtime_environment and python.constraints', () => {
  const python = {
    requirements: { packages: { six: '*' } },
    runtime_environment: { name: 'rhel8', operating_system: { name: 'rhel', version: '8' }, python_version: '3.6', hardware: { cpu_family: 6, cpu_model: 85 }, cuda_version: null },
    constraints: ['numpy<2', "six>=1.15 ; python_version >= '3'", 'setuptools (<70)'],
  };

  it('records runtime_environment with the specification, as given', () => {
    expect(normalize({ base: 'fedora:40', python }).python?.runtime_environment).toEqual(python.runtime_environment);
  });

  it('writes constraints to a file every pip install of the stack reads through PIP_CONSTRAINT', () => {
    const b = build({ base: 'fedora:40', python, python_packages: ['requests'], upgrade_pip: true });
    expect(text(b, CONTEXT_PATHS.constraints)).toBe('numpy<2\nsix>=1.15 ; python_version >= \'3\'\nsetuptools (<70)\n');
    const pipRuns = instructions(b).filter((l) => l.includes('pip') || l.includes('install-python.sh'));
    expect(pipRuns).toEqual([
      'RUN PIP_CONSTRAINT=/opt/amun/build/constraints.txt PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --upgrade pip',
      'RUN PIP_CONSTRAINT=/opt/amun/build/constraints.txt PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r /opt/amun/build/python-packages.txt',
      'RUN PIP_CONSTRAINT=/opt/amun/build/constraints.txt sh /opt/amun/build/python/install-python.sh micropipenv pipfile upgrade-pip',
    ]);
    expect(instructions(b)).toContain('COPY ["amun/build/constraints.txt", "/opt/amun/build/constraints.txt"]');
    // pipenv itself is Amun's tool: the stack's constraints do not decide its version.
    expect(INSTALL_PYTHON_SH).toContain('env -u PIP_CONSTRAINT /opt/amun/pipenv/bin/python3 -m pip install');
  });

  it('refuses constraints pip would not read as one constraint, with the JSON Pointer of each', () => {
    const bad = ['numpy<2 --index-url=http://evil', 'numpy[extra]<2', 'x @ https://example.org/x.whl', 'numpy<2\n-e .', 'numpy<2 ; ${HOME}'];
    expect(paths(() => normalize({ base: 'fedora:40', python: { ...python, constraints: bad } }))).toEqual(bad.map((_, i) => `/python/constraints/${i}`));
  });
});

describe('python: {requirements: {}, requirements_locked: {}}', () => {
  it('means no Python stack, as in the original: no Pipfile, no venv, no install step', () => {
    for (const python of [{ requirements: {}, requirements_locked: {} }, { requirements: {} }]) {
      const spec = normalize({ base: 'fedora:40', python, script: 'print(1)\n' });
      expect(spec.python).toEqual(python); // stored as given
      expect(pythonStack(spec)).toBeUndefined();
      const b = generateBuild(spec, harness);
      expect(b.context.map((f) => f.path).filter((p) => p.startsWith('amun/') && !p.startsWith('amun/harness/'))).toEqual(['amun/build/run-user.sh', 'amun/script']);
      expect(b.dockerfile).not.toContain('install-python.sh');
    }
  });

  it('is not the same as an empty lock beside a Pipfile: that Pipfile is installed without a lock', () => {
    const b = build({ base: 'fedora:40', python: { requirements: { packages: { six: '*' } }, requirements_locked: {} } });
    expect(b.context.map((f) => f.path)).toEqual(expect.arrayContaining(['amun/Pipfile', 'amun/build/python/requirements-pipfile-000.txt']));
    expect(b.context.map((f) => f.path)).not.toContain('amun/Pipfile.lock');
    expect(b.dockerfile).toContain('install-python.sh micropipenv pipfile keep-pip');
  });

  it('still refuses a lock without a default section', () => {
    expect(paths(() => normalize({ base: 'fedora:40', python: { requirements: {}, requirements_locked: { _meta: {} } } }))).toContain('/python/requirements_locked/default');
  });
});

describe('files[].path', () => {
  const spec = {
    base: 'fedora:40',
    python_packages: ['requests'],
    python: { requirements: { packages: { six: '*' } } },
    files: [
      { path: '/etc/pip.conf', content: '[global]\nindex-url = https://mirror.example.org/simple\n' },
      { path: 'data/input.json', content: '{}' },
      { path: '/root/.config/pip/pip.conf', content: '[global]\ntimeout = 60\n' },
    ],
  };

  it('resolves relative paths against the working directory /home/amun', () => {
    const copies = instructions(build(spec)).filter((l) => l.startsWith('COPY ["amun/files/'));
    expect(copies).toEqual(['COPY ["amun/files/0", "/etc/pip.conf"]', 'COPY ["amun/files/1", "/home/amun/data/input.json"]', 'COPY ["amun/files/2", "/root/.config/pip/pip.conf"]']);
  });

  it('places files before the Python install (python_packages and the Pipfile stack), so a pip configuration among them applies', () => {
    const lines = instructions(build(spec));
    const lastFile = Math.max(...lines.map((l, i) => (l.startsWith('COPY ["amun/files/') ? i : -1)));
    const firstPip = lines.findIndex((l) => l.includes('pip install') || l.includes('install-python.sh'));
    expect(lastFile).toBeGreaterThan(0);
    expect(firstPip).toBeGreaterThan(lastFile);
  });

  it("refuses '.' and '..' segments and a file another file needs as a directory, absolute or relative", () => {
    const files = [{ path: '../etc/passwd', content: 'x' }, { path: 'a/./b', content: 'x' }, { path: '/home/amun/conf', content: 'x' }, { path: 'conf/app.ini', content: 'x' }];
    expect(paths(() => normalize({ base: 'fedora:40', files }))).toEqual(['/files/0/path', '/files/1/path']);
    expect(problemsOf(() => build({ base: 'fedora:40', files: files.slice(2) }))).toEqual([{ path: '/files/0/path', message: expect.stringContaining('/files/1/path (conf/app.ini)') }]);
  });
});

describe('python_packages as PEP 508 requirements', () => {
  const accepted = [
    "micropipenv[toml] >= 1.0 ; python_version >= '3.6'",
    'numpy (>=1.19, <2)',
    'amun-hello @ https://example.org/files/amun_hello-1.0.0-py3-none-any.whl',
    'lib[extra] @ git+https://github.com/x/lib.git@v1.0#subdirectory=py ; sys_platform == "linux"',
    'tensorflow==2.2.0; platform_machine == "x86_64"',
  ];

  it('accepts markers and URLs, and writes them to a requirements file, never to a RUN line', () => {
    const b = build({ base: 'fedora:40', python_packages: accepted });
    expect(text(b, CONTEXT_PATHS.pythonPackages)).toBe(accepted.map((r) => `${r}\n`).join(''));
    for (const line of instructions(b).filter((l) => l.startsWith('RUN '))) {
      for (const requirement of accepted) expect(line).not.toContain(requirement.split(/[ [@;(<>=]/)[0]);
    }
  });

  it('refuses what pip would read as more than one requirement, with the JSON Pointer of each', () => {
    const refused = [
      "x ; python_version > '3' --index-url http://evil",
      'x @ https://example.org/a b.whl',
      'x @ https://example.org/${TOKEN}.whl',
      '-e git+https://github.com/x/y.git',
      'x>=1 \\',
      'x ; -r /etc/passwd',
      'x @ file:///etc/passwd',
      'x\u2028y',
    ];
    expect(paths(() => normalize({ base: 'fedora:40', python_packages: refused }))).toEqual(refused.map((_, i) => `/python_packages/${i}`).sort());
  });
});

describe('Pipfile.lock entries without hashes or from VCS', () => {
  const lock: PipfileLock = {
    _meta: { sources: [{ name: 'pypi', url: 'https://pypi.org/simple', verify_ssl: true }] },
    default: {
      six: { version: '==1.15.0', hashes: [h('a')] },
      idna: { version: '==2.10' },
      mylib: { git: 'https://github.com/example/mylib.git', ref: '0123abcd', markers: "python_version >= '3'" },
      devlib: { git: 'ssh://git@github.com/example/devlib.git', ref: 'main', editable: true, subdirectory: 'py' },
      archive: { file: 'https://example.org/archive-1.0.tar.gz', hashes: [h('b')] },
      local: { path: 'tools/local', editable: true },
    },
    develop: {},
  };

  it('install as micropipenv installs them: hash-checked where an entry has hashes, the others with --no-deps only', () => {
    const files = lockToRequirements(lock);
    expect(files.map((f) => f.hashed)).toEqual([true, false]);
    expect(files[0]?.text).toContain(`archive @ https://example.org/archive-1.0.tar.gz \\\n    --hash=${h('b')}\n`);
    expect(files[0]?.text).toContain(`six==1.15.0 \\\n    --hash=${h('a')}\n`);
    expect(files[1]?.text.split('\n').slice(3)).toEqual([
      '-e git+ssh://git@github.com/example/devlib.git@main#egg=devlib&subdirectory=py',
      'idna==2.10',
      '-e tools/local',
      "mylib @ git+https://github.com/example/mylib.git@0123abcd ; python_version >= '3'",
      '',
    ]);
  });

  it('go to files of their own that the install script installs after the hash-pinned ones', () => {
    const b = build({ base: 'fedora:40', python: { requirements: { packages: { six: '*' } }, requirements_locked: lock } });
    expect(b.context.map((f) => f.path).filter((p) => p.includes('requirements-'))).toEqual(['amun/build/python/requirements-lock-000.txt', 'amun/build/python/requirements-nohash-000.txt']);
    const script = INSTALL_PYTHON_SH;
    expect(script.indexOf('for requirements in "$here"/requirements-lock-*.txt')).toBeGreaterThan(0);
    expect(script.indexOf('for requirements in "$here"/requirements-lock-*.txt')).toBeLessThan(script.indexOf('for requirements in "$here"/requirements-nohash-*.txt'));
    expect(script).toContain('"$venv/bin/python3" -m pip install --disable-pip-version-check --no-deps -r "$requirements"');
  });

  it('keep full hash checking when every entry has hashes (no unhashed file at all)', () => {
    const b = build({ base: 'fedora:40', python: { requirements: {}, requirements_locked: { default: { six: { version: '==1.15.0', hashes: [h('a')] } } } } });
    expect(b.context.map((f) => f.path).filter((p) => p.includes('requirements-'))).toEqual(['amun/build/python/requirements-lock-000.txt']);
  });

  it('refuses what micropipenv cannot install and values that could become pip options', () => {
    const bad = {
      default: {
        hg: { hg: 'https://hg.example/x' },
        opt: { git: 'https://github.com/x/y.git', ref: '--upload-pack=evil' },
        up: { path: '../../etc' },
        both: { git: 'https://github.com/x/y.git', path: '.' },
        stray: { version: '==1', ref: 'main' },
      },
    } as unknown as PipfileLock;
    expect(paths(() => lockToRequirements(bad))).toEqual([
      '/python/requirements_locked/default/both/path',
      '/python/requirements_locked/default/hg/hg',
      '/python/requirements_locked/default/opt/ref',
      '/python/requirements_locked/default/stray/ref',
      '/python/requirements_locked/default/up/path',
    ]);
  });
});

describe('hardware.processor as the original wrote it', () => {
  const processor = 'Intel Xeon Processor (Skylake, IBRS)';
  const spec = (): Specification => normalize({ base: 'fedora:40', build: { requests: { hardware: { processor } } }, run: { requests: { hardware: { cpu_family: 6, cpu_model: 85, processor } } } });

  it('is accepted with spaces and parentheses', () => {
    expect(spec().run?.requests?.hardware?.processor).toBe(processor);
    expect(paths(() => normalize({ base: 'fedora:40', run: { requests: { hardware: { processor: 'Intel\nXeon' } } } }))).toEqual(['/run/requests/hardware/processor']);
  });

  it("is compared by local executors with the node's model name (the stored example's hwinfo)", () => {
    const hwinfo = JSON.parse(readFileSync(join(example, 'results', '0', 'hwinfo'), 'utf8')) as Hwinfo;
    expect(compareHardware(spec().run?.requests, hwinfo)).toEqual({ match: true, mismatches: [] });
    expect(compareHardware({ hardware: { processor: 'AMD EPYC 7R13 Processor' } }, hwinfo).match).toBe(false);
  });

  it('is placed by the amun preset as the label form the original nodes carry', () => {
    expect(placement(spec().run?.requests, LABEL_PRESETS.amun, '/run/requests').nodeAffinity).toContainEqual({ key: 'processor', operator: 'In', values: ['Intel-Xeon-Processor-Skylake-IBRS'] });
    expect(() => checkPlacement(spec(), LABEL_PRESETS.amun)).not.toThrow();
  });

  it('is refused at submit by presets that cannot place a model name: 400 naming the field and the preset, nothing stored', async () => {
    for (const preset of ['nfd', 'karpenter'] as const) {
      const error = (() => {
        try {
          checkPlacement(normalize({ base: 'fedora:40', build: { requests: { hardware: { processor } } }, run: { requests: { hardware: { processor } } } }), LABEL_PRESETS[preset]);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(PlacementError);
      expect(error).toBeInstanceOf(SpecificationError);
      const problems = (error as PlacementError).problems;
      expect(problems.map((p) => p.path)).toEqual(['/build/requests/hardware/processor', '/run/requests/hardware/processor']);
      for (const p of problems) expect(p.message).toContain(`preset ${preset}`);
    }
    const { service, created, sent } = fakeService({ admit: (s) => checkPlacement(s, LABEL_PRESETS.nfd) });
    await expect(service.submit({ base: 'fedora:40', run: { requests: { hardware: { processor } } } })).rejects.toBeInstanceOf(SpecificationError);
    expect(created).toEqual([]);
    expect(sent).toEqual([]);
  });
});

describe('script URLs', () => {
  const url = 'https://raw.githubusercontent.com/thoth-station/performance/master/tensorflow/conv2d.py';
  const fetched = 'import json\nprint(json.dumps({"conv2d": "é"}))\n';

  it('stay URLs in the stored specification; what was fetched is recorded beside it, its text in the build context', async () => {
    const { service, created } = fakeService({ fetchScript: async (u) => (u === url ? fetched : Promise.reject(new Error('unexpected'))) });
    const submitted = await service.submit({ base: 'fedora:40', script: url });
    const stored = created[0]!;
    expect(stored.specification.script).toBe(url);
    expect(stored.specification['@script_fetched']).toEqual({ url, sha256: createHash('sha256').update(fetched).digest('hex'), bytes: Buffer.byteLength(fetched) });
    expect(submitted.specification).toEqual(stored.specification);
    expect(String(stored.context.find((f) => f.path === CONTEXT_PATHS.script)?.content)).toBe(fetched);
    expect(JSON.stringify(stored.specification)).not.toContain('conv2d": ');
  });

  it('give failure reports the sha256 of what was fetched, as the harness reports it', () => {
    const spec = { script: url, '@script_fetched': { url, sha256: 'f'.repeat(64), bytes: 3 } };
    expect(reportedScript(spec)).toEqual({ sha256: 'f'.repeat(64) });
    expect(reportedScript({ script: 'print(1)' })).toBe('print(1)');
    const report = syntheticResult({ inspectionId: 'inspection-x', item: 0, executor: 'process', reason: 'harness_error', message: 'm', script: reportedScript(spec), startedAt: now, finishedAt: now });
    expect(report.script_sha256).toBe('f'.repeat(64));
  });

  it("never take the build's script from a caller's '@script_fetched'", async () => {
    const { service, created } = fakeService({});
    await service.submit({ base: 'fedora:40', script: 'print("inline")\n', '@script_fetched': { url, sha256: 'a'.repeat(64), bytes: 1 } });
    expect(created[0]!.specification['@script_fetched']).toBeUndefined();
    expect(String(created[0]!.context.find((f) => f.path === CONTEXT_PATHS.script)?.content)).toBe('print("inline")\n');
  });
});

interface Created {
  specification: Specification;
  context: GeneratedBuild['context'];
}

/** An InspectionService over in-memory records and queue: what submit stores and sends. */
function fakeService(deps: Partial<InspectionDeps>): { service: InspectionService; created: Created[]; sent: unknown[] } {
  const created: Created[] = [];
  const sent: unknown[] = [];
  const records = {
    exists: async () => false,
    create: async (_id: string, value: Created) => {
      created.push(value);
      return true;
    },
  } as unknown as InspectionRecords;
  const service = new InspectionService({
    records,
    workQueue: { send: async (message: unknown) => void sent.push(message) } as unknown as InspectionDeps['workQueue'],
    clock: { now: () => now },
    version: 'test',
    isScriptUrl: (s) => /^https?:\/\//.test(s.trim()),
    ...deps,
  });
  return { service, created, sent };
}

