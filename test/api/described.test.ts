/** Answers in the original description's shape for the clients generated from it (functions/api/described.ts). */
import { NotFoundError } from '../../functions/core/errors.js';
import { syntheticResult } from '../../functions/core/results.js';
import { describedResult, fromGeneratedClient } from '../../functions/api/described.js';

describe('clients generated from the original description', () => {
  it('are known by the User-Agent every generator sends by default, in any header case', () => {
    expect(fromGeneratedClient({ headers: { 'user-agent': 'OpenAPI-Generator/0.0.1/python' } })).toBe(true);
    expect(fromGeneratedClient({ headers: { 'User-Agent': 'Swagger-Codegen/1.0.0/python' } })).toBe(true);
    for (const agent of ['curl/8.5.0', 'python-requests/2.32', 'Mozilla/5.0 OpenAPI-Generator/1', '']) expect(fromGeneratedClient({ headers: { 'user-agent': agent } })).toBe(false);
    expect(fromGeneratedClient({ headers: {} })).toBe(false);
  });

  it('get a run that ran as it is, and none (404 with the reason) for a run Amun could not run', () => {
    const ran = { ...syntheticResult({ inspectionId: 'inspection-a-00000000', item: 0, executor: 'process', reason: 'deadline', message: 'x', script: 'print(1)', startedAt: new Date(0), finishedAt: new Date(0) }), exit_code: -15, hwinfo: { platform: {} } };
    expect(describedResult(ran, 0)).toBe(ran);
    const never = syntheticResult({ inspectionId: 'inspection-a-00000000', item: 1, executor: 'process', reason: 'executor_error', message: 'podman exited 125', script: 'print(1)', startedAt: new Date(0), finishedAt: new Date(0) });
    expect(() => describedResult(never, 1)).toThrow(NotFoundError);
    expect(() => describedResult(never, 1)).toThrow(/item 1 did not run \(executor_error: podman exited 125\)/);
  });
});
