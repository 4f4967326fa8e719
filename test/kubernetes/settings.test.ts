import { ConfigError, kubernetesFromEnv } from '../../functions/config.js';
import { checkPinnedImages, clusterSettings } from '../../functions/adapters/kubernetes/cluster.js';
import { DEFAULT_BUILDER_FLOOR, DEFAULT_BUILDER_IMAGE, DEFAULT_UPLOADER_IMAGE, HELPER_IMAGES, helperImageRef } from '../../functions/adapters/kubernetes/manifests/index.js';

const base = { bucket: 'amun', region: 'eu-west-1', endpoint: undefined };
const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun';
const PINNED_CURL = `registry.example/curl:1@sha256:${'c'.repeat(64)}`;
const PINNED_KANIKO = `registry.example/kaniko:debug@sha256:${'a'.repeat(64)}`;
const fromEnv = (env: Record<string, string>) => clusterSettings({ ...base, kubernetes: kubernetesFromEnv({ AMUN_REGISTRY: registry, ...env }) });

describe('cluster settings from AMUN_K8S_*', () => {
  it('takes the deployment settings from the environment, with the defaults beneath', () => {
    const defaults = fromEnv({});
    expect(defaults).toMatchObject({ namespace: 'amun', builderServiceAccount: 'amun-builder', exclusiveNodes: false, storage: { bucket: 'amun', region: 'eu-west-1' } });
    const set = fromEnv({
      AMUN_K8S_NAMESPACE: 'lab',
      AMUN_K8S_BUILDER_SERVICE_ACCOUNT: 'kaniko',
      AMUN_K8S_EXCLUSIVE_NODES: 'true',
      AMUN_K8S_UPLOADER_IMAGE: PINNED_CURL,
      AMUN_K8S_BUILD_DEADLINE_SECONDS: '1200',
      AMUN_K8S_POD_STORAGE_ENDPOINT: 'http://minio.lab:9000',
    });
    expect(set).toMatchObject({
      namespace: 'lab',
      builderServiceAccount: 'kaniko',
      exclusiveNodes: true,
      uploaderImage: PINNED_CURL,
      buildDeadlineSeconds: 1200,
      storage: { endpoint: 'http://minio.lab:9000' },
    });
    expect(set.buildDeadlineSeconds).not.toBe(defaults.buildDeadlineSeconds);
  });

  it('names the variable that is wrong', () => {
    expect(() => kubernetesFromEnv({ AMUN_K8S_BUILD_DEADLINE_SECONDS: '0' })).toThrow(ConfigError);
    expect(() => kubernetesFromEnv({ AMUN_K8S_BUILD_DEADLINE_SECONDS: '0' })).toThrow(/AMUN_K8S_BUILD_DEADLINE_SECONDS/);
    expect(() => kubernetesFromEnv({ AMUN_K8S_EXCLUSIVE_NODES: 'maybe' })).toThrow(/AMUN_K8S_EXCLUSIVE_NODES/);
  });
});

describe('the builder floor (AMUN_K8S_BUILDER_*)', () => {
  it('defaults to 1 CPU, 2Gi, and 10Gi of ephemeral storage (30Gi for large stacks); each is configurable', () => {
    expect(fromEnv({}).builder).toEqual({ cpu: '1', memory: '2Gi', ephemeralStorage: '10Gi', largeEphemeralStorage: '30Gi' });
    expect(DEFAULT_BUILDER_FLOOR).toEqual(fromEnv({}).builder);
    expect(
      fromEnv({ AMUN_K8S_BUILDER_CPU: '2', AMUN_K8S_BUILDER_MEMORY: '4Gi', AMUN_K8S_BUILDER_EPHEMERAL_STORAGE: '20Gi', AMUN_K8S_BUILDER_LARGE_EPHEMERAL_STORAGE: '80Gi' }).builder,
    ).toEqual({ cpu: '2', memory: '4Gi', ephemeralStorage: '20Gi', largeEphemeralStorage: '80Gi' });
  });

  it.each([
    ['AMUN_K8S_BUILDER_MEMORY', '2 GB'],
    ['AMUN_K8S_BUILDER_MEMORY', '0'],
    ['AMUN_K8S_BUILDER_CPU', 'lots'],
    ['AMUN_K8S_BUILDER_EPHEMERAL_STORAGE', '-1Gi'],
    ['AMUN_K8S_BUILDER_LARGE_EPHEMERAL_STORAGE', '10GiB'],
  ])('refuses %s=%j, naming the variable', (variable, value) => {
    expect(() => fromEnv({ [variable]: value })).toThrow(ConfigError);
    expect(() => fromEnv({ [variable]: value })).toThrow(new RegExp(`${variable} must be a positive Kubernetes quantity`));
  });
});

