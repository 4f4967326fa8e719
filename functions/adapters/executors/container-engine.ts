/** podman or docker, with the global flags, run in the executor's data directory. */
import { run, type SpawnOptions, type SpawnResult } from './spawn.js';
import { flavorOf, type EngineFlavor } from './container-options.js';

export class ContainerEngine {
  readonly flavor: EngineFlavor;

  constructor(
    readonly binary: string,
    readonly flags: ReadonlyArray<string>,
    /** conmon leaves files (an `oom` marker) in the engine's working directory: ours, not the server's. */
    readonly cwd: string,
    flavor?: EngineFlavor,
  ) {
    this.flavor = flavor ?? flavorOf(binary);
  }

  exec(args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<SpawnResult> {
    return run(this.binary, [...this.flags, ...args], { cwd: this.cwd, ...options });
  }

  /** The command line of `args`, as a log shows it. */
  describe(args: ReadonlyArray<string>): string {
    return [this.binary, ...this.flags, ...args].join(' ');
  }

  /** `sha256:<hex>` of a local image, undefined when there is none by that reference. */
  async imageId(reference: string): Promise<string | undefined> {
    const result = await this.exec(['image', 'inspect', '--format', '{{.Id}}', reference]).catch(() => undefined);
    if (!result || result.code !== 0) return undefined;
    const id = result.stdout.trim().split('\n')[0]?.trim() ?? '';
    if (!/^(sha256:)?[0-9a-f]{64}$/.test(id)) return undefined;
    return id.startsWith('sha256:') ? id : `sha256:${id}`;
  }

  /** True when the image is gone afterwards. */
  async removeImage(reference: string): Promise<boolean> {
    const removed = await this.exec(['rmi', reference]).catch(() => undefined);
    return removed?.code === 0 || !(await this.imageId(reference));
  }

  /** Ids of the containers (running or not) that carry every label given. */
  async containers(labels: Readonly<Record<string, string>>): Promise<string[]> {
    const filters = Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
    const listed = await this.exec(['ps', '--all', '--quiet', ...filters]).catch(() => undefined);
    return (listed?.code === 0 ? listed.stdout : '').split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]{12,64}$/.test(l));
  }
}
