import { ConfigError, kubernetesFromEnv } from '../../functions/config.js';
import { clusterSettings } from '../../functions/adapters/kubernetes/cluster.js';

const base = { bucket: 'amun', region: 'eu-west-1', endpoint: undefined };
const registry = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/amun';

describe('cluster settings from AMUN_K8S_*', () => {
  it('takes the deployment settings from the environment, with the defaults beneath', () => {
    const defaults = clusterSettings({ ...base, kubernetes: kubernetesFromEnv({ AMUN_REGISTRY: registry }) });
    expect(defaults).toMatchObject({ namespace: 'amun', builderServiceAccount: 'amun-builder', exclusiveNodes: false, storage: { bucket: 'amun', region: 'eu-west-1' } });
    const set = clusterSettings({
      ...base,
      kubernetes: kubernetesFromEnv({
        AMUN_REGISTRY: registry,
        AMUN_K8S_NAMESPACE: 'lab',
        AMUN_K8S_BUILDER_SERVICE_ACCOUNT: 'kaniko',
        AMUN_K8S_EXCLUSIVE_NODES: 'true',
        AMUN_K8S_UPLOADER_IMAGE: 'registry.example/curl:1',
        AMUN_K8S_BUILD_DEADLINE_SECONDS: '1200',
        AMUN_K8S_POD_STORAGE_ENDPOINT: 'http://minio.lab:9000',
      }),
    });
    expect(set).toMatchObject({
      namespace: 'lab',
      builderServiceAccount: 'kaniko',
      exclusiveNodes: true,
      uploaderImage: 'registry.example/curl:1',
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
