/**
 * The pieces both Jobs are made of: in-pod paths, the uploader's identity, resources with
 * Guaranteed QoS, restricted container security, placement as affinity, selectors and tolerations,
 * environment variables, and the Job metadata and failure rule they share.
 */
import type { V1Affinity, V1EnvVar, V1ObjectMeta, V1PodFailurePolicyRule, V1PodSpec, V1ResourceRequirements, V1SecurityContext } from '@kubernetes/client-node';
import { DEFAULT_REQUESTS } from '../../../core/specification.js';
import { ANNOTATIONS, LABELS, MANAGED_BY } from './names.js';
import type { Placement } from './placement.js';

/** In-pod paths. */
export const POD_PATHS = {
  work: '/amun/work',
  secrets: '/amun/secrets',
  uploadOutput: '/amun/output',
  dockerConfig: '/kaniko/.docker',
  shell: '/busybox/sh',
} as const;

/**
 * UID and GID of the steps that hold the upload grants (the build's report step, the runs' upload
 * sidecar): never the harness's RUN_USER. Also the pods' fsGroup, which the grant files (mode 0400,
 * to which the kubelet adds group read) belong to. fsGroup is every container's supplementary
 * group, so what keeps the user's code from the grants is that only these steps mount them.
 */
export const UPLOADER_USER = 1043;
/** Mode of the grant files in the upload Secret's volume (the kubelet adds group read for fsGroup). */
export const GRANT_FILE_MODE = 0o400;
export const SIDECAR_RESOURCES: V1ResourceRequirements = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '50m', memory: '64Mi' } };

/** Disruptions (preemption, eviction, node drain) are retried and not counted, in every Job. */
export const ignoreDisruptions = (): V1PodFailurePolicyRule => ({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });

/** Metadata of an Amun Job: its deterministic name, the namespace, the inspection's labels. */
export function jobMetadata(name: string, namespace: string, labels: Record<string, string>, annotations: Record<string, string>): V1ObjectMeta {
  return { name, namespace, labels, annotations };
}

export function resources(requests: { cpu?: string; memory?: string } | undefined, extra: Record<string, string> = {}): V1ResourceRequirements {
  const base = { cpu: requests?.cpu ?? DEFAULT_REQUESTS.cpu, memory: requests?.memory ?? DEFAULT_REQUESTS.memory };
  // Limits equal to requests: Guaranteed QoS, so a measurement does not share its CPU quota.
  return { requests: { ...base }, limits: { ...base, ...extra } };
}

/**
 * Restricted-profile container security as `user`: no privilege escalation, no capabilities. The
 * harness keeps the image's group (its files are 1042:0, group = user); the uploader runs as its own.
 */
export function restricted(user: number, readOnlyRootFilesystem: boolean, group?: number): V1SecurityContext {
  return {
    runAsUser: user,
    ...(group !== undefined ? { runAsGroup: group } : {}),
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function affinityFor(place: Placement, exclusive: boolean): V1Affinity | undefined {
  const affinity: V1Affinity = {};
  if (place.nodeAffinity.length > 0) {
    affinity.nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: place.nodeAffinity }] } };
  }
  if (exclusive) {
    affinity.podAntiAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [
        {
          topologyKey: 'kubernetes.io/hostname',
          labelSelector: { matchLabels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.component]: 'run' } },
        },
      ],
    };
  }
  return Object.keys(affinity).length > 0 ? affinity : undefined;
}

export function placementFields(place: Placement, exclusive: boolean): Pick<V1PodSpec, 'affinity' | 'nodeSelector' | 'tolerations'> {
  const affinity = affinityFor(place, exclusive);
  return {
    ...(affinity ? { affinity } : {}),
    ...(Object.keys(place.nodeSelector).length > 0 ? { nodeSelector: place.nodeSelector } : {}),
    ...(place.tolerations.length > 0 ? { tolerations: place.tolerations } : {}),
  };
}

export const env = (vars: Record<string, string>): V1EnvVar[] => Object.entries(vars).map(([name, value]) => ({ name, value }));
export const completionIndexEnv = (name: string): V1EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${ANNOTATIONS.completionIndex}']` } } });
