/**
 * Where a pod may run: the spec's hardware and GPU requests as node affinity, node selectors,
 * tolerations and resource limits, through a label map that names the node labels a cluster has.
 *
 * Presets:
 *   nfd        Node Feature Discovery: cpu_family → feature.node.kubernetes.io/cpu-model.family,
 *              cpu_model → …/cpu-model.id, processor → …/cpu-model.vendor_id (a vendor as NFD
 *              writes it: Intel, AMD; a model name is refused); GPU product → nvidia.com/gpu.product
 *              (GPU Feature Discovery)
 *   karpenter  Karpenter's well-known labels, which it can provision for on a cluster with no nodes
 *              yet: processor → karpenter.k8s.aws/instance-cpu-manufacturer (intel, amd, aws),
 *              cpu_family/cpu_model → karpenter.k8s.aws/instance-family In the EC2 families built
 *              on that CPU (CPU_INSTANCE_FAMILIES), GPU product → karpenter.k8s.aws/instance-gpu-name
 *              (h100, a10g…). The instance family gets the node; each result's hardware_match checks
 *              the CPU it really ran on.
 *   eks-auto   EKS Auto Mode's labels, the same way: eks.amazonaws.com/instance-cpu-manufacturer,
 *              eks.amazonaws.com/instance-family, eks.amazonaws.com/instance-gpu-name
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
  /**
   * A node label naming the EC2 instance family: cpu_family and cpu_model are then placed together
   * by the families built on that CPU (CPU_INSTANCE_FAMILIES) instead of by CPU labels of their own.
   */
  instanceFamily?: string;
  /**
   * The autoscaler that launches nodes for these labels (Karpenter, EKS Auto Mode): a cluster may
   * have no node that carries them until a pod asks for one.
   */
  provisioner?: string;
}

export type LabelPreset = 'nfd' | 'karpenter' | 'eks-auto' | 'amun';

/** One CPU (as /proc/cpuinfo numbers it) and the EC2 instance families whose instances have it. */
export interface CpuInstanceFamilies {
  family: number;
  model: number;
  /** What it is, for messages. */
  name: string;
  instanceFamilies: ReadonlyArray<string>;
}

/**
 * x86 CPUs of EC2's current instance families, from AWS's instance type pages (processor per
 * family) and the CPUs' /proc/cpuinfo family and model numbers. Not every family of a CPU is
 * listed: those listed are what a placement may be given, and each run's hardware_match still
 * checks what the node had. A request for a CPU not in this table is refused at submit.
 */
export const CPU_INSTANCE_FAMILIES: ReadonlyArray<CpuInstanceFamilies> = [
  { family: 6, model: 79, name: 'Intel Xeon Broadwell', instanceFamilies: ['p3'] },
  { family: 6, model: 85, name: 'Intel Xeon Skylake-SP / Cascade Lake', instanceFamilies: ['c5', 'c5d', 'c5n', 'g4dn', 'm5', 'm5d', 'm5dn', 'm5n', 'm5zn', 'p3dn', 'p4d', 'r5', 'r5b', 'r5d', 'r5dn', 'r5n', 'z1d'] },
  { family: 6, model: 106, name: 'Intel Xeon Ice Lake-SP', instanceFamilies: ['c6i', 'c6id', 'c6in', 'm6i', 'm6id', 'm6idn', 'm6in', 'r6i', 'r6id', 'r6idn', 'r6in'] },
  { family: 6, model: 143, name: 'Intel Xeon Sapphire Rapids', instanceFamilies: ['c7i', 'm7i', 'r7i', 'r7iz'] },
  { family: 23, model: 1, name: 'AMD EPYC Naples', instanceFamilies: ['m5a', 'm5ad', 'r5a', 'r5ad'] },
  { family: 23, model: 49, name: 'AMD EPYC Rome', instanceFamilies: ['c5a', 'c5ad', 'g4ad', 'g5'] },
  { family: 25, model: 1, name: 'AMD EPYC Milan', instanceFamilies: ['c6a', 'g6', 'g6e', 'm6a', 'p5', 'r6a'] },
  { family: 25, model: 17, name: 'AMD EPYC Genoa', instanceFamilies: ['c7a', 'm7a', 'r7a'] },
];

/** The instance families with the requested CPU family and model (either may be left out). */
export function instanceFamiliesFor(family: number | undefined, model: number | undefined): string[] {
  const rows = CPU_INSTANCE_FAMILIES.filter((r) => (family === undefined || r.family === family) && (model === undefined || r.model === model));
  return [...new Set(rows.flatMap((r) => r.instanceFamilies))].sort();
}

const KNOWN_CPUS = (): string => CPU_INSTANCE_FAMILIES.map((r) => `${r.family}/${r.model} (${r.name})`).join(', ');

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
    instanceFamily: 'karpenter.k8s.aws/instance-family',
    provisioner: 'Karpenter',
  },
  'eks-auto': {
    name: 'eks-auto',
    hardware: {
      processor: { key: 'eks.amazonaws.com/instance-cpu-manufacturer', value: lower, accepts: VENDOR },
    },
    gpuProduct: { key: 'eks.amazonaws.com/instance-gpu-name', value: karpenterGpuName },
    instanceFamily: 'eks.amazonaws.com/instance-family',
    provisioner: 'EKS Auto Mode',
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
  const byInstanceFamily = labels.instanceFamily !== undefined && (hardware.cpu_family !== undefined || hardware.cpu_model !== undefined);
  if (byInstanceFamily) {
    const families = instanceFamiliesFor(hardware.cpu_family, hardware.cpu_model);
    if (families.length > 0) nodeAffinity.push({ key: labels.instanceFamily!, operator: 'In', values: families });
    else {
      const field = hardware.cpu_model !== undefined ? 'cpu_model' : 'cpu_family';
      problems.push({
        path: `${path}/hardware/${field}`,
        message: `the cluster's node labels (preset ${labels.name}) place a CPU by the EC2 instance families built on it, and none is known for CPU family ${hardware.cpu_family ?? 'any'} model ${hardware.cpu_model ?? 'any'}; known: ${KNOWN_CPUS()}`,
      });
    }
  }
  for (const field of HARDWARE_FIELDS) {
    const requested = hardware[field];
    if (requested === undefined) continue;
    if (byInstanceFamily && (field === 'cpu_family' || field === 'cpu_model')) continue;
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
