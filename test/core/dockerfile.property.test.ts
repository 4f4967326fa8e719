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
 *
 * The fields the original service accepted are generated too: '@' annotations, relative file
 * paths, PEP 508 requirements with markers and URLs, pip constraints, runtime_environment, the
 * empty Python stack, lock entries without hashes or from git/URLs/paths, CPU model names, and a
 * fetched script's text given beside a script URL. Every requirement-like file (python_packages,
 * constraints, the lock's and the Pipfile's requirement files) is checked line by line: pip must
 * read nothing in it as an option, a continuation, a variable or a line of its own.
 */
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import fc from 'fast-check';
import { parse as parseToml } from 'smol-toml';
import { generateBuild, imagePath, type GeneratedBuild } from '../../functions/core/dockerfile.js';
import { SpecificationError } from '../../functions/core/errors.js';
import type { InspectionSpecification } from '../../functions/core/generated/types.js';
import { lockOf, pythonStack } from '../../functions/core/specification.js';
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
  const pyReqArb = maybe(
    fc.constantFrom(
      'numpy',
      'requests[security,socks]>=2.31,<3',
      'a.b-c==1.0',
      'x~=1.0',
      "micropipenv[toml] >= 1.0 ; python_version >= '3.6'",
      'numpy (>=1.19, <2)',
      'amun-hello @ https://example.org/files/amun_hello-1.0.0-py3-none-any.whl',
      'lib[extra] @ git+https://github.com/x/lib.git@v1.0#subdirectory=py ; sys_platform == "linux" and python_version > "3"',
      'tensorflow==2.2.0; platform_machine == "x86_64"',
    ),
    fc.oneof(hostile, hostile.map((h) => `numpy ; ${h}`), hostile.map((h) => `x @ https://example.org/${h}`), hostile.map((h) => `x>=1 ${h}`)),
  );
  const constraintArb = maybe(fc.constantFrom('numpy<2', "six>=1.15 ; python_version >= '3'", 'setuptools (<70)', 'idna'), fc.oneof(hostile, hostile.map((h) => `numpy<2 ; ${h}`)));
  const envArb = fc.record({ name: maybe(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/), hostile), value: maybe(printableHostile, hostile) });
  const segmentArb = fc.stringMatching(/^[A-Za-z0-9._@+=,-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
  const pathArb = maybe(
    fc.tuple(fc.boolean(), fc.array(segmentArb, { minLength: 1, maxLength: 4 })).map(([absolute, s]) => `${absolute ? '/' : ''}${s.join('/')}`),
    fc.oneof(hostile, hostile.map((s) => `/etc/${s}`), hostile.map((s) => `data/${s}`)),
  );
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
  const indexEntryArb = fc.record(
    {
      version: maybe(fc.constantFrom('==1.0', '==2.32.3', '==1.0.post1'), hostile),
      hashes: maybe(fc.array(hashArb, { minLength: 1, maxLength: 3 }), fc.array(hostile, { maxLength: 2 })),
      markers: markersArb,
      index: maybe(fc.constantFrom('pypi', 'internal'), hostile),
      extras: extrasArb,
    },
    { requiredKeys: ['version'] },
  );
  // Entries micropipenv installs without hash checking: git, archive URLs, local paths.
  const directEntryArb = fc.oneof(
    fc.record(
      {
        git: maybe(fc.constantFrom('https://github.com/x/y.git', 'ssh://git@github.com/x/y.git'), fc.oneof(hostile, hostile.map((h) => `https://github.com/${h}`))),
        ref: maybe(fc.constantFrom('v1.0', 'main', '0123abcd'), hostile),
        subdirectory: maybe(fc.constantFrom('py', 'src/pkg'), hostile),
        editable: fc.boolean(),
        markers: markersArb,
      },
      { requiredKeys: ['git'] },
    ),
    fc.record({ file: maybe(fc.constantFrom('https://example.org/a-1.0.tar.gz'), hostile.map((h) => `https://example.org/${h}`)), hashes: fc.array(hashArb, { maxLength: 2 }) }, { requiredKeys: ['file'] }),
    fc.record({ path: maybe(fc.constantFrom('.', './pkg', 'pkg', '/opt/src/pkg'), hostile), editable: fc.boolean() }, { requiredKeys: ['path'] }),
  );
  const lockEntryArb = fc.oneof({ weight: 4, arbitrary: indexEntryArb }, { weight: 1, arbitrary: directEntryArb });
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

  const processorArb = maybe(fc.constantFrom('Intel Xeon Processor (Skylake, IBRS)', 'Intel-Xeon-Processor-Skylake-IBRS', 'AMD EPYC 7R13 Processor', 'Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz', 'Intel'), hostile);
  // The original's annotations ('@created' and the other fields this service fills are dropped by
  // normalizeSpecification before the schema sees them: specification.test.ts).
  const annotationsArb = fc.dictionary(maybe(fc.constantFrom('@amun_service_version', '@note', '@thoth.origin'), hostile.map((h) => `@${h}`)), fc.oneof(hostile, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 3 });
  const pythonArb = fc.oneof(
    { weight: 4, arbitrary: fc.record({ requirements: pipfileArb, requirements_locked: lockArb, constraints: fc.array(constraintArb, { maxLength: 3 }), runtime_environment: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }, { requiredKeys: ['requirements'] }) },
    // The original's "no Python stack".
    { weight: 1, arbitrary: fc.record({ requirements: fc.constant({}), requirements_locked: fc.constant({}), constraints: fc.array(constraintArb, { maxLength: 2 }) }, { requiredKeys: ['requirements', 'requirements_locked'] }) },
  );

  return fc
    .tuple(
      fc.record(
    {
      base: baseArb,
      identifier: maybe(pieces(PRINTABLE_PIECES), hostile),
      package_manager: fc.constantFrom('micropipenv', 'pipenv'),
      batch_size: fc.integer({ min: 1, max: 3 }),
      packages: fc.array(packageArb, { maxLength: 4 }),
      python_packages: fc.array(pyReqArb, { maxLength: 4 }),
      python: pythonArb,
      files: fc.array(fileArb, { maxLength: 4 }),
      environment: fc.array(envArb, { maxLength: 5 }),
      script: fc.oneof(hostile, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 })),
      update: fc.boolean(),
      upgrade_pip: fc.boolean(),
      run: fc.record({
        requests: fc.record(
          { gpu: fc.record({ count: fc.integer({ min: 1, max: 4 }), product: maybe(fc.constantFrom('NVIDIA-H100-80GB-HBM3'), hostile) }), hardware: fc.record({ processor: processorArb }) },
          { requiredKeys: [] },
        ),
      }),
      build: fc.record({ requests: fc.record({ hardware: fc.record({ processor: processorArb, cpu_family: fc.constant(6) }) }) }),
    },
    { requiredKeys: ['base', 'package_manager', 'batch_size'] },
      ),
      annotationsArb,
    )
    .map(([spec, annotations]) => ({ ...annotations, ...spec })) as fc.Arbitrary<InspectionSpecification>;
}

