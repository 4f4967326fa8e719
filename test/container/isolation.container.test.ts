/**
 * What a script cannot do under the container executor, on a real engine (the executor called
 * directly, as the run stage calls it): outlive its run, see the server's environment, or lose an
 * output by making it large.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus } from '../../functions/core/generated/types.js';
import type { FileBody, LogSink } from '../../functions/core/ports.js';
import { ContainerExecutor } from '../../functions/adapters/executors/container.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { tempDir } from '../support/stack.js';
import type { Specification } from '../../functions/core/specification.js';

const LONG = 5 * 60_000;
const NONCE = randomBytes(6).toString('hex');
const SECRET = `server-secret-${NONCE}`;

const quietLog: LogSink = { write: () => undefined, flush: async () => undefined };

describeWithEngine('container executor isolation', (engine) => {
  const dir = tempDir('amun-container-isolation-');
  const executor = new ContainerExecutor({ engine: engine.engine, engineFlags: engine.flags, dataDir: dir.path, output: { logBytes: 64 * 1024, resultBytes: 16 * 1024 } });
  const images = new Set<string>();
  let counter = 0;
  const saved = process.env.AMUN_TEST_SERVER_SECRET;

  beforeAll(() => {
    process.env.AMUN_TEST_SERVER_SECRET = SECRET;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.AMUN_TEST_SERVER_SECRET;
    else process.env.AMUN_TEST_SERVER_SECRET = saved;
    for (const image of images) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    dir.remove();
  });

  const runOne = async (script: string, extra: Partial<Specification> = {}, deadlineSeconds = 60) => {
    const spec: Specification = { base: BASE_IMAGE, script, batch_size: 1, environment: [{ name: 'AMUN_TEST_NONCE', value: NONCE }], ...extra };
    const generated = generateBuild(spec, harnessFiles);
    const inspectionId = `inspection-isolation-${String(++counter).padStart(8, '0')}`;
    const outcome = await executor.build({ inspectionId, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log: quietLog });
    expect(outcome.state).toBe('succeeded');
    if (outcome.image) images.add(outcome.image);
    const build: BuildStatus = { ...outcome, inspection_id: inspectionId, executor: 'container' };
    const output = await executor.runItem({ inspectionId, item: 0, spec, build, context: async () => [], deadlineSeconds });
    try {
      const log = Buffer.isBuffer(output.log) ? output.log : readFileSync((output.log as FileBody).path);
      return { report: JSON.parse(output.result.toString('utf8')) as any, log, inspectionId };
    } finally {
      await output.release?.();
    }
  };

  it('ends what the script left running, a setsid daemon included, and lists it', async () => {
    // The script leaves once the daemon runs `sleep` (setsid has forked it and exited), so that
    // what the harness finds and lists is the daemon, whatever the machine's speed.
    const { report } = await runOne(
      [
        'import os, subprocess, time',
        'subprocess.Popen(["setsid", "sleep", "300"], start_new_session=True).wait()',
        'def daemon():',
        '    for name in filter(str.isdigit, os.listdir("/proc")):',
        '        try:',
        '            if open("/proc/%s/cmdline" % name, "rb").read() == b"sleep\\x00300\\x00":',
        '                return True',
        '        except OSError:',
        '            pass',
        'until = time.time() + 30',
        'while not daemon() and time.time() < until:',
        '    time.sleep(0.01)',
        'print("bye")',
        '',
      ].join('\n'),
    );
    expect(report).toMatchObject({ exit_code: 0, reason: null, containment: 'pid_namespace', stdout: 'bye\n' });
    expect(report.killed_processes).toEqual([{ pid: expect.any(Number), command: 'sleep 300' }]);
  }, LONG);

  it("never shows a script the server's environment", async () => {
    const { report, log } = await runOne('import json, os\nprint(json.dumps(dict(os.environ)))\n');
    expect(JSON.stringify(report)).not.toContain(SECRET);
    expect(log.toString()).not.toContain(SECRET);
    expect(report.stdout.AMUN_TEST_NONCE).toBe(NONCE);
    expect(report.stdout).not.toHaveProperty('AMUN_TEST_SERVER_SECRET');
  }, LONG);

  it('keeps the head and tail of an output far over the limits, and says so', async () => {
    const { report, log } = await runOne('import sys\nsys.stdout.write("h" * 100000 + "x" * 20000000 + "THE END")\nsys.stderr.write("e" * 50000)\n');
    expect(report).toMatchObject({ exit_code: 0, truncated: true, output_bytes: { stdout: 20_100_007, stderr: 50_000 } });
    expect(Buffer.byteLength(JSON.stringify(report.stdout))).toBeLessThanOrEqual(16 * 1024);
    expect(report.stdout.startsWith('hhhh')).toBe(true);
    expect(report.stdout.endsWith('THE END')).toBe(true);
    expect(log.length).toBeLessThan(2 * 64 * 1024 + 1024);
    expect(log.toString()).toContain('bytes of stdout left out here; the stream had 20100007 bytes');
  }, LONG);
});
