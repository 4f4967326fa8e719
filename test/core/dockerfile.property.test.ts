/**
 * Property test of the Dockerfile generator: hostile strings (quotes, newlines, backslashes,
 * command substitutions, NUL, lone surrogates, RTL marks, emoji, very long strings) in every
 * string field of a specification. For each generated spec, either it is refused (by the schema,
 * or by generateBuild with a SpecificationError), or the Dockerfile parsed back with dockerfile-ast
 * has exactly the instruction sequence expected from the spec (computed here, independently of the
 * generator), every instruction on one line, env values round-tripping, and every piece of user
 * content byte-identical in the build context.
 *
 * The generator is also held to that on its own: specs the schema refuses are given to it too,
 * and it must still either refuse them or produce a Dockerfile of the expected shape.
 */
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import fc from 'fast-check';
import { parse as parseToml } from 'smol-toml';
import { generateBuild, type GeneratedBuild } from '../../functions/core/dockerfile.js';
import { SpecificationError } from '../../functions/core/errors.js';
import type { InspectionSpecification } from '../../functions/core/generated/types.js';
import { validators } from '../../functions/core/validation.js';

const HARNESS = [
  { path: 'entrypoint.py', content: 'print(1)\n' },
  { path: 'hwinfo.py', content: '# hw\n' },
];

const PIECES = [
  "'", '"', '\n', '\r', '\r\n', '\\', '\\\n', '$(id)', '`id`', '%', '%s', '\u0000', '${X}', '$X', '$', '\u200f', '\u202e', '\u2028', '\u2029',
  '\u0085', '\u000b', '\u001c', '😀', '\t', ' ', '#', '[', ']', '{', '}', '=', ',', '/', '..', '-', '--index-url=http://evil/', ' \\', '\nRUN id',
  '" ]', '\ud800', '\udfff', 'é', '*', '@', ':', '<', ';', '~', '\ufeff',
];
/** Pieces a schema that refuses control characters still lets through. */
const PRINTABLE_PIECES = PIECES.filter((p) => !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(p));
const WORDS = ['a', 'numpy', 'x1', 'Z_', 'https://pypi.org/simple', '/etc/x', 'python3', '==1.0'];

const pieces = (list: string[]): fc.Arbitrary<string> => fc.array(fc.constantFrom(...list), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
const long = (list: string[]): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...list, 'a'), fc.integer({ min: 1000, max: 40000 })).map(([p, n]) => p.repeat(Math.ceil(n / p.length)).slice(0, n));

const hostile: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: pieces(PIECES) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...WORDS), pieces(PIECES), fc.constantFrom(...WORDS)).map(([a, b, c]) => a + b + c) },
  { weight: 1, arbitrary: long(PIECES) },
);
/** Hostile but without control characters (what may pass as an env value). */
const printableHostile: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: pieces(PRINTABLE_PIECES) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
  { weight: 1, arbitrary: long(PRINTABLE_PIECES) },
);

/**
 * A spec whose every string field is either valid or hostile: `w` is the weight of the valid value
 * against 1 for a hostile one. A high `w` gives specs that mostly pass the schema with a hostile
 * string here and there (and hostile content wherever the schema allows any text); a low `w`
 * gives specs that are hostile throughout.
 */
