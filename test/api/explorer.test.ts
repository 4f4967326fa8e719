/**
 * The results explorer over HTTP and through the CLI, on a stack that ran real scripts (process
 * executor): three inspections of one identifier whose script prints `@result` values from its
 * item number, the second one 2x slower, the third the same as the first.
 *
 * - metrics: every @result number and the harness's own, per metric n/median/mean/min/max/stdev/cv
 *   and the values in item order;
 * - compare: 2x slower says `slower` with an interval that excludes 1; the same script says
 *   `no significant difference`; `amun compare --fail-on-slower` exits 3 on the first, 0 on the other (it judges the
 *   @result metrics: the harness's own wall time moves with the machine's load), and honours
 *   --threshold and --metric;
 * - history: the slower inspection is marked against the one before it;
 * - listing with details and filters; `amun list` and `amun results` show them;
 * - bad input: 400 with the JSON path of each problem, 404 for an unknown identifier.
 */
import { validators } from '../../functions/core/validation.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { amun } from '../support/cli.js';
import { api, tempDir, waitFor } from '../support/stack.js';

const BATCH = 6;
const IDENTIFIER = 'explorer matmul';

/** elapsed = factor * (1 + item/100); rate = 100 / elapsed: the same values on every run of an item. */
const script = (factor: number): string =>
  ['import json, os', 'item = int(os.environ.get("AMUN_ITEM", "0"))', `elapsed = ${factor} * (1 + item / 100)`, 'print(json.dumps({"@parameters": {"n": 64}, "@result": {"elapsed": elapsed, "rate": 100 / elapsed, "nested": {"flops": 1e9 / elapsed}}}))'].join('\n');