/** A fetched script's text, given to the generator beside a script URL (what prepare() does). */
const scriptTextArb = fc.option(fc.oneof(hostile, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 })), { nil: undefined });

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
  // Files before the Python stack (the original's order); relative paths under /home/amun.
  (spec.files ?? []).forEach((file, i) => copy(`amun/files/${i}`, file.path.startsWith('/') ? file.path : `/home/amun/${file.path}`));
  const pythonPackages = spec.python_packages ?? [];
  const stack = pythonStack(spec);
  const constraints = spec.python?.constraints ?? [];
  const pip = constraints.length > 0 ? 'PIP_CONSTRAINT=/opt/amun/build/constraints.txt ' : '';
  if (constraints.length > 0 && (spec.upgrade_pip === true || pythonPackages.length > 0 || stack !== undefined)) copy('amun/build/constraints.txt', '/opt/amun/build/constraints.txt');
  if (spec.upgrade_pip === true && (stack === undefined || pythonPackages.length > 0)) run(`${pip}PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --upgrade pip`);
  if (pythonPackages.length > 0) {
    copy('amun/python-packages.txt', '/opt/amun/build/python-packages.txt');
    run(`${pip}PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r /opt/amun/build/python-packages.txt`);
  }
  if (stack !== undefined) {
    const locked = lockOf(stack) !== undefined;
    copy(...(locked ? ['amun/Pipfile', 'amun/Pipfile.lock'] : ['amun/Pipfile']), '/home/amun/');
    copy('amun/build/python/', '/opt/amun/build/python/');
    run(`${pip}sh /opt/amun/build/python/install-python.sh ${spec.package_manager} ${locked ? 'lock' : 'pipfile'} ${spec.upgrade_pip === true ? 'upgrade-pip' : 'keep-pip'}`);
  }
  copy('amun/harness/', '/opt/amun/harness/');
  run('python3 -m compileall -q /opt/amun/harness >/dev/null 2>&1 || true');
  if (spec.script !== undefined) {
    copy('amun/script', '/home/amun/script');
    run('chmod 0755 /home/amun/script');
  }
  // HOME of the run user, unless the specification sets one; then its account (run-user.sh).
  const home = (spec.environment ?? []).some(({ name }) => name === 'HOME') ? [] : [['HOME', '/home/amun']];
  steps.push({ keyword: 'ENV', args: [['AMUN_SCRIPT', '/home/amun/script'], ['AMUN_OUTPUT_DIR', '/home/amun/output'], ['AMUN_VENV', '/home/amun/venv'], ...home] });
  copy('amun/build/run-user.sh', '/opt/amun/build/run-user.sh');
  // The venv is the run user's from its own install step: this layer must not copy it again.
  const notVenv = 'find /home/amun -path /home/amun/venv -prune -o';
  run(`sh /opt/amun/build/run-user.sh && mkdir -p /home/amun/output && ${notVenv} -exec chown 1042:0 {} + && ${notVenv} -exec chmod g=u {} +`);
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
const REQUIREMENT_LINE =
  /^(?:#.*|--(?:index-url|extra-index-url|trusted-host) [!-~]+|-e (?:git\+[!-~]+|\.[!-~]*|\/[!-~]+)|(?:\.\/|\/|\.)?[A-Za-z0-9][^\s;]*(?: @ [!-~]+)?(?: ?; [^\n]*?)?(?: \\)?|\.(?: \\)?| {4}--hash=sha256:[a-f0-9]{64}(?: \\)?)$/;

/**
 * A line pip reads from a requirements file: nothing in it may start an option (a token starting
 * with '-', but for the option lines Amun writes itself), continue onto the next line (a trailing
 * '\\' but before Amun's --hash lines), expand a variable (`${`), or break a line for Python.
 */
function checkRequirementLines(text: string, amunOptions: boolean): void {
  expect(text).not.toMatch(PYTHON_LINE_BREAKS);
  expect(text).not.toContain('${');
  for (const line of text.split('\n').filter((l) => l !== '')) {
    if (amunOptions && (/^--(?:index-url|extra-index-url|trusted-host) [!-~]+$/.test(line) || /^ {4}--hash=sha256:[a-f0-9]{64}(?: \\)?$/.test(line) || line.startsWith('#'))) continue;
    const body = amunOptions ? line.replace(/^-e (?=(?:git\+|\.|\/))/, '').replace(/ \\$/, '') : line;
    expect(body).not.toMatch(/\\/);
    for (const token of body.split(' ')) expect(token.startsWith('-')).toBe(false);
    expect(body.trimStart().startsWith('#')).toBe(false);
  }
}

/** Everything that must hold for a spec the generator accepted. */
function checkBuild(spec: InspectionSpecification, build: GeneratedBuild, scriptText?: string): void {
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
    expect(bytes(byPath.get('amun/script')?.content)).toEqual(Buffer.from(scriptText ?? spec.script, 'utf8'));
    expect(byPath.get('amun/script')?.mode).toBe(0o755);
  }
  for (const file of HARNESS) expect(byPath.get(`amun/harness/${file.path}`)?.content).toBe(file.content);
  const lines = (path: string): string[] => String(byPath.get(path)?.content ?? '').split('\n').filter((l) => l !== '');
  if (spec.update === true || (spec.packages ?? []).length > 0) expect(lines('amun/build/native/packages.txt')).toEqual(spec.packages ?? []);
  if ((spec.python_packages ?? []).length > 0) {
    expect(lines('amun/python-packages.txt')).toEqual(spec.python_packages);
    checkRequirementLines(String(byPath.get('amun/python-packages.txt')?.content), false);
  }
  if (byPath.has('amun/build/constraints.txt')) {
    expect(lines('amun/build/constraints.txt')).toEqual(spec.python?.constraints);
    checkRequirementLines(String(byPath.get('amun/build/constraints.txt')?.content), false);
  }
  const stack = pythonStack(spec);
  if (stack === undefined) expect(byPath.has('amun/Pipfile')).toBe(false);
  else {
    expect(canonical(parseToml(String(byPath.get('amun/Pipfile')?.content)))).toEqual(canonical(stack.requirements));
    const lock = lockOf(stack);
    if (lock !== undefined) expect(JSON.parse(String(byPath.get('amun/Pipfile.lock')?.content))).toEqual(lock);
    else expect(byPath.has('amun/Pipfile.lock')).toBe(false);
  }
  // Requirement files are line-based for pip: no value may start a line of its own.
  for (const file of build.context.filter((f) => /requirements-(lock|nohash|pipfile)-\d+\.txt$/.test(f.path))) {
    const text = String(file.content);
    checkRequirementLines(text, true);
    for (const line of text.split('\n').filter((l) => l !== '')) expect(line).toMatch(REQUIREMENT_LINE);
  }
  // COPY destinations: each file where its path says, relative ones under /home/amun.
  (spec.files ?? []).forEach((file) => expect(imagePath(file.path)).toMatch(/^\/(?:[A-Za-z0-9._@+=,-]+\/)*[A-Za-z0-9._@+=,-]+$/));
}

