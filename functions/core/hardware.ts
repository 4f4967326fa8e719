/**
 * Requested versus actual hardware: the node's hwinfo (as the harness recorded it) against the
 * spec's `run.requests.hardware` and `run.requests.gpu`. Every run report carries the outcome as
 * `hardware_match` and `hardware_mismatches`, whatever executor ran it; the summary counts the
 * reports whose `hardware_match` is false.
 *
 * Rules, one per requested field:
 *   cpu_family, cpu_model   equal to hwinfo.cpu_info.family / .model (/proc/cpuinfo's numbers)
 *   physical_cpus           equal to hwinfo.cpu_info.physical_cpus (distinct physical cores)
 *   processor               equal to the CPU's model name as a node label writes it: /proc/cpuinfo's
 *                           "Intel Xeon Processor (Skylake, IBRS)" is "Intel-Xeon-Processor-Skylake-IBRS"
 *                           (runs of other characters become one '-', "(R)"/"(TM)" marks dropped,
 *                           compared case-insensitively); the platform's processor name
 *                           ("x86_64") matches too, and so does the vendor ("Intel" for
 *                           GenuineIntel), which is what the nfd and karpenter placement presets pin
 *   gpu.count               equal to the number of GPUs the run saw: a run that sees more GPUs than
 *                           it asked for is not the run that was asked for
 *   gpu.product             every GPU the run saw has that product name, compared as a label
 *                           ("NVIDIA H100 80GB HBM3" is "NVIDIA-H100-80GB-HBM3")
 *
 * `hardware_match` is true when nothing was requested or everything requested matched, false when
 * a requested field differs (or could not be read: the actual value is then null), and null when
 * there is no hwinfo to compare with (the run never reached the harness).
 */
import type { Hwinfo, InspectionSpecification, RunReport } from './generated/types.js';

/** /proc/cpuinfo vendor ids as node labels name the vendor. */
const VENDORS: Record<string, string> = { GenuineIntel: 'Intel', AuthenticAMD: 'AMD', HygonGenuine: 'Hygon', CentaurHauls: 'VIA' };

export interface HardwareMismatch {
  field: string;
  requested: unknown;
  actual: unknown;
}

export interface HardwareComparison {
  match: boolean | null;
  mismatches: HardwareMismatch[];
}

type RunRequests = NonNullable<NonNullable<InspectionSpecification['run']>['requests']>;

/** A CPU or GPU name the way node labels carry it. */
export function labelForm(name: string): string {
  return name
    .replace(/\((?:R|TM|C)\)/gi, ' ')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase();
}

function hasRequests(requests: RunRequests | undefined): boolean {
  const hw = requests?.hardware ?? {};
  return Object.values(hw).some((v) => v !== undefined) || requests?.gpu !== undefined;
}

export function compareHardware(requests: RunRequests | undefined, hwinfo: Hwinfo | null | undefined): HardwareComparison {
  if (!hasRequests(requests)) return { match: true, mismatches: [] };
  if (!hwinfo || typeof hwinfo !== 'object') return { match: null, mismatches: [] };
  const mismatches: HardwareMismatch[] = [];
  const cpu = hwinfo.cpu_info ?? ({} as Partial<Hwinfo['cpu_info']>);
  const hw = requests?.hardware ?? {};
  const numeric = (field: string, requested: number | undefined, actual: number | null | undefined): void => {
    if (requested === undefined) return;
    if (actual !== requested) mismatches.push({ field, requested, actual: actual ?? null });
  };
  numeric('cpu_family', hw.cpu_family, cpu.family);
  numeric('cpu_model', hw.cpu_model, cpu.model);
  numeric('physical_cpus', hw.physical_cpus, cpu.physical_cpus);
  if (hw.processor !== undefined) {
    const wanted = labelForm(hw.processor);
    const brand = typeof cpu.brand_raw === 'string' ? cpu.brand_raw : null;
    const platformProcessor = typeof hwinfo.platform?.processor === 'string' ? hwinfo.platform.processor : null;
    // Node Feature Discovery and Karpenter presets place by vendor ("Intel", "AMD"): that matches too.
    const vendor = typeof cpu.vendor_id_raw === 'string' ? (VENDORS[cpu.vendor_id_raw] ?? cpu.vendor_id_raw) : null;
    const matches = [brand, platformProcessor, vendor].some((name) => name !== null && name !== '' && labelForm(name) === wanted);
    if (!matches) mismatches.push({ field: 'processor', requested: hw.processor, actual: brand ?? platformProcessor });
  }
  const gpu = requests?.gpu;
  if (gpu !== undefined) {
    const gpus = Array.isArray(hwinfo.gpus) ? hwinfo.gpus : [];
    if (gpus.length !== gpu.count) mismatches.push({ field: 'gpu.count', requested: gpu.count, actual: gpus.length });
    if (gpu.product !== undefined) {
      const wanted = labelForm(gpu.product);
      const names = gpus.map((g) => g.name);
      if (names.length === 0 || names.some((name) => labelForm(name) !== wanted)) {
        mismatches.push({ field: 'gpu.product', requested: gpu.product, actual: names });
      }
    }
  }
  return { match: mismatches.length === 0, mismatches };
}

/** The report with `hardware_match` and `hardware_mismatches` set from the spec's run requests. */
export function withHardwareMatch(report: RunReport, spec: InspectionSpecification): RunReport {
  const { match, mismatches } = compareHardware(spec.run?.requests, report.hwinfo);
  return { ...report, hardware_match: match, hardware_mismatches: mismatches };
}
