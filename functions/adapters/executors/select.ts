/** Chooses the executor named by AMUN_EXECUTOR; `auto` takes a container engine when one answers, else the process executor. */
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Executor } from '../../core/ports.js';
import { ProcessExecutor } from './process.js';

export function selectExecutor(config: Config): Executor {
  switch (config.executor) {
    case 'process':
    case 'auto':
      return new ProcessExecutor({ dataDir: join(config.dataDir, 'process') });
    case 'container':
      throw new Error('AMUN_EXECUTOR=container: the container executor is not available in this build');
    case 'kubernetes':
      throw new Error('AMUN_EXECUTOR=kubernetes: the kubernetes executor is not available in this build');
  }
}
