/**
 * Golden tests of the Dockerfile generator: test/golden/dockerfile/<name>/ holds spec.json, the
 * expected Dockerfile and context.json (every context file's path, mode, size and sha256, and the
 * stack digest). `amun-example` has no spec.json: its spec is the original service's real
 * build/specification, read from ../shared/fixtures at test time.
 *
 * UPDATE_GOLDEN=1 npm test -- test/core/dockerfile.golden   rewrites the expected files.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import { generateBuild } from '../../functions/core/dockerfile.js';
import type { InspectionSpecification } from '../../functions/core/generated/types.js';
import { toProblems, validators } from '../../functions/core/validation.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const goldenDir = join(repoRoot, 'test', 'golden', 'dockerfile');
const fixtureSpec = join(repoRoot, '..', 'shared', 'fixtures', 'amun-example', 'inspection-rhtf-conv2d-0f845f38', 'build', 'specification');
const update = process.env.UPDATE_GOLDEN === '1';

/** A stand-in harness, so the goldens do not change when the real harness does. */
const harness = [{ path: 'entrypoint.py', content: 'print(1)\n' }];

/** The defaults the real normaliser fills that matter here (it is tested on its own). */
function normalise(raw: Record<string, unknown>): InspectionSpecification {
  return { batch_size: 1, package_manager: 'micropipenv', ...raw } as InspectionSpecification;
}

function readSpec(name: string): InspectionSpecification {
  const path = name === 'amun-example' ? fixtureSpec : join(goldenDir, name, 'spec.json');
  return normalise(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>);
}

interface ContextEntry {
  path: string;
  mode: string;
  size: number;
  sha256: string;
}

const names = readdirSync(goldenDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('Dockerfile goldens', () => {
  it('has the cases the brief asks for', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'minimal',
        'native-packages-update',
        'python-packages-upgrade-pip',
        'files-awkward',
        'environment-quoting',
        'pipfile-lock-micropipenv',
        'pipenv',
        'gpu-run-requests',
        'amun-example',
      ]),
    );
    expect(names.length).toBeGreaterThanOrEqual(9);
  });

  it.each(names)('%s', (name) => {
    const spec = readSpec(name);
    const valid = validators.specification(spec);
    expect(valid ? [] : toProblems(validators.specification.errors)).toEqual([]);

    const build = generateBuild(spec, harness);
    const context: ContextEntry[] = build.context.map((f) => {
      const bytes = typeof f.content === 'string' ? Buffer.from(f.content, 'utf8') : f.content;
      return { path: f.path, mode: (f.mode ?? 0o644).toString(8), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    });
    const contextJson = `${JSON.stringify({ stackDigest: build.stackDigest, files: context }, null, 2)}\n`;
    const dockerfilePath = join(goldenDir, name, 'expected.Dockerfile');
    const contextPath = join(goldenDir, name, 'context.json');
    if (update) {
      writeFileSync(dockerfilePath, build.dockerfile);
      writeFileSync(contextPath, contextJson);
    }
    if (!existsSync(dockerfilePath) || !existsSync(contextPath)) {
      throw new Error(`no golden for ${name}: run UPDATE_GOLDEN=1 npm test -- test/core/dockerfile.golden`);
    }
    expect(build.dockerfile).toBe(readFileSync(dockerfilePath, 'utf8'));
    expect(contextJson).toBe(readFileSync(contextPath, 'utf8'));

    // The generator is deterministic, and the context holds user content byte for byte.
    expect(generateBuild(spec, harness)).toEqual(build);
    const byPath = new Map(build.context.map((f) => [f.path, f]));
    (spec.files ?? []).forEach((file, i) => {
      expect(Buffer.from(byPath.get(`amun/files/${i}`)?.content ?? '')).toEqual(Buffer.from(file.content, 'utf8'));
    });
    if (spec.script !== undefined) expect(byPath.get('amun/script')?.content).toBe(spec.script);
  });

  it('gives the real example a Pipfile whose hash is the one its lock records (what --deploy checks)', () => {
    const spec = readSpec('amun-example');
    const build = generateBuild(spec, harness);
    const text = (path: string): string => String(build.context.find((f) => f.path === path)?.content);
    // micropipenv's _compute_pipfile_hash: sha256 of json.dumps(data, sort_keys=True, separators=(",", ":")).
    const pipfile = parseToml(text('amun/Pipfile')) as Record<string, unknown>;
    const data = { _meta: { requires: pipfile.requires ?? {}, sources: pipfile.source }, default: pipfile.packages ?? {}, develop: pipfile['dev-packages'] ?? {} };
    const sorted = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
    const hash = createHash('sha256').update(JSON.stringify(sorted(data))).digest('hex');
    const lock = JSON.parse(text('amun/Pipfile.lock')) as { _meta: { hash: { sha256: string } } };
    expect(hash).toBe('7293f4aaa077ae19df6870b0cadce2265280220d596171f834d9023ae0400a96');
    expect(lock._meta.hash.sha256).toBe(hash);
    // The lock is written as pipenv writes it (sorted keys, 4-space indent), with the original's data.
    expect(lock).toEqual(spec.python?.requirements_locked);
    expect(text('amun/Pipfile.lock')).toMatch(/^\{\n {4}"_meta": \{\n {8}"hash": \{\n {12}"sha256": "7293f4aa/);
    // Its 36 locked packages: 35 from any source, tensorflow from the aicoe index only.
    expect(text('amun/build/python/requirements-lock-000.txt').match(/^[a-z]/gm)).toHaveLength(35);
    expect(text('amun/build/python/requirements-lock-001.txt')).toContain(
      '--index-url https://tensorflow.pypi.thoth-station.ninja/index/manylinux2010/AVX2/simple/\ntensorflow==2.2.0 \\\n    --hash=sha256:e3fe079139d8663f3776c3d989492729401000b91a86bc2e636e2cce3cbfc539\n',
    );
  });
});