function specArbitrary(w: number): fc.Arbitrary<InspectionSpecification> {
  const maybe = <T>(valid: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: w, arbitrary: valid }, { weight: 1, arbitrary: bad });

  const baseArb = maybe(
    fc.constantFrom('registry.access.redhat.com/ubi9/ubi:9.4', 'quay.io/thoth-station/s2i-thoth-ubi8-py36', `localhost:5000/team/img@sha256:${'a'.repeat(64)}`, 'python:3.12-slim', 'fedora'),
    hostile,
  );
  const packageArb = maybe(fc.constantFrom('gcc', 'python3-devel', 'libopenblas-dev=0.3.21+ds-4', 'g++', 'perl:any', 'foo~1'), hostile);
  const pyReqArb = maybe(fc.constantFrom('numpy', 'requests[security,socks]>=2.31,<3', 'a.b-c==1.0', 'x~=1.0'), hostile);
  const envArb = fc.record({ name: maybe(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/), hostile), value: maybe(printableHostile, hostile) });
  const segmentArb = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
  const pathArb = maybe(fc.array(segmentArb, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`), fc.oneof(hostile, hostile.map((s) => `/etc/${s}`)));
  const fileArb = fc.record({ path: pathArb, content: fc.oneof(hostile, fc.string({ unit: 'binary', minLength: 1, maxLength: 64 })) });

  const SOURCES = [
    { name: 'pypi', url: 'https://pypi.org/simple', verify_ssl: true },
    { name: 'internal', url: 'http://internal.example:8080/a%20b/simple/', verify_ssl: false },
  ];
  const hostileSourceArb = fc.record(
    { name: maybe(fc.constantFrom('pypi', 'internal'), hostile), url: maybe(fc.constantFrom('https://pypi.org/simple'), hostile.map((s) => `https://${s}`)), verify_ssl: fc.boolean() },
    { requiredKeys: ['name', 'url'] },
  );
  const sourcesArb = maybe(fc.subarray(SOURCES), fc.array(hostileSourceArb, { minLength: 1, maxLength: 2 }));
  const pkgNameArb = maybe(fc.constantFrom('numpy', 'requests', 'zope.interface', 'a_b'), hostile);
  const markersArb = maybe(fc.constantFrom("python_version < '3.8'", 'sys_platform == "linux" and python_version >= "3"', "extra == 'socks'"), hostile);
  const extrasArb = maybe(fc.array(fc.constantFrom('socks', 'security'), { maxLength: 2 }), fc.array(hostile, { minLength: 1, maxLength: 2 }));
  const hashArb = fc.stringMatching(/^[a-f0-9]{64}$/).map((s) => `sha256:${s}`);
  const lockEntryArb = fc.record(
    {
      version: maybe(fc.constantFrom('==1.0', '==2.32.3', '==1.0.post1'), hostile),
      hashes: maybe(fc.array(hashArb, { minLength: 1, maxLength: 3 }), fc.array(hostile, { maxLength: 2 })),
      markers: markersArb,
      index: maybe(fc.constantFrom('pypi', 'internal'), hostile),
      extras: extrasArb,
    },
    { requiredKeys: ['version', 'hashes'] },
  );
  const pipfilePackageArb = fc.oneof(
    maybe(fc.constantFrom('*', '==1.0', '>=1.0, <2', '~=1.4'), hostile),
    fc.record({ version: maybe(fc.constantFrom('*', '==1.0'), hostile), index: maybe(fc.constantFrom('pypi', 'internal'), hostile), extras: extrasArb, markers: markersArb }, { requiredKeys: [] }),
  );
  const pipfileArb = fc.record(
    {
      source: sourcesArb,
      packages: fc.dictionary(pkgNameArb, pipfilePackageArb, { maxKeys: 3 }),
      'dev-packages': fc.dictionary(pkgNameArb, pipfilePackageArb, { maxKeys: 2 }),
      requires: fc.record({ python_version: maybe(fc.constantFrom('3.12', '3.6'), hostile) }),
      // Keys the schema leaves open: any text, carried as TOML data.
      scripts: fc.dictionary(hostile, hostile, { maxKeys: 2 }),
    },
    { requiredKeys: [] },
  );
  const lockArb = fc.record(
    {
      _meta: fc.record({ sources: sourcesArb, hash: fc.record({ sha256: hostile }) }, { requiredKeys: [] }),
      default: fc.dictionary(pkgNameArb, lockEntryArb, { maxKeys: 3 }),
      develop: fc.dictionary(pkgNameArb, lockEntryArb, { maxKeys: 1 }),
    },
    { requiredKeys: ['default'] },
  );

  return fc.record(
    {
      base: baseArb,
      identifier: maybe(pieces(PRINTABLE_PIECES), hostile),
      package_manager: fc.constantFrom('micropipenv', 'pipenv'),
      batch_size: fc.integer({ min: 1, max: 3 }),
      packages: fc.array(packageArb, { maxLength: 4 }),
      python_packages: fc.array(pyReqArb, { maxLength: 4 }),
      python: fc.record({ requirements: pipfileArb, requirements_locked: lockArb }, { requiredKeys: ['requirements'] }),
      files: fc.array(fileArb, { maxLength: 4 }),
      environment: fc.array(envArb, { maxLength: 5 }),
      script: fc.oneof(hostile, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 })),
      update: fc.boolean(),
      upgrade_pip: fc.boolean(),
      run: fc.record({ requests: fc.record({ gpu: fc.record({ count: fc.integer({ min: 1, max: 4 }), product: maybe(fc.constantFrom('NVIDIA-H100-80GB-HBM3'), hostile) }) }) }),
    },
    { requiredKeys: ['base', 'package_manager', 'batch_size'] },
  ) as fc.Arbitrary<InspectionSpecification>;
}

