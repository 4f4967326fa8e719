/** What the cluster looks like: one set of settings per deployment, from configuration (cluster.ts). */
import type { RegistryAuth } from './image-refs.js';
import type { LabelMap } from './placement.js';

export const DEFAULT_UPLOADER_IMAGE = 'docker.io/curlimages/curl:8.11.1';
export const DEFAULT_BUILD_DEADLINE_SECONDS = 3600;

export interface ClusterSettings {
  namespace: string;
  /** Repository built stacks are pushed to, each build under its own tag (`buildImageTag`). */
  registry: string;
  /** A kaniko debug variant (it needs /busybox/sh), e.g. ghcr.io/osscontainertools/kaniko:debug. */
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
  /** Bytes of each output stream kept in the log and in the report (the harness's limits); its defaults when absent. */
  output?: { logBytes: number; resultBytes: number };
}
