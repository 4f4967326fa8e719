/**
 * The container executor without an engine: configuration, the mapping of run requests to engine
 * flags, and the run-ahead that honours `run.parallelism` while the run route takes one message
 * at a time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildStatus } from '../../functions/core/generated/types.js';
import type { RunRequest } from '../../functions/core/ports.js';
import { ContainerExecutor, cpusFlag, memoryBytes, parseQuantity, stackImageTag } from '../../functions/adapters/executors/container.js';
import { containerOptionsFromEnv, parseEngineFlags, parseImageCleanup } from '../../functions/adapters/executors/container-options.js';
import { selectExecutor } from '../../functions/adapters/executors/select.js';
import { ConfigError, type Config } from '../../functions/config.js';
import { tempDir } from '../support/stack.js';
import type { Specification } from '../../functions/core/specification.js';

const build: BuildStatus = {
  inspection_id: 'inspection-u-00000000', state: 'succeeded', started_at: null, finished_at: null, exit_code: 0, reason: null,
  executor: 'container', image: 'localhost/amun/stack:abc', image_digest: `sha256:${'1'.repeat(64)}`, cached: false,
};
const request = (spec: Specification, item = 0): RunRequest => ({ inspectionId: 'inspection-u-00000000', item, spec, build, context: async () => [], deadlineSeconds: 30 });

describe('quantities and flags', () => {
  it('reads Kubernetes quantities', () => {
    expect(parseQuantity('500m')).toBe(0.5);
    expect(parseQuantity('2')).toBe(2);
    expect(parseQuantity('1.5')).toBe(1.5);
    expect(parseQuantity('256Mi')).toBe(256 * 2 ** 20);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('2k')).toBe(2000);
    expect(() => parseQuantity('1 Gi')).toThrow('not a quantity');
    expect(cpusFlag('500m')).toBe('0.5');
    expect(cpusFlag('1')).toBe('1');
    expect(cpusFlag('1m')).toBe('0.01');
    expect(memoryBytes('256Mi')).toBe(268435456);
    expect(memoryBytes('1500m')).toBe(2); // milli-bytes round up
  });

  it('maps run requests, network, environment and the output mount to engine flags', () => {
    const podman = new ContainerExecutor({ engine: 'podman', engineFlags: ['--cgroup-manager', 'cgroupfs'], dataDir: '/tmp/x' });
    const spec: Specification = {
      base: 'b', script: 's', batch_size: 1,
      environment: [{ name: 'GREETING', value: 'a "b" $c' }, { name: 'AMUN_ITEM', value: 'user value loses' }],
      run: { requests: { cpu: '500m', memory: '256Mi', gpu: { count: 2 } }, deadline_seconds: 30 },
    };
    const { args, memoryLimit } = podman.runArguments(request(spec, 4), 'amun-x-4', 'img', '/out');
    expect(memoryLimit).toBe(268435456);
    const joined = args.join(' ');
    expect(args.slice(0, 2)).toEqual(['run', '--rm']);
    expect(joined).toContain('--network none');
    expect(joined).toContain('--cpus 0.5');
    expect(joined).toContain('--memory 268435456 --memory-swap 268435456');
    expect(joined).toContain('--device nvidia.com/gpu=0 --device nvidia.com/gpu=1');
    expect(joined).toContain('--cap-drop ALL');
    expect(args).toContain('GREETING=a "b" $c');
    // Ours come after the user's, so they win.
    expect(args.lastIndexOf('AMUN_ITEM=4')).toBeGreaterThan(args.indexOf('AMUN_ITEM=user value loses'));
    expect(args).toEqual(expect.arrayContaining(['AMUN_EXECUTOR_KIND=container', 'AMUN_DEADLINE_SECONDS=30', 'AMUN_INSPECTION_ID=inspection-u-00000000', '/out:/home/amun/output:Z']));
    // The harness starts as HARNESS_COMMAND says, whatever the image's entrypoint: no site, no PYTHON* variables.
    expect(args.slice(args.indexOf('--entrypoint'))).toEqual(['--entrypoint', 'python3', 'img', '-I', '-S', '/opt/amun/harness/entrypoint.py']);

    const docker = new ContainerExecutor({ engine: '/usr/bin/docker', engineFlags: [], dataDir: '/tmp/x' });
    expect(docker.flavor).toBe('docker');
    const withNetwork = docker.runArguments(request({ ...spec, run: { network: true, requests: { gpu: { count: 1 } } } }), 'n', 'img', '/out').args;
    expect(withNetwork).not.toContain('--network');
    expect(withNetwork).not.toContain('--cpus');
    expect(withNetwork.join(' ')).toContain('--gpus 1');
    expect(withNetwork).toContain('/out:/home/amun/output');
  });

  it('tags images by stack digest', () => {
    expect(stackImageTag('ab'.repeat(32))).toBe(`localhost/amun/stack:${'ab'.repeat(32)}`);
  });
});

describe('configuration from the environment', () => {
  it('parses engine flags, cleanup policies and fails fast naming the variable', () => {
    expect(parseEngineFlags(' --runtime runc  --cgroup-manager cgroupfs ')).toEqual(['--runtime', 'runc', '--cgroup-manager', 'cgroupfs']);
    expect(parseEngineFlags('["--root", "/var/lib/my containers"]')).toEqual(['--root', '/var/lib/my containers']);
    expect(() => parseEngineFlags('[1]')).toThrow(ConfigError);
    expect(parseImageCleanup(undefined)).toEqual({ policy: 'keep' });
    expect(parseImageCleanup('after-run')).toEqual({ policy: 'after-run' });
    expect(parseImageCleanup('lru:3')).toEqual({ policy: 'lru', keep: 3 });
    expect(() => parseImageCleanup('lru:0')).toThrow('AMUN_IMAGE_CLEANUP');
    expect(() => containerOptionsFromEnv('/tmp/x', { AMUN_BUILD_TIMEOUT_SECONDS: 'soon' })).toThrow('AMUN_BUILD_TIMEOUT_SECONDS');
    expect(() => containerOptionsFromEnv('/tmp/x', { AMUN_BUILD_NETWORK: 'host; rm -rf /' })).toThrow('AMUN_BUILD_NETWORK');
    expect(() => containerOptionsFromEnv('/tmp/x', { AMUN_CONTAINER_ENGINE: '/nonexistent/podman' })).toThrow(/AMUN_CONTAINER_ENGINE .*\/nonexistent\/podman info/);
  });
});
describe('auto: an engine counts when it answers, not when its binary exists', () => {
  const dir = tempDir('amun-auto-');
  const saved = process.env.AMUN_CONTAINER_ENGINE;
  afterAll(() => {
    if (saved === undefined) delete process.env.AMUN_CONTAINER_ENGINE;
    else process.env.AMUN_CONTAINER_ENGINE = saved;
    dir.remove();
  });
  const fake = (name: string, exitCode: number): string => {
    const path = join(dir.path, name);
    writeFileSync(path, `#!/bin/sh\nexit ${exitCode}\n`, { mode: 0o755 });
    return path;
  };
  const config = { executor: 'auto', dataDir: dir.path } as Config;

  it('takes the container executor when `info` exits 0, with the flavor of the binary', () => {
    process.env.AMUN_CONTAINER_ENGINE = fake('docker', 0);
    const executor = selectExecutor(config);
    expect(executor.kind).toBe('container');
    expect((executor as ContainerExecutor).flavor).toBe('docker');
  });

  it('takes the process executor when the binary is there but `info` fails (a docker CLI without a daemon)', () => {
    process.env.AMUN_CONTAINER_ENGINE = fake('docker-without-daemon', 1);
    expect(selectExecutor(config).kind).toBe('process');
    expect(() => selectExecutor({ ...config, executor: 'container' })).toThrow(/AMUN_CONTAINER_ENGINE names no container engine that answers/);
  });
});
