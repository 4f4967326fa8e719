import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '../../scripts/gen.js';

describe('generated code', () => {
  it('matches schemas/ and functions/harness/ (run `npm run gen` after changing them)', async () => {
    const fresh = await generate();
    for (const [name, text] of Object.entries(fresh)) {
      const current = readFileSync(join(import.meta.dirname, '..', '..', 'functions', 'core', 'generated', name), 'utf8');
      expect({ name, upToDate: current === text }).toEqual({ name, upToDate: true });
    }
  });
});
