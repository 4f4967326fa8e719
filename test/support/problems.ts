/** The problems a call refuses with (it must throw a SpecificationError), and their JSON paths sorted. */
import { SpecificationError } from '../../functions/core/errors.js';

export function problemsOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpecificationError);
    return (error as SpecificationError).problems;
  }
  throw new Error('expected a SpecificationError');
}

export const paths = (fn: () => unknown): string[] => problemsOf(fn).map((p) => p.path).sort();
