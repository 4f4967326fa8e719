/**
 * Stack images of the container executor: content-addressed tags, and what happens to them after
 * a build and after an inspection's runs, by AMUN_IMAGE_CLEANUP:
 *   keep       stack images stay, for reuse by later inspections;
 *   after-run  an inspection's image goes once all its items ran in this process (or right after a
 *              build with nothing to run);
 *   lru:N      the N most recently used stack images of this data directory stay.
 */
import { mkdir, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogSink } from '../../core/ports.js';
import type { ImageCleanup } from './container-options.js';
import type { ContainerEngine } from './container-engine.js';

export const STACK_REPOSITORY = 'localhost/amun/stack';

export function stackImageTag(stackDigest: string): string {
  return `${STACK_REPOSITORY}:${stackDigest}`;
}

/** Items of an inspection that ran in this process: its image goes (after-run) when all did. */
interface RunsDone {
  batch: number;
  done: Set<number>;
}

/** Inspections remembered for the after-run cleanup, at most (the oldest are forgotten). */
const MAX_TRACKED = 1024;

export class StackImages {
  private readonly runs = new Map<string, RunsDone>();

  constructor(
    private readonly engine: ContainerEngine,
    private readonly policy: ImageCleanup,
    /** Where the use times of the lru policy are kept. */
    private readonly usedDir: string,
  ) {}

  /** After a build or a reuse of `stackDigest`: the lru bookkeeping, or the after-run removal of an image nothing will run on. */
  async built(stackDigest: string, hasScript: boolean, log: LogSink): Promise<void> {
    if (this.policy.policy === 'lru') {
      await this.touch(stackDigest);
      await this.prune(this.policy.keep, stackDigest);
    } else if (this.policy.policy === 'after-run' && !hasScript) {
      await this.remove(stackImageTag(stackDigest), log);
    }
  }

  /** An item ran; after-run removes the image once every item of the inspection ran here. */
  async ran(inspectionId: string, item: number, batch: number, image: string | null): Promise<void> {
    if (this.policy.policy !== 'after-run' || !image) return;
    const runs = this.runs.get(inspectionId) ?? { batch, done: new Set<number>() };
    runs.done.add(item);
    this.runs.set(inspectionId, runs);
    if (this.runs.size > MAX_TRACKED) this.runs.delete(this.runs.keys().next().value as string);
    if (runs.done.size >= runs.batch) {
      this.runs.delete(inspectionId);
      await this.remove(image);
    }
  }

  private async remove(tag: string, log?: LogSink): Promise<void> {
    const removed = await this.engine.exec(['rmi', tag]).catch(() => undefined);
    if (removed?.code === 0) log?.write(`removed image ${tag} (AMUN_IMAGE_CLEANUP=after-run)\n`);
  }

  private async touch(stackDigest: string): Promise<void> {
    const file = join(this.usedDir, stackDigest);
    await mkdir(this.usedDir, { recursive: true });
    const now = new Date();
    await utimes(file, now, now).catch(() => writeFile(file, ''));
  }

  /** Keeps the `keep` most recently used stack images (of this data directory); removes the others not in use. */
  private async prune(keep: number, current: string): Promise<void> {
    const names = await readdir(this.usedDir).catch(() => [] as string[]);
    const used = await Promise.all(names.map(async (name) => ({ name, at: (await stat(join(this.usedDir, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
    used.sort((a, b) => b.at - a.at);
    for (const { name } of used.slice(keep)) {
      if (name === current || !/^[0-9a-f]{64}$/.test(name)) continue;
      if (await this.engine.removeImage(stackImageTag(name))) await rm(join(this.usedDir, name), { force: true });
    }
  }
}
