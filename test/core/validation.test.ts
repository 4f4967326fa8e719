import { validators, toProblems } from '../../functions/core/validation.js';

describe('specification schema', () => {
  it('accepts a minimal spec and reports every problem of a bad one with its JSON path', () => {
    expect(validators.specification({ base: 'localhost/debian:bookworm' })).toBe(true);
    expect(validators.specification({ base: 'bad base', extra: 1, batch_size: 'x' })).toBe(false);
    const paths = toProblems(validators.specification.errors).map((p) => p.path).sort();
    expect(paths).toEqual(['/base', '/batch_size', '/extra']);
  });
});