/** Most runs mostly valid (hostile text where the schema allows any), the others hostile throughout. */
const specArb = fc.oneof({ weight: 3, arbitrary: specArbitrary(60) }, { weight: 2, arbitrary: specArbitrary(2) });
const envArb = fc.record({
  name: fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/) }, { weight: 1, arbitrary: hostile }),
  value: fc.oneof({ weight: 5, arbitrary: printableHostile }, { weight: 1, arbitrary: hostile }),
});

type Step = { keyword: string; args: unknown };

/** The instruction sequence the specification must give, derived here from the spec alone. */
function expectedSteps(spec: InspectionSpecification): Step[] {
  const steps: Step[] = [];
  const run = (args: string): number => steps.push({ keyword: 'RUN', args });
  const copy = (...args: string[]): number => steps.push({ keyword: 'COPY', args });
  steps.push({ keyword: 'FROM', args: spec.base }, { keyword: 'USER', args: 'root' });
  for (const { name, value } of spec.environment ?? []) steps.push({ keyword: 'ENV', args: [[name, value]] });
  const packages = spec.packages ?? [];
  if (spec.update === true || packages.length > 0) {
    copy('amun/build/native/', '/opt/amun/build/native/');
    run(`sh /opt/amun/build/native/install-packages.sh${spec.update === true ? ' --update' : ''} /opt/amun/build/native/packages.txt`);
  }
  const pythonPackages = spec.python_packages ?? [];
  if (spec.upgrade_pip === true && (spec.python === undefined || pythonPackages.length > 0)) run('PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --upgrade pip');
  if (pythonPackages.length > 0) {
    copy('amun/python-packages.txt', '/opt/amun/build/python-packages.txt');
    run('PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r /opt/amun/build/python-packages.txt');
  }
  if (spec.python !== undefined) {
    const locked = spec.python.requirements_locked !== undefined;
    copy(...(locked ? ['amun/Pipfile', 'amun/Pipfile.lock'] : ['amun/Pipfile']), '/home/amun/');
    copy('amun/build/python/', '/opt/amun/build/python/');
    run(`sh /opt/amun/build/python/install-python.sh ${spec.package_manager} ${locked ? 'lock' : 'pipfile'} ${spec.upgrade_pip === true ? 'upgrade-pip' : 'keep-pip'}`);
  }
  (spec.files ?? []).forEach((file, i) => copy(`amun/files/${i}`, file.path));
  copy('amun/harness/', '/opt/amun/harness/');
  run('python3 -m compileall -q /opt/amun/harness >/dev/null 2>&1 || true');
  if (spec.script !== undefined) {
    copy('amun/script', '/home/amun/script');
    run('chmod 0755 /home/amun/script');
  }
  steps.push({ keyword: 'ENV', args: [['AMUN_SCRIPT', '/home/amun/script'], ['AMUN_OUTPUT_DIR', '/home/amun/output'], ['AMUN_VENV', '/home/amun/venv']] });
  run('mkdir -p /home/amun/output && chown -R 1042:0 /home/amun && chmod -R g=u /home/amun');
  steps.push({ keyword: 'USER', args: '1042' }, { keyword: 'WORKDIR', args: '/home/amun' }, { keyword: 'ENTRYPOINT', args: ['python3', '/opt/amun/harness/entrypoint.py'] });
  return steps;
}

