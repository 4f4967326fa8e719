import fc from 'fast-check';
import { SpecificationError } from '../../functions/core/errors.js';
import { mintInspectionId, normalizeSpecification, sanitizeIdentifier } from '../../functions/core/specification.js';

const now = new Date('2026-01-02T03:04:05.678Z');

describe('normalizeSpecification', () => {
  it('fills exactly the original defaults and keeps absent fields absent', () => {
    const spec = normalizeSpecification({ base: 'fedora:40' }, { now, version: '9.9.9' });
    expect(spec).toEqual({
      base: 'fedora:40',
      batch_size: 1,
      package_manager: 'micropipenv',
      build: { requests: { cpu: '500m', memory: '256Mi' } },
      run: { requests: { cpu: '500m', memory: '256Mi' } },
      '@created': '2026-01-02T03:04:05.678000',
      '@amun_version': '9.9.9',
    });
  });

  it('keeps what the caller gave and fills only the missing request', () => {
    const spec = normalizeSpecification({ base: 'fedora:40', batch_size: 4, package_manager: 'pipenv', run: { requests: { cpu: '2', gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' } }, parallelism: 2 } }, { now, version: '1' });
    expect(spec.batch_size).toBe(4);
    expect(spec.package_manager).toBe('pipenv');
    expect(spec.run).toEqual({ requests: { cpu: '2', memory: '256Mi', gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' } }, parallelism: 2 });
  });

  it('replaces caller-supplied service fields', () => {
    const spec = normalizeSpecification({ base: 'fedora:40', '@created': 'yesterday', '@amun_version': 'x' }, { now, version: '2' });
    expect(spec['@created']).toBe('2026-01-02T03:04:05.678000');
    expect(spec['@amun_version']).toBe('2');
  });

  it('reports every problem with its JSON path', () => {
    let error: unknown;
    try {
      normalizeSpecification({ base: 'a b', batch_size: 0, unknown: true, environment: [{ name: '1X', value: 'a\nb' }], run: { requests: { gpu: { count: 'one' } } } }, { now, version: '1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecificationError);
    const paths = (error as SpecificationError).problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['/base', '/batch_size', '/unknown', '/environment/0/name', '/environment/0/value', '/run/requests/gpu/count']));
  });
});

describe('inspection ids', () => {
  it('start with inspection-, carry the sanitized identifier, and are valid Kubernetes names', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 200, unit: 'binary' }), { nil: undefined }), (identifier) => {
        const id = mintInspectionId(identifier);
        expect(id.length).toBeLessThanOrEqual(63);
        expect(id).toMatch(/^inspection-[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        const middle = sanitizeIdentifier(identifier);
        if (middle) expect(id.startsWith(`inspection-${middle}-`)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('sanitizes like a person would expect', () => {
    expect(mintInspectionId('TensorFlow 2.2 / AVX2!!', 'seed')).toMatch(/^inspection-tensorflow-2-2-avx2-[0-9a-f]{8}$/);
    expect(sanitizeIdentifier('x'.repeat(100)).length).toBe(43);
  });

  it('are unique when random and stable when seeded', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => mintInspectionId('a')));
    expect(ids.size).toBe(5000);
    expect(mintInspectionId('a', 'drop-1')).toBe(mintInspectionId('a', 'drop-1'));
    expect(mintInspectionId('a', 'drop-1')).not.toBe(mintInspectionId('a', 'drop-2'));
  });
});
