/**
 * Registry references: the repository builds push to, how the builder authenticates there, the tag
 * a build pushes (its own, never another's) and the digest-pinned reference runs use.
 */
import { STACK_DIGEST_PATTERN as STACK_DIGEST } from '../../../core/layout.js';
import { checkInspectionId, inspectionHash } from './names.js';

export type RegistryAuth = { kind: 'ecr' } | { kind: 'secret'; secretName: string } | { kind: 'none' };

const ECR_HOST = /^[0-9]{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;
const REPOSITORY = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/;
/** A stack digest (its one definition is the layout's). */
export { STACK_DIGEST };
export const MANIFEST_DIGEST = /^sha256:[0-9a-f]{64}$/;

export function registryHost(registry: string): string {
  return registry.split('/')[0] ?? registry;
}

/** ECR registries use the builder's AWS identity (kaniko's ecr-login helper); others a dockerconfigjson Secret when named. */
export function registryAuthFor(registry: string, secretName?: string): RegistryAuth {
  if (secretName) return { kind: 'secret', secretName };
  return ECR_HOST.test(registryHost(registry)) ? { kind: 'ecr' } : { kind: 'none' };
}

export function checkRegistry(registry: string): string {
  if (!REPOSITORY.test(registry) || registry.length > 200) {
    throw new Error(`registry must be a repository without tag, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun, got ${JSON.stringify(registry)}`);
  }
  return registry;
}

/**
 * The tag a build pushes: `<registry>:<stack digest>-<16 hex digits of sha256(inspection id)>`, its
 * own, so that no build ever needs to overwrite another's tag (registries with immutable tags
 * refuse that) and a tag found in the registry says nothing about whether a stack was built.
 */
export function buildImageTag(registry: string, stackDigest: string, inspectionId: string): string {
  if (!STACK_DIGEST.test(stackDigest)) throw new Error(`stack digest must be 64 hex digits, got ${JSON.stringify(stackDigest)}`);
  const hash = inspectionHash(checkInspectionId(inspectionId), 16);
  return `${checkRegistry(registry)}:${stackDigest}-${hash}`;
}

/** `<registry>@sha256:…`: what runs use, an image that no later push can change. */
export function pinnedImage(registry: string, manifestDigest: string): string {
  if (!MANIFEST_DIGEST.test(manifestDigest)) throw new Error(`manifest digest must be sha256:<64 hex digits>, got ${JSON.stringify(manifestDigest)}`);
  return `${checkRegistry(registry)}@${manifestDigest}`;
}