interface Property {
  getName(): string;
  getValue(): string | null;
}

/** The Dockerfile as dockerfile-ast reads it back. */
function parsedSteps(dockerfile: string): Step[] {
  const parsed = DockerfileParser.parse(dockerfile);
  expect(parsed.getDirectives()).toEqual([]);
  expect(parsed.getComments()).toHaveLength(2);
  return parsed.getInstructions().map((ins: Instruction) => {
    const range = ins.getRange();
    expect(range.start.line).toBe(range.end.line); // one instruction, one line: no user newline got in
    const keyword = ins.getKeyword();
    if (keyword === 'ENV') {
      const properties = (ins as unknown as { getProperties(): Property[] }).getProperties();
      // dockerfile-ast unquotes and unescapes \" and \\, and keeps \$ as the escaped variable it is.
      return { keyword, args: properties.map((p) => [p.getName(), (p.getValue() ?? '').replace(/\\\$/g, '$')]) };
    }
    if (keyword === 'COPY' || keyword === 'ENTRYPOINT') {
      const json = (ins as unknown as { getJSONStrings(): Array<{ getJSONValue(): string }> }).getJSONStrings().map((s) => s.getJSONValue());
      const raw = JSON.parse(ins.getArgumentsContent() ?? 'null') as unknown;
      expect(raw).toEqual(json);
      return { keyword, args: json };
    }
    return { keyword, args: ins.getArgumentsContent() };
  });
}

