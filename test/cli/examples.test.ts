/**
 * Every example under examples/ is a valid specification once the CLI has inlined `script_file`,
 * renders to a Dockerfile, and is documented in examples/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSpec } from '../../cli/spec.js';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import { normalizeSpecification } from '../../functions/core/specification.js';
import { toProblems, validators } from '../../functions/core/validation.js';
import { pipfileHash } from '../support/pypi.js';

const dir = join(process.cwd(), 'examples');
const examples = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

describe('examples', () => {
  it('are the four documented ones', () => {
    expect(examples).toEqual(['gpu.yaml', 'hello-world.yaml', 'native-packages.yaml', 'pipfile.yaml']);
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    for (const file of examples) expect(readme).toContain(file);
  });

  it.each(examples)('%s validates against schemas/specification.json and renders', async (file) => {
    const { spec } = await loadSpec(join(dir, file));
    expect(spec).not.toHaveProperty('script_file');
    const valid = validators.specification(spec);
    expect(toProblems(validators.specification.errors)).toEqual([]);
    expect(valid).toBe(true);
    const { dockerfile } = generateBuild(normalizeSpecification(spec, { now: new Date(0), version: 'test' }), harnessFiles);
    expect(dockerfile).toMatch(/^FROM docker\.io\/library\/python:3\.12-slim$/m);
    expect(typeof spec.script).toBe('string');
  });

  it('hello-world runs three times and its script reads the environment', async () => {
    const { spec } = await loadSpec(join(dir, 'hello-world.yaml'));
    expect(spec.batch_size).toBe(3);
    expect(spec.script).toContain('GREETING');
    expect(spec.environment).toEqual([expect.objectContaining({ name: 'GREETING' })]);
  });

  it('gpu asks for one H100 and pipfile locks with hashes', async () => {
    const gpu = (await loadSpec(join(dir, 'gpu.yaml'))).spec as { run: { requests: { gpu: unknown; hardware: unknown } } };
    expect(gpu.run.requests.gpu).toEqual({ count: 1, product: 'NVIDIA-H100-80GB-HBM3' });
    expect(gpu.run.requests.hardware).toBeDefined();
    const pipfile = (await loadSpec(join(dir, 'pipfile.yaml'))).spec as { python: { requirements_locked: { default: Record<string, { hashes: string[] }> } } };
    for (const entry of Object.values(pipfile.python.requirements_locked.default)) expect(entry.hashes.length).toBeGreaterThan(0);
  });

  it('pipfile has the lock `micropipenv install --deploy` accepts: the Pipfile hash of its Pipfile, the base image\'s Python', async () => {
    const { python, base } = (await loadSpec(join(dir, 'pipfile.yaml'))).spec as {
      base: string;
      python: {
        requirements: Parameters<typeof pipfileHash>[0] & { requires: { python_version: string } };
        requirements_locked: { _meta: { hash?: { sha256: string }; requires?: { python_version: string } } };
      };
    };
    // Without these, an image that has micropipenv aborts the build ("Pipfile.lock hash None does
    // not correspond to hash computed based on Pipfile"). The real build: test/container/pypi-stack.container.test.ts.
    expect(python.requirements_locked._meta.hash?.sha256).toBe(pipfileHash(python.requirements));
    expect(python.requirements_locked._meta.requires?.python_version).toBe(python.requirements.requires.python_version);
    expect(base).toBe(`docker.io/library/python:${python.requirements.requires.python_version}-slim`);
  });
});