describe('the layer cache (AMUN_K8S_CACHE_REPO, AMUN_K8S_CACHE_TTL_HOURS)', () => {
  it('is <registry>-cache for two weeks by default, another repository on the same host when configured, none when switched off', () => {
    expect(fromEnv({}).cache).toEqual({ repository: `${registry}-cache`, ttlHours: 336 });
    expect(fromEnv({ AMUN_K8S_CACHE_REPO: `${registry}/layers`, AMUN_K8S_CACHE_TTL_HOURS: '72' }).cache).toEqual({ repository: `${registry}/layers`, ttlHours: 72 });
    expect(fromEnv({ AMUN_K8S_CACHE_REPO: 'none' }).cache).toBeUndefined();
  });

  it('refuses a repository the builder has no credentials for, the built stacks’ own repository, a malformed one, and a zero TTL', () => {
    expect(() => fromEnv({ AMUN_K8S_CACHE_REPO: 'ghcr.io/someone/cache' })).toThrow(/AMUN_K8S_CACHE_REPO must be on the registry's host 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com/);
    expect(() => fromEnv({ AMUN_K8S_CACHE_REPO: registry })).toThrow(/AMUN_K8S_CACHE_REPO must not be the repository built stacks are pushed to/);
    expect(() => fromEnv({ AMUN_K8S_CACHE_REPO: `${registry}-cache:latest` })).toThrow(/AMUN_K8S_CACHE_REPO/);
    expect(() => kubernetesFromEnv({ AMUN_K8S_CACHE_TTL_HOURS: '0' })).toThrow(/AMUN_K8S_CACHE_TTL_HOURS/);
  });
});

describe('helper images pinned by digest (AMUN_BUILDER_IMAGE, AMUN_K8S_UPLOADER_IMAGE)', () => {
  it('writes each default once, tag and digest side by side, from neither Docker Hub nor a floating digest', () => {
    expect(DEFAULT_BUILDER_IMAGE).toBe(helperImageRef(HELPER_IMAGES.builder));
    expect(DEFAULT_UPLOADER_IMAGE).toBe(helperImageRef(HELPER_IMAGES.uploader));
    for (const image of Object.values(HELPER_IMAGES)) {
      expect(image.repository).not.toMatch(/^(docker\.io\/|index\.docker\.io\/|[^./]+\/[^/]+$)/);
      // No digest is recorded until someone resolves one (manifests/settings.ts says how): never a made-up one.
      expect(image.digest === null || /^sha256:[0-9a-f]{64}$/.test(image.digest)).toBe(true);
    }
  });

  it('refuses a configured tag at configuration time, naming the variable and how to pin it, unless the deployment opted out', () => {
    expect(() => kubernetesFromEnv({ AMUN_BUILDER_IMAGE: 'ghcr.io/osscontainertools/kaniko:debug' })).toThrow(ConfigError);
    expect(() => kubernetesFromEnv({ AMUN_BUILDER_IMAGE: 'ghcr.io/osscontainertools/kaniko:debug' })).toThrow(
      /AMUN_BUILDER_IMAGE must be pinned by digest .*crane digest ghcr\.io\/osscontainertools\/kaniko:debug.*AMUN_K8S_ALLOW_UNPINNED_IMAGES=true/,
    );
    expect(() => kubernetesFromEnv({ AMUN_K8S_UPLOADER_IMAGE: 'curlimages/curl:8.11.1@sha256:abc' })).toThrow(/AMUN_K8S_UPLOADER_IMAGE must be pinned by digest/);
    expect(() => kubernetesFromEnv({ AMUN_K8S_UPLOADER_IMAGE: 'curl 8', AMUN_K8S_ALLOW_UNPINNED_IMAGES: 'true' })).toThrow(/AMUN_K8S_UPLOADER_IMAGE must be an image reference/);
    expect(kubernetesFromEnv({ AMUN_BUILDER_IMAGE: PINNED_KANIKO, AMUN_K8S_UPLOADER_IMAGE: PINNED_CURL })).toMatchObject({ builderImage: PINNED_KANIKO, uploaderImage: PINNED_CURL, allowUnpinnedImages: false });
    expect(kubernetesFromEnv({ AMUN_BUILDER_IMAGE: 'kaniko:debug', AMUN_K8S_ALLOW_UNPINNED_IMAGES: 'true' })).toMatchObject({ builderImage: 'kaniko:debug', allowUnpinnedImages: true });
  });

  it('the executor refuses an image that carries no digest, naming the variable to set; previews still render the defaults', () => {
    const preview = fromEnv({});
    expect(preview).toMatchObject({ builderImage: DEFAULT_BUILDER_IMAGE, uploaderImage: DEFAULT_UPLOADER_IMAGE });
    // The defaults carry no digest until one is recorded in HELPER_IMAGES (manifests/settings.ts).
    expect(() => checkPinnedImages(preview, false)).toThrow(/^configuration: AMUN_BUILDER_IMAGE must name a digest-pinned image for the kubernetes executor: ghcr\.io\/osscontainertools\/kaniko:debug is a tag.*crane digest/);
    expect(() => checkPinnedImages(preview, true)).not.toThrow();
    const pinned = fromEnv({ AMUN_BUILDER_IMAGE: PINNED_KANIKO, AMUN_K8S_UPLOADER_IMAGE: PINNED_CURL });
    expect(() => checkPinnedImages(pinned, false)).not.toThrow();
    expect(() => checkPinnedImages({ ...pinned, uploaderImage: 'quay.io/curl/curl:8.11.1' }, false)).toThrow(/^configuration: AMUN_K8S_UPLOADER_IMAGE /);
  });
});
