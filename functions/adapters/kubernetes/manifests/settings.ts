/** What the cluster looks like: one set of settings per deployment, from configuration (cluster.ts). */
import type { RegistryAuth } from './image-refs.js';
import type { LabelMap } from './placement.js';

/** An image Amun's own pods run, as its default is written: repository, tag, and the digest the tag named when it was written down. */
export interface HelperImage {
  repository: string;
  tag: string;
  /** `sha256:<64 hex>`, or null where this release records none (the kubernetes executor then refuses it: cluster.ts). */
  digest: string | null;
}

/**
 * The images of the build step (kaniko, debug variant: the build step needs its /busybox/sh) and of
 * the report step and upload sidecar (sh and curl), written once, tag and digest side by side.
 * Neither comes from Docker Hub, whose anonymous pulls are rate-limited per source address (a NAT
 * gateway shares one among all nodes): kaniko from GHCR (the maintained fork), curl from the curl
 * project's own registry on Quay.
 *
 * No digest is recorded yet: they were written down without access to a registry, and a guessed
 * digest would only fail at pull time. So the executor refuses these defaults until a deployment
 * names digest-pinned images (AMUN_BUILDER_IMAGE, AMUN_K8S_UPLOADER_IMAGE) or opts out with
 * AMUN_K8S_ALLOW_UNPINNED_IMAGES=true. To record them here (or to pin a deployment), resolve each
 * tag to its multi-arch index digest and write it beside the tag:
 *
 *   crane digest ghcr.io/osscontainertools/kaniko:debug
 *   crane digest quay.io/curl/curl:8.11.1
 *   # or: skopeo inspect --format '{{.Digest}}' docker://quay.io/curl/curl:8.11.1
 *
 * A deployment that should pull from its own ECR copies them first, digest unchanged, e.g.
 * `crane copy quay.io/curl/curl:8.11.1 <account>.dkr.ecr.<region>.amazonaws.com/amun-helpers/curl:8.11.1`
 * (or an ECR pull-through cache rule for ghcr.io and quay.io), and sets the two variables to
 * `<that repository>:<tag>@<digest>`.
 */
export const HELPER_IMAGES = {
  builder: { repository: 'ghcr.io/osscontainertools/kaniko', tag: 'debug', digest: null },
  uploader: { repository: 'quay.io/curl/curl', tag: '8.11.1', digest: null },
} as const satisfies Record<string, HelperImage>;

/** `<repository>:<tag>[@<digest>]`. */
export function helperImageRef(image: HelperImage): string {
  return `${image.repository}:${image.tag}${image.digest ? `@${image.digest}` : ''}`;
}

/** A reference that names its content: `<name>[:<tag>]@sha256:<64 hex>`. */
export const DIGEST_PINNED = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

export const DEFAULT_BUILDER_IMAGE = helperImageRef(HELPER_IMAGES.builder);
export const DEFAULT_UPLOADER_IMAGE = helperImageRef(HELPER_IMAGES.uploader);
export const DEFAULT_BUILD_DEADLINE_SECONDS = 3600;

/**
 * What kaniko gets at least (requests = limits): it unpacks the base image into its own root file
 * system, runs the RUN lines there and keeps a tarball of each layer until it is pushed, so a
 * stack's disk use is about three times its installed size, and its memory grows with the largest
 * layer. The spec's build.requests win where they are larger; ephemeral storage has no spec field.
 */
export interface BuilderFloor {
  cpu: string;
  memory: string;
  /** Ephemeral storage of an ordinary stack. */
  ephemeralStorage: string;
  /** Ephemeral storage of a known-large stack (CUDA, PyTorch, TensorFlow bases or packages: build-job.ts). */
  largeEphemeralStorage: string;
}

export const DEFAULT_BUILDER_FLOOR: BuilderFloor = { cpu: '1', memory: '2Gi', ephemeralStorage: '10Gi', largeEphemeralStorage: '30Gi' };

/** kaniko's own default cache TTL (two weeks); the cache repository's lifecycle rule should expire images no sooner. */
export const DEFAULT_CACHE_TTL_HOURS = 336;

/** kaniko's layer cache: each RUN layer pushed under its cache key, and pulled instead of run again. */
export interface BuildCache {
  /** A repository on the registry's host (the builder's credentials are per host). */
  repository: string;
  ttlHours: number;
}

export interface ClusterSettings {
  namespace: string;
  /** Repository built stacks are pushed to, each build under its own tag (`buildImageTag`). */
  registry: string;
  /** A kaniko debug variant (it needs /busybox/sh), digest-pinned unless the deployment opted out. */
  builderImage: string;
  /** An image with sh and curl for the report and upload steps. */
  uploaderImage: string;
  labels: LabelMap;
  /** Runs get a node to themselves (required pod anti-affinity against other Amun runs). */
  exclusiveNodes: boolean;
  /** The builder's service account: S3 read of the context and registry push (IRSA / Pod Identity). */
  builderServiceAccount: string;
  registryAuth: RegistryAuth;
  /** Where the builder reads the context: kaniko's S3 client (endpoint only for S3-compatible stores). */
  storage: { bucket: string; region: string; endpoint?: string | undefined };
  buildDeadlineSeconds: number;
  builder: BuilderFloor;
  /** Undefined: every build starts from the base image. */
  cache: BuildCache | undefined;
  /** Bytes of each output stream kept in the log and in the report (the harness's limits); its defaults when absent. */
  output?: { logBytes: number; resultBytes: number };
}
