/** Chooses the executor named by AMUN_EXECUTOR; `auto` takes a container engine when one answers, else the process executor. */
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Executor } from '../../core/ports.js';
import type { KubernetesCluster } from '../kubernetes/cluster.js';
import { ProcessExecutor } from './process.js';
import { ContainerExecutor } from './container.js';
import { containerOptionsFromEnv, detectEngine } from './container-options.js';

export function selectExecutor(config: Config, cluster?: KubernetesCluster): Executor {
  switch (config.executor) {
    case 'auto':
      // A container engine counts when it answers (`podman info` / `docker info`), not when its binary exists.
      if (detectEngine()) return new ContainerExecutor({ ...containerOptionsFromEnv(join(config.dataDir, 'container')), output: config.output });
      return new ProcessExecutor({ dataDir: join(config.dataDir, 'process'), output: config.output });
    case 'process':
      return new ProcessExecutor({ dataDir: join(config.dataDir, 'process'), output: config.output });
    case 'container':
      return new ContainerExecutor({ ...containerOptionsFromEnv(join(config.dataDir, 'container')), output: config.output });
    case 'kubernetes':
      // Built by makeApp (functions/adapters/kubernetes/cluster.ts): it needs the store and credentials.
      if (!cluster) throw new Error('AMUN_EXECUTOR=kubernetes: no cluster was configured');
      return cluster.executor;
  }
}
