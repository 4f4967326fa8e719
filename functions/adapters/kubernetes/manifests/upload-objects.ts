/**
 * The objects beside each Job, owned by it so that they go with it:
 *   <id>-build-upload  Secret: the report step's presigned PUT URLs (curl config files)
 *   <id>-build-docker  ConfigMap: the builder's registry configuration (ECR credential helper)
 *   <id>-run-upload    Secret: the presigned POST policy for results/ (a curl config file)
 */
import type { V1ConfigMap, V1Job, V1ObjectMeta, V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { registryHost } from './image-refs.js';
import { labelsFor, objectName, type Component, type ObjectSuffix } from './names.js';
import type { ClusterSettings } from './settings.js';

/** The Job as owner of its Secret and ConfigMap, so that they go with it. */
export function ownerOf(job: Pick<V1Job, 'metadata'>): V1OwnerReference[] {
  const uid = job.metadata?.uid;
  const name = job.metadata?.name;
  if (!uid || !name) return [];
  return [{ apiVersion: 'batch/v1', kind: 'Job', name, uid, blockOwnerDeletion: false, controller: false }];
}

function ownedMetadata(inspectionId: string, suffix: ObjectSuffix, component: Component, namespace: string, owner: Pick<V1Job, 'metadata'> | undefined): V1ObjectMeta {
  const ownerReferences = owner ? ownerOf(owner) : [];
  return {
    name: objectName(inspectionId, suffix),
    namespace,
    labels: labelsFor(inspectionId, component),
    ...(ownerReferences.length > 0 ? { ownerReferences } : {}),
  };
}

export interface UploadSecretInput {
  inspectionId: string;
  component: Component;
  namespace: string;
  /** File name → content (curl config files). */
  files: Record<string, string>;
  owner?: Pick<V1Job, 'metadata'>;
}

export function uploadSecret({ inspectionId, component, namespace, files, owner }: UploadSecretInput): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: ownedMetadata(inspectionId, component === 'build' ? 'build-upload' : 'run-upload', component, namespace, owner),
    stringData: files,
  };
}

/** The builder's docker config: ECR through kaniko's built-in ecr-login credential helper. */
export function dockerConfigMap(inspectionId: string, settings: ClusterSettings, owner?: Pick<V1Job, 'metadata'>): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMetadata(inspectionId, 'build-docker', 'build', settings.namespace, owner),
    data: { 'config.json': `${JSON.stringify({ credHelpers: { [registryHost(settings.registry)]: 'ecr-login' } }, null, 2)}\n` },
  };
}
