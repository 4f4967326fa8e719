/** Requested vs actual hardware: the comparison every result carries, and the summary's count. */
import type { Hwinfo, InspectionSpecification, RunReport } from '../../functions/core/generated/types.js';
import { compareHardware, labelForm, withHardwareMatch } from '../../functions/core/hardware.js';
import { syntheticResult } from '../../functions/core/results.js';
import { computeSummary } from '../../functions/core/summary.js';
import { validators } from '../../functions/core/validation.js';

const hwinfo = (over: { cpu?: Partial<Hwinfo['cpu_info']>; gpus?: Hwinfo['gpus']; processor?: string } = {}): Hwinfo => ({
  cpu_info: { arch: 'X86_64', bits: 64, count: 8, family: 6, model: 85, brand_raw: 'Intel Xeon Processor (Skylake, IBRS)', physical_cpus: 4, ...over.cpu },
  cpu_features: { flags: ['avx2'] },
  cpu_type: {},
  platform: { architecture: ['64bit', 'ELF'], machine: 'x86_64', node: 'n', platform: 'Linux', processor: over.processor ?? 'x86_64', release: '6', version: '#1' },
  memory: null,
  gpus: over.gpus ?? [],
});

describe('compareHardware', () => {
  it('matches trivially when nothing is requested, even without hwinfo', () => {
    expect(compareHardware(undefined, null)).toEqual({ match: true, mismatches: [] });
    expect(compareHardware({ cpu: '1', memory: '1Gi' }, hwinfo())).toEqual({ match: true, mismatches: [] });
  });

  it('is unknown (null) when something was requested but the run has no hwinfo', () => {
    expect(compareHardware({ hardware: { cpu_family: 6 } }, null)).toEqual({ match: null, mismatches: [] });
  });

  it('compares cpu_family, cpu_model and physical_cpus exactly', () => {
    expect(compareHardware({ hardware: { cpu_family: 6, cpu_model: 85, physical_cpus: 4 } }, hwinfo())).toEqual({ match: true, mismatches: [] });
    expect(compareHardware({ hardware: { cpu_family: 23, cpu_model: 85, physical_cpus: 8 } }, hwinfo())).toEqual({
      match: false,
      mismatches: [
        { field: 'cpu_family', requested: 23, actual: 6 },
        { field: 'physical_cpus', requested: 8, actual: 4 },
      ],
    });
    expect(compareHardware({ hardware: { cpu_model: 85 } }, hwinfo({ cpu: { model: null } }))).toEqual({ match: false, mismatches: [{ field: 'cpu_model', requested: 85, actual: null }] });
  });

  it('compares processor as a node label writes the CPU model name', () => {
    expect(labelForm('Intel Xeon Processor (Skylake, IBRS)')).toBe('intel-xeon-processor-skylake-ibrs');
    expect(labelForm('Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz')).toBe('intel-xeon-gold-6230-cpu-2-10ghz');
    expect(compareHardware({ hardware: { processor: 'Intel-Xeon-Processor-Skylake-IBRS' } }, hwinfo()).match).toBe(true);
    expect(compareHardware({ hardware: { processor: 'x86_64' } }, hwinfo()).match).toBe(true);
    expect(compareHardware({ hardware: { processor: 'AMD-EPYC-7742' } }, hwinfo())).toEqual({
      match: false,
      mismatches: [{ field: 'processor', requested: 'AMD-EPYC-7742', actual: 'Intel Xeon Processor (Skylake, IBRS)' }],
    });
  });

  it('compares the GPU count exactly and every GPU against the product label', () => {
    const h100 = { name: 'NVIDIA H100 80GB HBM3' };
    expect(compareHardware({ gpu: { count: 1, product: 'NVIDIA-H100-80GB-HBM3' } }, hwinfo({ gpus: [h100] }))).toEqual({ match: true, mismatches: [] });
    expect(compareHardware({ gpu: { count: 1 } }, hwinfo({ gpus: [h100, h100] }))).toEqual({ match: false, mismatches: [{ field: 'gpu.count', requested: 1, actual: 2 }] });
    expect(compareHardware({ gpu: { count: 1, product: 'NVIDIA-A100-SXM4-40GB' } }, hwinfo())).toEqual({
      match: false,
      mismatches: [
        { field: 'gpu.count', requested: 1, actual: 0 },
        { field: 'gpu.product', requested: 'NVIDIA-A100-SXM4-40GB', actual: [] },
      ],
    });
    expect(compareHardware({ gpu: { count: 2, product: 'NVIDIA-H100-80GB-HBM3' } }, hwinfo({ gpus: [h100, { name: 'NVIDIA A100-SXM4-40GB' }] })).mismatches).toEqual([
      { field: 'gpu.product', requested: 'NVIDIA-H100-80GB-HBM3', actual: ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-40GB'] },
    ]);
  });
});

describe('withHardwareMatch and the summary', () => {
  const spec: InspectionSpecification = { base: 'b', script: 's', batch_size: 3, run: { requests: { hardware: { cpu_family: 6 } } } };
  const report = (item: number, family: number): RunReport => ({
    ...syntheticResult({ inspectionId: 'inspection-h-00000000', item, executor: 'container', reason: 'deadline', message: 'm', script: 's', startedAt: new Date(0), finishedAt: new Date(1000) }),
    reason: null,
    exit_code: 0,
    hwinfo: hwinfo({ cpu: { family } }),
  });

  it('sets both fields, and the result stays valid', () => {
    const stamped = withHardwareMatch(report(0, 23), spec);
    expect(stamped).toMatchObject({ hardware_match: false, hardware_mismatches: [{ field: 'cpu_family', requested: 6, actual: 23 }] });
    expect(validators.result(stamped)).toBe(true);
    expect(withHardwareMatch(report(1, 6), spec)).toMatchObject({ hardware_match: true, hardware_mismatches: [] });
  });

  it('counts mismatching items in the summary, comparing reports that arrived without the fields', () => {
    const results = new Map<number, RunReport>([
      [0, withHardwareMatch(report(0, 23), spec)],
      [1, withHardwareMatch(report(1, 6), spec)],
      [2, report(2, 23)], // as a cluster run writes it: compared by the summary
    ]);
    const summary = computeSummary({ inspectionId: 'inspection-h-00000000', spec, build: undefined, results });
    expect(summary.hardware_mismatches).toBe(2);
    expect(summary.items.map((i) => i.hardware_match)).toEqual([false, true, false]);
  });
});

describe('processor requested as a vendor (the nfd and karpenter placement presets)', () => {
  it('matches the vendor of /proc/cpuinfo and still refuses another vendor', async () => {
    const { compareHardware } = await import('../../functions/core/hardware.js');
    const hwinfo = { cpu_info: { brand_raw: 'Intel Xeon Processor (Skylake, IBRS)', vendor_id_raw: 'GenuineIntel', family: 6, model: 85 }, platform: { processor: 'x86_64' } } as never;
    expect(compareHardware({ hardware: { processor: 'Intel' } }, hwinfo).match).toBe(true);
    expect(compareHardware({ hardware: { processor: 'AMD' } }, hwinfo)).toMatchObject({ match: false, mismatches: [{ field: 'processor', requested: 'AMD' }] });
  });
});
