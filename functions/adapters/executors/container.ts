/**
 * The container executor: podman or docker on this machine. Builds (container-build.ts) make
 * content-addressed stack images (container-images.ts keeps or removes them by policy); runs
 * (container-run.ts) are one container per item. How many items of an inspection run at once is
 * the pipeline's business (`run.parallelism`, the same for every local executor): this executor
 * runs what it is given, holds nothing between runs, and its memory does not grow with a batch.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildRequest, Executor, FinishedBuild, RunOutput, RunRequest } from '../../core/ports.js';
import { StackBuilder } from './container-build.js';
import { ContainerEngine } from './container-engine.js';
import { StackImages } from './container-images.js';
import type { ContainerExecutorOptions } from './container-options.js';
import { ContainerRunner } from './container-run.js';

export type { ContainerExecutorOptions } from './container-options.js';
export { STACK_REPOSITORY, stackImageTag } from './container-images.js';
export { cpusFlag, memoryBytes, parseQuantity } from './container-run.js';

export class ContainerExecutor implements Executor {
  readonly kind = 'container' as const;
  readonly engine: ContainerEngine;
  private readonly images: StackImages;
  private readonly builder: StackBuilder;
  private readonly runner: ContainerRunner;

  constructor(options: ContainerExecutorOptions) {
    mkdirSync(options.dataDir, { recursive: true });
    // Run outputs of a server that died here are nobody's now (none of ours runs yet).
    rmSync(join(options.dataDir, 'runs'), { recursive: true, force: true });
    this.engine = new ContainerEngine(options.engine, options.engineFlags, options.dataDir, options.flavor);
    this.images = new StackImages(this.engine, options.imageCleanup ?? { policy: 'keep' }, join(options.dataDir, 'images'));
    this.builder = new StackBuilder(this.engine, this.images, { dir: join(options.dataDir, 'builds'), network: options.buildNetwork, timeoutSeconds: options.buildTimeoutSeconds });
    this.runner = new ContainerRunner(this.engine, { dir: join(options.dataDir, 'runs'), owner: options.dataDir, killGraceSeconds: options.killGraceSeconds, output: options.output });
  }

  get flavor(): ContainerEngine['flavor'] {
    return this.engine.flavor;
  }

  build(request: BuildRequest): Promise<FinishedBuild> {
    return this.builder.build(request);
  }

  async runItem(request: RunRequest): Promise<RunOutput> {
    const output = await this.runner.run(request);
    await this.images.ran(request.inspectionId, request.item, request.spec.batch_size, request.build.image);
    return output;
  }

  /** The `run` arguments of one item (tests read them). */
  runArguments(request: RunRequest, name: string, image: string, outputDir: string): { args: string[]; memoryLimit: number | undefined } {
    return this.runner.runArguments(request, name, image, outputDir);
  }
}
