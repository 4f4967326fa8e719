/**
 * The harness's `usage` checked from above and below against workloads of known size (see
 * test/support/rusage.ts), through the container executor on a real engine: the harness runs as
 * the image's entrypoint, the script inside the container.
 */
import { randomBytes } from 'node:crypto';
import { generateBuild } from '../../functions/core/dockerfile.js';
import { harnessFiles } from '../../functions/core/generated/harness.js';
import type { BuildStatus, RunReport } from '../../functions/core/generated/types.js';
import type { LogSink } from '../../functions/core/ports.js';
import { ContainerExecutor } from '../../functions/adapters/executors/container.js';
import { run } from '../../functions/adapters/executors/spawn.js';
import { describeUsageChecks, measured, RUSAGE_SCRIPT, type Measured } from '../support/rusage.js';
import { BASE_IMAGE, describeWithEngine } from '../support/container.js';
import { tempDir } from '../support/stack.js';
import type { Specification } from '../../functions/core/specification.js';

const LONG = 5 * 60_000;

class MemoryLog implements LogSink {
  text = '';
  write(chunk: string | Buffer): void {
    this.text += chunk.toString();
  }
  async flush(): Promise<void> {}
}

describeWithEngine('usage reported through the container executor', (engine) => {
  const dir = tempDir('amun-rusage-container-');
  const executor = new ContainerExecutor({ engine: engine.engine, engineFlags: engine.flags, dataDir: dir.path });
  let image: string | null = null;
  let baseline: Measured;
  let workload: Measured;

  beforeAll(async () => {
    // One whole CPU and room for the 150 MiB block; a fresh image (the nonce), so that nothing cached stands in for the harness under test.
    const spec: Specification = {
      base: BASE_IMAGE, script: RUSAGE_SCRIPT, batch_size: 2,
      environment: [{ name: 'AMUN_TEST_NONCE', value: randomBytes(6).toString('hex') }],
      run: { requests: { cpu: '1', memory: '512Mi' } },
    };
    const generated = generateBuild(spec, harnessFiles);
    const log = new MemoryLog();
    const inspectionId = 'inspection-rusage-00000002';
    const outcome = await executor.build({ inspectionId, spec, dockerfile: generated.dockerfile, context: generated.context, stackDigest: generated.stackDigest, log });
    expect({ state: outcome.state, log: outcome.state === 'succeeded' ? '' : log.text }).toEqual({ state: 'succeeded', log: '' });
    const build = { ...outcome, inspection_id: inspectionId, executor: 'container' } as BuildStatus;
    image = build.image;
    const runItem = async (item: number): Promise<Measured> => {
      const output = await executor.runItem({ inspectionId, item, spec, build, context: async () => [], deadlineSeconds: 100 });
      const report = JSON.parse(output.result.toString('utf8')) as RunReport;
      expect(report.executor).toBe('container');
      return measured(report);
    };
    baseline = await runItem(0);
    workload = await runItem(1);
  }, LONG);

  afterAll(async () => {
    if (image) await run(engine.engine, [...engine.flags, 'rmi', image]).catch(() => undefined);
    dir.remove();
  });

  describeUsageChecks(() => ({ baseline, workload }));
});