describe('generateBuild with hostile specifications', () => {
  it('refuses them, or produces exactly the expected Dockerfile and byte-identical context (1000 runs)', () => {
    // AMUN_PROPERTY_STATS=1 prints how the runs split and which schema rules refused them.
    const stats = process.env.AMUN_PROPERTY_STATS === '1';
    const refusals = new Map<string, number>();
    const counts = { accepted: 0, refusedBySchema: 0, refusedByGenerator: 0, generatorAloneAccepted: 0, generatorAloneRefused: 0 };
    fc.assert(
      fc.property(specArb, scriptTextArb, (spec, scriptText) => {
        const schemaValid = validators.specification(spec);
        if (!schemaValid && stats) {
          for (const e of validators.specification.errors ?? []) {
            const key = e.instancePath.replace(/\/\d+/g, '/N').replace(/\/(requirements_locked\/default|requirements\/packages|requirements\/dev-packages)\/[^/]+/, '/$1/X');
            refusals.set(key, (refusals.get(key) ?? 0) + 1);
          }
        }
        let build: GeneratedBuild | undefined;
        const options = scriptText === undefined ? {} : { scriptText };
        try {
          build = generateBuild(spec, HARNESS, options);
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
          checkBuild(spec, build, scriptText);
          expect(generateBuild(structuredClone(spec), HARNESS, options).stackDigest).toBe(build.stackDigest);
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
