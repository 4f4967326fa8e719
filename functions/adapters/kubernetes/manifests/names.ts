/**
 * What Amun's cluster objects are called and how they are found: deterministic names (a redelivered
 * message meets 409 AlreadyExists, which counts as success), labels that carry the inspection id,
 * the annotations the reconciler reads back, and the containers' names.
 */
import { createHash } from 'node:crypto';
import { INSPECTION_ID_PATTERN } from '../../../core/layout.js';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  inspection: 'amun/inspection-id',
} as const;

export const ANNOTATIONS = {
  stackDigest: 'amun/stack-digest',
  image: 'amun/image',
  batchSize: 'amun/batch-size',
  deadlineSeconds: 'amun/deadline-seconds',
  /** The build Job's kaniko limits, quoted by the reconciler when the builder outgrows them. */
  builderMemory: 'amun/builder-memory',
  builderStorage: 'amun/builder-ephemeral-storage',
  /**
   * Set by the reconciler on a Job whose pod the scheduler cannot place: the scheduler's message,
   * kept so the result recorded at the deadline can say why (the Job controller deletes the pod then).
   */
  unschedulable: 'amun/unschedulable',
  /** When the upload grant in the Job's Secret stops working (ISO 8601); the reconciler replaces it before then (upload-grants.ts). */
  grantExpiresAt: 'amun/upload-grant-expires-at',
  /** Kubernetes' own: the completion index of a pod of an Indexed Job. */
  completionIndex: 'batch.kubernetes.io/job-completion-index',
} as const;

export const MANAGED_BY = 'amun';
export type Component = 'build' | 'run';

export const CONTAINERS = { build: 'build', report: 'report', harness: 'harness', upload: 'upload' } as const;

/** Label selector of every object Amun creates, or of one inspection's. */
export function selector(inspectionId?: string): string {
  return `${LABELS.managedBy}=${MANAGED_BY}${inspectionId ? `,${LABELS.inspection}=${inspectionId}` : ''}`;
}

export function labelsFor(inspectionId: string, component: Component): Record<string, string> {
  return { [LABELS.name]: 'amun', [LABELS.component]: component, [LABELS.managedBy]: MANAGED_BY, [LABELS.inspection]: inspectionId };
}

/** The inspection id, checked: every name and tag derived from it is then a valid one. */
export function checkInspectionId(inspectionId: string): string {
  if (!INSPECTION_ID_PATTERN.test(inspectionId)) throw new Error(`not an inspection id: ${JSON.stringify(inspectionId)}`);
  return inspectionId;
}

/** The first `digits` hex digits of sha256(inspection id): short, deterministic, distinct per inspection. */
export function inspectionHash(inspectionId: string, digits: number): string {
  return createHash('sha256').update(inspectionId).digest('hex').slice(0, digits);
}

export type ObjectSuffix = 'build' | 'run' | 'build-upload' | 'run-upload' | 'build-docker';

/** Job names stay at most 52 characters, so pod names and Indexed pod hostnames fit in 63. */
const MAX_NAME = 52;

/** `<id>-<suffix>`, or a shortened id with a hash when that is too long: deterministic either way. */
export function objectName(inspectionId: string, suffix: ObjectSuffix): string {
  const plain = `${checkInspectionId(inspectionId)}-${suffix}`;
  if (plain.length <= MAX_NAME) return plain;
  const hash = inspectionHash(inspectionId, 8);
  const room = MAX_NAME - suffix.length - hash.length - 2;
  return `${inspectionId.slice(0, room).replace(/-+$/, '')}-${hash}-${suffix}`;
}