describe('results explorer', () => {
  const dir = tempDir('amun-explorer-');
  let stack: LocalStack;
  const ids: string[] = [];

  const finished = async (id: string): Promise<void> => {
    await waitFor(`${id} to finish`, async () => {
      const s = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${id}/status`);
      return s.body?.status?.workflow?.finished ? true : undefined;
    }, 120_000, 200);
  };

  beforeAll(async () => {
    stack = await startLocalStack({ dataDir: dir.path, port: 0, executor: 'process', waitTimeSeconds: 1 });
    for (const factor of [1, 2, 1]) {
      const answer = await api(stack.apiUrl, 'POST', '/api/v1/inspect', { base: 'fedora:40', identifier: IDENTIFIER, batch_size: BATCH, script: script(factor) });
      expect(answer.status).toBe(202);
      ids.push(answer.body.inspection_id as string);
      // One after the other: their @created order is their history order.
      await finished(answer.body.inspection_id as string);
    }
  }, 300_000);
  afterAll(async () => {
    await stack?.stop();
    dir.remove();
  });

  it('GET /inspect/{id}/metrics: every @result number (nested keys dotted) and the harness metrics, with their statistics and values by item', async () => {
    const answer = await api(stack.apiUrl, 'GET', `/api/v1/inspect/${ids[0]}/metrics`);
    expect(answer.status).toBe(200);
    expect({ valid: validators.metricsAnswer(answer.body), errors: validators.metricsAnswer.errors ?? null }).toEqual({ valid: true, errors: null });
    const { metrics, runs } = answer.body;
    const elapsed = Array.from({ length: BATCH }, (_, i) => 1 + i / 100);
    expect(metrics.elapsed).toMatchObject({ source: 'result', better: 'lower', n: BATCH, min: 1, max: 1.05 });
    expect(metrics.elapsed.values).toEqual(elapsed.map((v) => expect.closeTo(v, 10)));
    expect(metrics.elapsed.median).toBeCloseTo((1.02 + 1.03) / 2, 10);
    expect(metrics.rate).toMatchObject({ source: 'result', better: 'higher' });
    expect(metrics['nested.flops']).toMatchObject({ source: 'result', n: BATCH });
    for (const name of ['wall_time', 'usage.ru_utime', 'usage.ru_maxrss']) expect(metrics[name]).toMatchObject({ source: 'harness', better: 'lower', n: BATCH });
    expect(runs.map((r: { item: number }) => r.item)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(runs[0]).toMatchObject({ exit_code: 0, reason: null, parameters: { n: 64 } });
    // Written once the inspection finished, and what the endpoint answers (one read, not one per run).
    const { parameters: _p, ...stored } = answer.body;
    expect(await stack.app.records.metrics(ids[0]!)).toEqual(stored);
  });

  it('GET /compare: a 2x slower script is slower with an interval above 1; the same script shows no significant difference', async () => {
    const answer = await api(stack.apiUrl, 'GET', `/api/v1/compare?ids=${ids[0]},${ids[1]},${ids[2]}`);
    expect(answer.status).toBe(200);
    expect({ valid: validators.compareAnswer(answer.body), errors: validators.compareAnswer.errors ?? null }).toEqual({ valid: true, errors: null });
    expect(answer.body.baseline).toBe(ids[0]);
    const [slower, same] = answer.body.comparisons as Array<{ inspection_id: string; metrics: Array<Record<string, any>>; warnings: string[] }>;
    const metric = (c: typeof slower, name: string) => c!.metrics.find((m) => m.name === name)!;
    expect(slower!.inspection_id).toBe(ids[1]);
    expect(metric(slower!, 'elapsed')).toMatchObject({ verdict: 'slower', ratio: expect.closeTo(2, 6) });
    expect(metric(slower!, 'elapsed').ci_low).toBeGreaterThan(1);
    // Rates are better higher: half the rate is slower too.
    expect(metric(slower!, 'rate')).toMatchObject({ verdict: 'slower', better: 'higher', ratio: expect.closeTo(0.5, 6) });
    expect(metric(same!, 'elapsed')).toMatchObject({ verdict: 'no significant difference', ratio: 1 });
    // Six runs each: enough to tell, on the same machine.
    expect(slower!.warnings).toEqual([]);
  });

  it('GET /identifiers/{identifier}/history: oldest first, the slower inspection marked against the one before it', async () => {
    const answer = await api(stack.apiUrl, 'GET', `/api/v1/identifiers/${encodeURIComponent(IDENTIFIER)}/history?metric=elapsed`);
    expect(answer.status).toBe(200);
    expect({ valid: validators.historyAnswer(answer.body), errors: validators.historyAnswer.errors ?? null }).toEqual({ valid: true, errors: null });
    const points = answer.body.points as Array<Record<string, any>>;
    expect(points.map((p) => p.inspection_id)).toEqual(ids);
    expect(points[0]).toMatchObject({ previous: null, comparison: null, hardware_changed: false });
    expect(points[1]).toMatchObject({ previous: ids[0], comparison: { verdict: 'slower' } });
    expect(points[2]).toMatchObject({ previous: ids[1], comparison: { verdict: 'faster' } });
    expect(answer.body.metrics).toEqual(expect.arrayContaining(['elapsed', 'rate', 'wall_time']));
  });

  it('GET /inspect?details=true, and filtered by identifier and state', async () => {
    const all = await api(stack.apiUrl, 'GET', '/api/v1/inspect?details=true');
    expect(all.status).toBe(200);
    expect(validators.listingAnswer(all.body)).toBe(true);
    expect(all.body.details.map((d: { inspection_id: string }) => d.inspection_id)).toEqual(all.body.inspections);
    expect(all.body.details[0]).toMatchObject({ identifier: IDENTIFIER, state: 'succeeded', batch_size: BATCH, items_done: BATCH, items_failed: 0 });
    const filtered = await api(stack.apiUrl, 'GET', `/api/v1/inspect?identifier=${encodeURIComponent(IDENTIFIER)}&state=succeeded&limit=2&page=2`);
    expect(filtered.body.inspections).toEqual([ids[0]]);
    const none = await api(stack.apiUrl, 'GET', `/api/v1/inspect?identifier=nothing-like-it&state=failed`);
    expect(none.body.inspections).toEqual([]);
  });

  it.each([
    ['one id', '/api/v1/compare?ids=inspection-a-00000000', '/ids'],
    ['no ids', '/api/v1/compare', '/ids'],
    ['a malformed id', '/api/v1/compare?ids=inspection-a-00000000,../../etc', '/ids/1'],
    ['an unknown state', '/api/v1/inspect?state=finished', '/state'],
    ['details not a flag', '/api/v1/inspect?details=maybe', '/details'],
    ['a control character in an identifier', '/api/v1/identifiers/a%00b/history', '/identifier'],
    ['a metric no inspection of the identifier has', `/api/v1/identifiers/${encodeURIComponent(IDENTIFIER)}/history?metric=elapsd`, '/metric'],
  ])('bad input (%s) is a 400 naming it', async (_what, path, pointer) => {
    const answer = await api(stack.apiUrl, 'GET', path);
    expect(answer.status).toBe(400);
    expect(answer.body.problems.map((p: { path: string }) => p.path)).toEqual([pointer]);
  });

  it('an unknown identifier or inspection is a 404', async () => {
    expect((await api(stack.apiUrl, 'GET', '/api/v1/identifiers/never-seen/history')).status).toBe(404);
    expect((await api(stack.apiUrl, 'GET', `/api/v1/compare?ids=${ids[0]},inspection-nothing-00000000`)).status).toBe(404);
    expect((await api(stack.apiUrl, 'GET', '/api/v1/inspect/inspection-nothing-00000000/metrics')).status).toBe(404);
  });

  it('amun compare says slower and exits 3 with --fail-on-slower; the same script exits 0', async () => {
    const env = { AMUN_URL: stack.apiUrl };
    const slower = await amun(['compare', ids[0]!, ids[1]!, '--fail-on-slower'], { env });
    expect(slower.code).toBe(3);
    expect(slower.stdout).toMatch(/^elapsed\s+lower\s+.*\s+slower$/m);
    expect(slower.stderr).toContain(`${ids[1]} elapsed`);
    const same = await amun(['compare', ids[0]!, ids[2]!, '--fail-on-slower'], { env });
    expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
    expect(same.stdout).toMatch(/^elapsed\s+.*no significant difference$/m);
    // A 2x slowdown is not beyond 150 %; it is beyond 50 %, and a rate is judged the other way up.
    expect((await amun(['compare', ids[0]!, ids[1]!, '--fail-on-slower', '--threshold', '150'], { env })).code).toBe(0);
    const rate = await amun(['compare', ids[0]!, ids[1]!, '--fail-on-slower', '--threshold', '50', '--metric', 'rate'], { env });
    expect({ code: rate.code, stderr: rate.stderr.trim() }).toEqual({ code: 3, stderr: `amun: significantly worse: ${ids[1]} rate (ratio 0.5)` });
    const unknown = await amun(['compare', ids[0]!, ids[1]!, '--fail-on-slower', '--metric', 'elapsd'], { env });
    expect({ code: unknown.code, stderr: unknown.stderr.trim() }).toEqual({ code: 2, stderr: 'amun: no compared inspection has the metric elapsd' });
  });

  it('amun results shows the @result metrics as columns with a median row; amun list shows identifier, state, runs and age', async () => {
    const env = { AMUN_URL: stack.apiUrl };
    const results = await amun(['results', ids[1]!], { env });
    expect(results.code).toBe(0);
    const lines = results.stdout.split('\n');
    expect(lines[0]).toMatch(/^item\s+exit code\s+reason\s+wall \(s\)\s+user CPU \(s\)\s+max RSS \(MiB\)\s+/);
    for (const name of ['elapsed', 'rate', 'nested.flops']) expect(lines[0]).toContain(name);
    expect(lines.find((l) => l.startsWith('median'))).toMatch(/\s2\.05(\s|$)/);
    const list = await amun(['list'], { env });
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^inspection\s+identifier\s+state\s+runs\s+age$/);
    expect(list.stdout).toMatch(new RegExp(`^${ids[2]}\\s+${IDENTIFIER}\\s+succeeded\\s+6/6\\s+\\d+ (s|min)$`, 'm'));
  });
});