const canonical = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  return value;
};
const bytes = (content: string | Buffer | undefined): Buffer => (typeof content === 'string' ? Buffer.from(content, 'utf8') : (content ?? Buffer.alloc(0)));
/** Characters Python's str.splitlines() breaks at, besides \n. */
const PYTHON_LINE_BREAKS = /[\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/;
const REQUIREMENT_LINE = /^(?:#.*|--(?:index-url|extra-index-url|trusted-host) [!-~]+|[A-Za-z0-9][^\s;]*(?:; [^\n]*?)?(?: \\)?| {4}--hash=sha256:[a-f0-9]{64}(?: \\)?)$/;

/** Everything that must hold for a spec the generator accepted. */
function checkBuild(spec: InspectionSpecification, build: GeneratedBuild): void {
  expect(build.dockerfile).not.toMatch(/\r/);
  expect(parsedSteps(build.dockerfile)).toEqual(expectedSteps(spec));
  expect(build.dockerfile.split('\n')).toHaveLength(expectedSteps(spec).length + 4); // 2 comments, a blank line, the final newline
  expect(build.stackDigest).toMatch(/^[a-f0-9]{64}$/);

  const byPath = new Map(build.context.map((f) => [f.path, f]));
  expect(byPath.size).toBe(build.context.length);
  for (const file of build.context) {
    expect(file.path.startsWith('/')).toBe(false);
    expect(file.path.includes('..')).toBe(false);
    expect(file.path).toMatch(/^amun\/[A-Za-z0-9._/-]+$/);
  }
  (spec.files ?? []).forEach((file, i) => expect(bytes(byPath.get(`amun/files/${i}`)?.content)).toEqual(Buffer.from(file.content, 'utf8')));
  if (spec.script !== undefined) {
    expect(bytes(byPath.get('amun/script')?.content)).toEqual(Buffer.from(spec.script, 'utf8'));
    expect(byPath.get('amun/script')?.mode).toBe(0o755);
  }
  for (const file of HARNESS) expect(byPath.get(`amun/harness/${file.path}`)?.content).toBe(file.content);
  const lines = (path: string): string[] => String(byPath.get(path)?.content ?? '').split('\n').filter((l) => l !== '');
  if (spec.update === true || (spec.packages ?? []).length > 0) expect(lines('amun/build/native/packages.txt')).toEqual(spec.packages ?? []);
  if ((spec.python_packages ?? []).length > 0) expect(lines('amun/python-packages.txt')).toEqual(spec.python_packages);
  if (spec.python !== undefined) {
    expect(canonical(parseToml(String(byPath.get('amun/Pipfile')?.content)))).toEqual(canonical(spec.python.requirements));
    if (spec.python.requirements_locked !== undefined) {
      expect(JSON.parse(String(byPath.get('amun/Pipfile.lock')?.content))).toEqual(spec.python.requirements_locked);
    }
  }
  // Requirement files are line-based for pip: no value may start a line of its own.
  for (const file of build.context.filter((f) => /requirements-(lock|pipfile)-\d+\.txt$/.test(f.path))) {
    const text = String(file.content);
    expect(text).not.toMatch(PYTHON_LINE_BREAKS);
    for (const line of text.split('\n').filter((l) => l !== '')) expect(line).toMatch(REQUIREMENT_LINE);
  }
}

describe('generateBuild with hostile specifications', () => {
  it('refuses them, or produces exactly the expected Dockerfile and byte-identical context (1000 runs)', () => {
    // AMUN_PROPERTY_STATS=1 prints how the runs split and which schema rules refused them.
    const stats = process.env.AMUN_PROPERTY_STATS === '1';
    const refusals = new Map<string, number>();
    const counts = { accepted: 0, refusedBySchema: 0, refusedByGenerator: 0, generatorAloneAccepted: 0, generatorAloneRefused: 0 };
    fc.assert(
      fc.property(specArb, (spec) => {
        const schemaValid = validators.specification(spec);
        if (!schemaValid && stats) {
          for (const e of validators.specification.errors ?? []) {
            const key = e.instancePath.replace(/\/\d+/g, '/N').replace(/\/(requirements_locked\/default|requirements\/packages|requirements\/dev-packages)\/[^/]+/, '/$1/X');
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
          }
        }
        let build: GeneratedBuild | undefined;
        try {
          build = generateBuild(spec, HARNESS);
        } catch (error) {
          if (!(error instanceof SpecificationError)) throw error;
          expect(error.problems.length).toBeGreaterThan(0);
          for (const problem of error.problems) expect(problem.path).toMatch(/^\//);
        }
        if (schemaValid) {
          if (build === undefined) counts.refusedByGenerator++;
          else counts.accepted++;
        } else {
          counts.refusedBySchema++;
          if (build === undefined) counts.generatorAloneRefused++;
          else counts.generatorAloneAccepted++;
        }
        // Whatever the schema said, what the generator accepts must be safe.
        if (build !== undefined) {
          checkBuild(spec, build);
          expect(generateBuild(structuredClone(spec), HARNESS).stackDigest).toBe(build.stackDigest);
        }
      }),
      { numRuns: 1000 },
    );
    if (stats) console.log(counts, JSON.stringify([...refusals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)));
    // Both outcomes must have been exercised for the test to mean anything.
    expect(counts.accepted).toBeGreaterThanOrEqual(100);
    expect(counts.refusedBySchema + counts.refusedByGenerator).toBeGreaterThanOrEqual(100);
    expect(counts.generatorAloneRefused).toBeGreaterThanOrEqual(50);
  });

  it('round-trips every env value through the Dockerfile (1000 runs)', () => {
    fc.assert(
      fc.property(fc.array(envArb, { minLength: 1, maxLength: 8 }), (environment) => {
        const spec = { base: 'fedora', batch_size: 1, package_manager: 'micropipenv', environment } as InspectionSpecification;
        let build: GeneratedBuild;
        try {
          build = generateBuild(spec, HARNESS);
        } catch (error) {
          // The generator refuses what the schema refuses, and text that is not valid Unicode.
          expect(error).toBeInstanceOf(SpecificationError);
          for (const problem of (error as SpecificationError).problems) expect(problem.path).toMatch(/^\/environment\/\d+\/(name|value)$/);
          expect(validators.specification(spec) === false || environment.some(({ value }) => /[\ud800-\udfff]/.test(value))).toBe(true);
          return;
        }
        // (The schema may still refuse what the generator can carry safely, e.g. values over 32 KiB.)
        const envs = parsedSteps(build.dockerfile).filter((s) => s.keyword === 'ENV').slice(0, -1);
        expect(envs.map((s) => s.args)).toEqual(environment.map(({ name, value }) => [[name, value]]));
      }),
      { numRuns: 1000 },
    );
  });
});
