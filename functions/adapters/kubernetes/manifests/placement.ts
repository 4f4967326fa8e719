/**
 * Where a pod may run: the spec's hardware and GPU requests as node affinity, node selectors,
 * tolerations and resource limits, through a label map that names the node labels a cluster has.
 *
 * Presets:
 *   nfd        Node Feature Discovery: cpu_family → feature.node.kubernetes.io/cpu-model.family,
 *              cpu_model → …/cpu-model.id, processor → …/cpu-model.vendor_id (a vendor as NFD
 *              writes it: Intel, AMD; a model name is refused); GPU product → nvidia.com/gpu.product
 *              (GPU Feature Discovery)
 *   karpenter  Karpenter's well-known labels: processor → karpenter.k8s.aws/instance-cpu-manufacturer
 *              (intel, amd, aws), GPU product → karpenter.k8s.aws/instance-gpu-name (h100, a10g…)
 *   amun       the original deployment's own node labels CPU_FAMILY, CPU_MODEL, PHYSICAL_CPUS and
 *              processor (a model name in label form: "Intel Xeon Processor (Skylake, IBRS)" is
 *              placed as Intel-Xeon-Processor-Skylake-IBRS, the form the original's nodes carry),
 *              and nvidia.com/gpu.product
 *
 * A requested field that the label map cannot express is refused (PlacementError), never dropped:
 * a run placed on whatever node happens to be free is the original's bug this replaces. The
 * refusal happens at submit (checkPlacement, a 400 naming the field and the preset), not in a
 * failed build later.
 */
import type { V1NodeSelectorRequirement, V1Toleration } from '@kubernetes/client-node';
import { SpecificationError, type Problem } from '../../../core/errors.js';
import type { Hardware, RunRequests } from '../../../core/generated/types.js';

export type HardwareField = keyof Hardware;
export const HARDWARE_FIELDS: ReadonlyArray<HardwareField> = ['cpu_family', 'cpu_model', 'physical_cpus', 'processor'];

export interface LabelRule {
  key: string;
  /** The label value for a requested value; the value as text when absent. */
  value?: (requested: string | number) => string;
  /** Requested values the label can express, and what to tell the user about the others. */
  accepts?: { test: (requested: string | number) => boolean; expected: string };
}

/** A CPU vendor as NFD and Karpenter label it (Intel, AMD, ARM…), not a model name. */
const VENDOR = { test: (v: string | number) => /^[A-Za-z]+$/.test(String(v)), expected: 'a CPU vendor (Intel, AMD, ARM…); a model name needs the amun preset' };

export interface LabelMap {
  name: string;
  hardware: Partial<Record<HardwareField, LabelRule>>;
  gpuProduct: LabelRule;
}

export type LabelPreset = 'nfd' | 'karpenter' | 'amun';

/** Karpenter's instance-gpu-name is the short lower-case model: NVIDIA-H100-80GB-HBM3 → h100. */
export function karpenterGpuName(product: string | number): string {
  const words = String(product).split(/[-_ ]+/).filter((w) => w !== '' && !/^(nvidia|tesla)$/i.test(w));
  return (words[0] ?? String(product)).toLowerCase();
}

const lower = (v: string | number): string => String(v).toLowerCase();

/**
 * A CPU model name as a node label value: "(R)"/"(TM)" marks dropped, runs of other characters one
 * '-', case kept ("Intel Xeon Processor (Skylake, IBRS)" → "Intel-Xeon-Processor-Skylake-IBRS").
 * A name already in label form is unchanged.
 */
