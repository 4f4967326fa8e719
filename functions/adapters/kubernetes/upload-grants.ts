/**
 * The upload grant of a Job: the Secret its pods' report or upload step reads (presigned PUT URLs
 * for a build's log and status, a presigned POST policy for a run's results/), and when it ends.
 * The one owner of what a grant Secret holds: the executor issues the first one when it creates
 * the Job, the reconciler replaces it while the Job runs.
 *
 * A grant dies with the credentials that signed it (upload-signer.ts). The Job is annotated with
 * when its grant ends (ANNOTATIONS.grantExpiresAt); while the Job is unfinished and needs the
 * grant longer (its deadline plus GRANT_MARGIN_SECONDS), the reconciler signs a new one with the
 * credentials it has then and replaces the Secret, `refreshBeforeSeconds` ahead of the end, so
 * that the kubelet has put the new files in the pod before the old ones stop working (it syncs a
 * mounted Secret within about a minute, plus its cache TTL). The upload steps read their curl
 * configuration when they upload, not when they start. A Job without the annotation (created by an
 * older version, or whose annotation was never written) is given a new grant on the next pass.
 */
import type { V1Job, V1Secret } from '@kubernetes/client-node';
import type { Clock } from '../../core/ports.js';
import type { Layout } from '../../core/layout.js';
import { ANNOTATIONS, curlPostConfig, curlPutConfig, uploadSecret, type Component } from './manifests/index.js';
import type { UploadSigner } from './upload-signer.js';

/** Upload grants outlive their Job's deadline by this much. */
export const GRANT_MARGIN_SECONDS = 15 * 60;

/** A grant is replaced this long before it ends: > the reconciler's period (5 min) + the kubelet's Secret sync (≤ 2 min), twice over. */
export const DEFAULT_REFRESH_BEFORE_SECONDS = 20 * 60;

/** A grant that ends this close to when it is needed counts as covering it. */
const START_SLACK_SECONDS = 5 * 60;

export interface IssuedGrant {
  secret: V1Secret;
  /** When the grant stops working (the earliest of its URLs or policy). */
  expiresAt: Date;
}

/** The annotation value the Job carries for a grant that ends at `expiresAt`. */
export function grantAnnotation(expiresAt: Date): Record<string, string> {
  return { [ANNOTATIONS.grantExpiresAt]: expiresAt.toISOString() };
}

/** Until when a Job's pods may still upload: its deadline (from its start, or creation) plus the margin. */
export function grantNeededUntil(job: { createdAt: string | null; startTime: string | null; activeDeadlineSeconds: number | null }, now: Date): Date {
  const from = Date.parse(job.startTime ?? job.createdAt ?? '') || now.getTime();
  return new Date(from + ((job.activeDeadlineSeconds ?? 0) + GRANT_MARGIN_SECONDS) * 1000);
}

/**
 * Does an unfinished Job need a new grant now? When its annotation is missing or unreadable, or
 * the grant ends within `refreshBeforeSeconds` while the Job may still upload after that.
 */
export function grantDue(annotations: Record<string, string>, neededUntil: Date, now: Date, refreshBeforeSeconds: number): boolean {
  const ends = Date.parse(annotations[ANNOTATIONS.grantExpiresAt] ?? '');
  if (Number.isNaN(ends)) return true;
  // The executor sizes the first grant from the Job's creation, the Job controller starts its deadline a moment later.
  if (ends >= neededUntil.getTime() - START_SLACK_SECONDS * 1000) return false;
  return ends - now.getTime() < refreshBeforeSeconds * 1000;
}

export class UploadGrants {
  constructor(private readonly deps: { signer: UploadSigner; layout: Layout; clock: Clock; namespace: string }) {}

  /** A grant for the Job's pods, valid until `until` or as long as the signing credentials allow. */
  async issue(component: Component, inspectionId: string, until: Date, owner: Pick<V1Job, 'metadata'>): Promise<IssuedGrant> {
    const { signer, layout, clock, namespace } = this.deps;
    const seconds = Math.max(1, Math.ceil((until.getTime() - clock.now().getTime()) / 1000));
    if (component === 'build') {
      const [log, status] = await Promise.all([signer.presignPut(layout.buildLog(inspectionId), seconds), signer.presignPut(layout.buildStatus(inspectionId), seconds)]);
      const files = { 'log.curlrc': curlPutConfig(log.url), 'status.curlrc': curlPutConfig(status.url) };
      return { secret: uploadSecret({ inspectionId, component, namespace, files, owner }), expiresAt: log.expiresAt < status.expiresAt ? log.expiresAt : status.expiresAt };
    }
    const post = await signer.presignPost(layout.resultsPrefix(inspectionId), until);
    return { secret: uploadSecret({ inspectionId, component, namespace, files: { 'post.curlrc': curlPostConfig(post.url, post.fields) }, owner }), expiresAt: post.expiresAt };
  }
}
