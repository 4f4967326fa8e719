/**
 * The functions' image records (model/image-record.ts) over the store and the registry:
 *
 * - `cached`: the build stage's cache check. A record whose image the registry still serves is a
 *   cached build; a tag in the registry never is.
 * - `verifyBuild`: after a build Job ended, resolve the build's own tag in the registry and compare
 *   it with the digest the build reported. Equal: the build pushed that manifest, and the record
 *   of the stack is written (unless a live one exists). Different, or the tag missing: someone
 *   pushed over it, or the build lied; nothing is recorded and the runs are refused.
 * - `runImage`: what the runs of an inspection pin: the stack's record when the build's status
 *   names its digest (a cached build, a redelivered message), else the build's verified digest.
 *
 * Registry answers of "cannot tell" throw, so the caller's message is retried; they never count as
 * a verified image.
 */
import { ExecutorError } from '../../core/errors.js';
import type { Layout } from '../../core/layout.js';
import { stableJson } from '../../core/json.js';
import type { Clock, ObjectStore } from '../../core/ports.js';
import { buildImageTag, MANIFEST_DIGEST } from './manifests/index.js';
import { newImageRecord, parseImageRecord, type ImageRecord } from './model/image-record.js';
import type { ImageRegistry } from './registry.js';

export interface ImageRecordsDeps {
  store: ObjectStore;
  /** Where the records live (Layout.imageRecord). */
  layout: Layout;
  registry: ImageRegistry;
  /** The repository builds push to (ClusterSettings.registry). */
  registryName: string;
  clock: Clock;
}

export interface BuildClaim {
  stackDigest: string;
  inspectionId: string;
  /** The digest the build's report step wrote into its status (the build's claim), if any. */
  reported: string | null | undefined;
}

export type Verification = { ok: true; record: ImageRecord; recorded: boolean } | { ok: false; message: string };

export class ImageRecords {
  constructor(private readonly deps: ImageRecordsDeps) {}

  key(stackDigest: string): string {
    return this.deps.layout.imageRecord(stackDigest);
  }

  /** The stack's record as stored, when valid for this registry. */
  async read(stackDigest: string): Promise<ImageRecord | undefined> {
    const raw = await this.deps.store.get(this.key(stackDigest));
    if (!raw) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return undefined;
    }
    return parseImageRecord(parsed, { stackDigest, registry: this.deps.registryName });
  }

  /** A cache hit: the stack's record, when the registry still serves its manifest (a registry hiccup costs a rebuild). */
  async cached(stackDigest: string): Promise<ImageRecord | undefined> {
    const record = await this.read(stackDigest);
    if (!record) return undefined;
    return (await this.deps.registry.manifestDigest(record.image)) === record.digest ? record : undefined;
  }

  async verifyBuild({ stackDigest, inspectionId, reported }: BuildClaim): Promise<Verification> {
    const { registry, registryName, store, clock } = this.deps;
    if (!reported || !MANIFEST_DIGEST.test(reported)) {
      return { ok: false, message: 'the build reported no image digest, so there is no image of its own to run' };
    }
    const tag = buildImageTag(registryName, stackDigest, inspectionId);
    const observed = await registry.manifestDigest(tag);
    if (observed === undefined) throw new ExecutorError(`the registry could not tell which manifest ${tag} names; the runs start once it can`);
    if (observed === null) return { ok: false, message: `${tag} is not in the registry, although the build reported pushing ${reported}` };
    if (observed !== reported) {
      return { ok: false, message: `${tag} names ${observed} in the registry, not ${reported} that the build pushed: something pushed over it, so it is not run` };
    }
    const record = newImageRecord({ stackDigest, registry: registryName, inspectionId, digest: observed, recordedAt: clock.now() });
    const existing = await this.read(stackDigest);
    // The first verified build of a stack is its record; a later one replaces it only when the
    // recorded image is gone from the registry.
    const replace = existing === undefined || (existing.digest !== record.digest && (await registry.manifestDigest(existing.image)) === null);
    if (replace) await store.put(this.key(stackDigest), `${stableJson(record)}\n`, 'application/json');
    return { ok: true, record, recorded: replace };
  }

  async runImage(claim: BuildClaim): Promise<Verification> {
    const record = await this.read(claim.stackDigest);
    if (record && claim.reported === record.digest) return { ok: true, record, recorded: false };
    return this.verifyBuild(claim);
  }
}