export function processorLabel(name: string | number): string {
  return String(name)
    .replace(/\((?:R|TM|C)\)/gi, ' ')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export const LABEL_PRESETS: Readonly<Record<LabelPreset, LabelMap>> = {
  nfd: {
    name: 'nfd',
    hardware: {
      cpu_family: { key: 'feature.node.kubernetes.io/cpu-model.family' },
      cpu_model: { key: 'feature.node.kubernetes.io/cpu-model.id' },
      processor: { key: 'feature.node.kubernetes.io/cpu-model.vendor_id', accepts: VENDOR },
    },
    gpuProduct: { key: 'nvidia.com/gpu.product' },
  },
  karpenter: {
    name: 'karpenter',
    hardware: {
      processor: { key: 'karpenter.k8s.aws/instance-cpu-manufacturer', value: lower, accepts: VENDOR },
    },
    gpuProduct: { key: 'karpenter.k8s.aws/instance-gpu-name', value: karpenterGpuName },
  },
  amun: {
    name: 'amun',
    hardware: {
      cpu_family: { key: 'CPU_FAMILY' },
      cpu_model: { key: 'CPU_MODEL' },
      physical_cpus: { key: 'PHYSICAL_CPUS' },
      processor: { key: 'processor', value: processorLabel },
    },
    gpuProduct: { key: 'nvidia.com/gpu.product' },
  },
};

export function labelPreset(name: string): LabelMap {
  const preset = LABEL_PRESETS[name as LabelPreset];
  if (!preset) throw new Error(`unknown node label preset ${JSON.stringify(name)}: expected one of ${Object.keys(LABEL_PRESETS).join(', ')}`);
  return preset;
}

/** A request the cluster's label map cannot place. */
export class PlacementError extends SpecificationError {}

export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_TAINT = 'nvidia.com/gpu';

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export interface Placement {
  /** Required node affinity: one term, every expression must hold. */
  nodeAffinity: V1NodeSelectorRequirement[];
  nodeSelector: Record<string, string>;
  tolerations: V1Toleration[];
  /** Extended resources for limits (the GPU count). */
  limits: Record<string, string>;
}

/**
 * Placement of a pod from `requests` (build.requests or run.requests). `path` is the JSON Pointer
 * of `requests` in the specification, for error messages.
 */
export function placement(requests: RunRequests | undefined, labels: LabelMap, path: string): Placement {
  const problems: Problem[] = [];
  const nodeAffinity: V1NodeSelectorRequirement[] = [];
  const hardware = requests?.hardware ?? {};
  for (const field of HARDWARE_FIELDS) {
    const requested = hardware[field];
    if (requested === undefined) continue;
    const rule = labels.hardware[field];
    if (!rule) {
      problems.push({ path: `${path}/hardware/${field}`, message: `the cluster's node labels (preset ${labels.name}) cannot place ${field}: ask the cluster admin for a label map that has it, or leave it out` });
      continue;
    }
    if (rule.accepts && !rule.accepts.test(requested)) {
      problems.push({ path: `${path}/hardware/${field}`, message: `the cluster's node labels (preset ${labels.name}) place ${field} by ${rule.key}, which expects ${rule.accepts.expected}` });
      continue;
    }
    const value = rule.value ? rule.value(requested) : String(requested);
    if (!LABEL_VALUE.test(value)) {
      problems.push({ path: `${path}/hardware/${field}`, message: `${JSON.stringify(value)} is not a valid node label value (preset ${labels.name}, label ${rule.key}: at most 63 letters, digits, '-', '_', '.')` });
      continue;
    }
    nodeAffinity.push({ key: rule.key, operator: 'In', values: [value] });
  }
  const nodeSelector: Record<string, string> = {};
  const tolerations: V1Toleration[] = [];
  const limits: Record<string, string> = {};
  const gpu = requests?.gpu;
  if (gpu) {
    limits[GPU_RESOURCE] = String(gpu.count);
    tolerations.push({ key: GPU_TAINT, operator: 'Exists', effect: 'NoSchedule' });
    if (gpu.product !== undefined) {
      const value = labels.gpuProduct.value ? labels.gpuProduct.value(gpu.product) : gpu.product;
      if (LABEL_VALUE.test(value)) nodeSelector[labels.gpuProduct.key] = value;
      else problems.push({ path: `${path}/gpu/product`, message: `${JSON.stringify(value)} is not a valid node label value` });
    }
  }
  if (problems.length > 0) {
    const fields = problems.map((p) => p.path.split('/').pop()).join(', ');
    throw new PlacementError(`the requested hardware cannot be placed on this cluster (node labels: ${labels.name}): ${fields}`, problems);
  }
  return { nodeAffinity, nodeSelector, tolerations, limits };
}

/**
 * Refuses at submit what the cluster's label map can never place: the build's and the run's
 * requests together, every problem with its JSON Pointer and the preset named (a PlacementError is
 * a SpecificationError: the API answers 400 and stores nothing).
 */
export function checkPlacement(spec: { build?: { requests?: RunRequests } | undefined; run?: { requests?: RunRequests } | undefined }, labels: LabelMap): void {
  const problems: Problem[] = [];
  for (const [requests, path] of [[spec.build?.requests, '/build/requests'], [spec.run?.requests, '/run/requests']] as const) {
    try {
      placement(requests, labels, path);
    } catch (error) {
      if (!(error instanceof PlacementError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) {
    const fields = problems.map((p) => p.path).join(', ');
    throw new PlacementError(`the requested hardware cannot be placed on this cluster (node labels: preset ${labels.name}): ${fields}`, problems);
  }
}
