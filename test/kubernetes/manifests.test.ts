/**
 * The pure manifest builders: exact placement terms for CPU-pinned and GPU specs, the run Job's
 * Indexed shape, failure policy, deadline and security, the build Job's kaniko invocation, names,
 * labels, and every manifest valid against the Kubernetes schema (kubernetes-models).
 */
import {
  buildImageTag,
  buildJob,
  curlPostConfig,
  curlPutConfig,
  dockerConfigMap,
  DO_NOT_DISRUPT,
  GRANT_FILE_MODE,
  INTERRUPTED_EXIT_CODE,
  LABELS,
  objectName,
  ownerOf,
  RUN_OVERHEAD_SECONDS,
  RUN_START_GRACE_SECONDS,
  runJob,
  runJobDeadline,
  pinnedImage,
  uploadSecret,
  UPLOADER_USER,
} from '../../functions/adapters/kubernetes/manifests/index.js';
import { RUN_USER } from '../../functions/core/dockerfile.js';
import { CPU_INSTANCE_FAMILIES, instanceFamiliesFor, karpenterGpuName, LABEL_PRESETS, PlacementError, type LabelMap } from '../../functions/adapters/kubernetes/manifests/placement.js';
import { previewManifests, RUN_IMAGE_PLACEHOLDER } from '../../functions/adapters/kubernetes/manifests/preview.js';
import { cpuPinnedSpec, DIGEST, ECR, gpuSpec, settings, validateManifest } from './support/fixtures.js';

const ID = 'inspection-cpu-pinned-0123abcd';
const MANIFEST = `sha256:${'e'.repeat(64)}`;
const run = (spec = cpuPinnedSpec(), s = settings()) =>
  runJob({ inspectionId: ID, spec, image: pinnedImage(s.registry, MANIFEST), deadlineSeconds: spec.run?.deadline_seconds ?? 3600, resultsPrefix: `inspections/${ID}/results/`, settings: s });

describe('run Job placement', () => {
  it('CPU-pinned spec: one required node affinity term with exactly the NFD labels asked for', () => {
    const job = run();
    const pod = job.spec!.template.spec!;
    expect(pod.affinity).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: 'feature.node.kubernetes.io/cpu-model.family', operator: 'In', values: ['6'] },
                { key: 'feature.node.kubernetes.io/cpu-model.id', operator: 'In', values: ['85'] },
                { key: 'feature.node.kubernetes.io/cpu-model.vendor_id', operator: 'In', values: ['Intel'] },
              ],
            },
          ],
        },
      },
    });
    expect(pod.nodeSelector).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
    const harness = pod.containers[0]!;
    expect(harness.resources).toEqual({ requests: { cpu: '2', memory: '1Gi' }, limits: { cpu: '2', memory: '1Gi' } });
    validateManifest(job);
  });

  it('the amun preset places on the original deployment’s own labels, physical_cpus included', () => {
    const spec = cpuPinnedSpec();
    spec.run!.requests!.hardware = { cpu_family: 6, cpu_model: 85, physical_cpus: 8, processor: 'Intel-Xeon-Gold-6240' };
    const terms = run(spec, settings({ labels: LABEL_PRESETS.amun })).spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms;
    expect(terms).toEqual([
      {
        matchExpressions: [
          { key: 'CPU_FAMILY', operator: 'In', values: ['6'] },
          { key: 'CPU_MODEL', operator: 'In', values: ['85'] },
          { key: 'PHYSICAL_CPUS', operator: 'In', values: ['8'] },
          { key: 'processor', operator: 'In', values: ['Intel-Xeon-Gold-6240'] },
        ],
      },
    ]);
  });

  it('a request the label map cannot express is refused with its path, never dropped', () => {
    const unplaceable = cpuPinnedSpec();
    unplaceable.run!.requests!.hardware = { cpu_family: 6, cpu_model: 999, physical_cpus: 8 };
    const attempt = () => run(unplaceable, settings({ labels: LABEL_PRESETS.karpenter }));
    expect(attempt).toThrow(PlacementError);
    try {
      attempt();
    } catch (error) {
      expect((error as PlacementError).problems.map((p) => p.path)).toEqual(['/run/requests/hardware/cpu_model', '/run/requests/hardware/physical_cpus']);
      expect((error as PlacementError).problems[0]!.message).toMatch(/none is known for CPU family 6 model 999; known: .*6\/85 \(Intel Xeon Skylake-SP/);
    }
    const spec = cpuPinnedSpec();
    spec.run!.requests!.hardware = { physical_cpus: 4 };
    expect(() => run(spec)).toThrow(/physical_cpus/);
    // NFD and Karpenter know a CPU's vendor, not its model name: the original's processor names are refused there.
    spec.run!.requests!.hardware = { processor: 'Intel-Xeon-Gold-6240' };
    expect(() => run(spec)).toThrow(/processor/);
    spec.run!.requests!.hardware = { processor: 'AMD' };
    expect(run(spec, settings({ labels: LABEL_PRESETS.karpenter })).spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions).toEqual([
      { key: 'karpenter.k8s.aws/instance-cpu-manufacturer', operator: 'In', values: ['amd'] },
    ]);
  });

  it('Karpenter and EKS Auto Mode place a CPU family and model by the EC2 instance families built on it (nodes they can provision)', () => {
    const terms = (labels: LabelMap, hardware: Record<string, number | string>) => {
      const spec = cpuPinnedSpec();
      spec.run!.requests!.hardware = hardware;
      return run(spec, settings({ labels })).spec!.template.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions;
    };
    expect(terms(LABEL_PRESETS.karpenter, { cpu_family: 6, cpu_model: 106, processor: 'Intel' })).toEqual([
      { key: 'karpenter.k8s.aws/instance-family', operator: 'In', values: ['c6i', 'c6id', 'c6in', 'm6i', 'm6id', 'm6idn', 'm6in', 'r6i', 'r6id', 'r6idn', 'r6in'] },
      { key: 'karpenter.k8s.aws/instance-cpu-manufacturer', operator: 'In', values: ['intel'] },
    ]);
    expect(terms(LABEL_PRESETS['eks-auto'], { cpu_family: 25, cpu_model: 1 })).toEqual([{ key: 'eks.amazonaws.com/instance-family', operator: 'In', values: ['c6a', 'g6', 'g6e', 'm6a', 'p5', 'r6a'] }]);
    // A family alone: every model of it in the table.
    expect(terms(LABEL_PRESETS.karpenter, { cpu_family: 25 })![0]!.values).toEqual(['c6a', 'c7a', 'g6', 'g6e', 'm6a', 'm7a', 'p5', 'r6a', 'r7a']);
    // examples/gpu.yaml (an H100 on an AMD Zen 3/4 host) can be provisioned: p5 is both.
    const example = gpuSpec();
    example.run!.requests!.hardware = { cpu_family: 25 };
    const pod = run(example, settings({ labels: LABEL_PRESETS.karpenter })).spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ 'karpenter.k8s.aws/instance-gpu-name': 'h100' });
    expect(pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions![0]!.values).toContain('p5');
    expect(instanceFamiliesFor(6, 85)).toContain('m5');
    // Every instance family is a valid label value and belongs to one CPU only.
    const all = CPU_INSTANCE_FAMILIES.flatMap((r) => r.instanceFamilies);
    expect(new Set(all).size).toBe(all.length);
    const gpu = run(gpuSpec(), settings({ labels: LABEL_PRESETS['eks-auto'] })).spec!.template.spec!;
    expect(gpu.nodeSelector).toEqual({ 'eks.amazonaws.com/instance-gpu-name': 'h100' });
    validateManifest(run(cpuPinnedSpec(), settings({ labels: LABEL_PRESETS['eks-auto'] })));
  });

  it('GPU spec: nvidia.com/gpu limit, product node selector, toleration of the GPU taint', () => {
    const spec = gpuSpec();
    const job = run(spec);
    const pod = job.spec!.template.spec!;
    expect(pod.containers[0]!.resources).toEqual({ requests: { cpu: '4', memory: '16Gi' }, limits: { cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' } });
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-H100-80GB-HBM3' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.affinity).toBeUndefined();
    // The upload sidecar gets no GPU.
    expect(pod.initContainers![0]!.resources!.limits).not.toHaveProperty(['nvidia.com/gpu']);
    expect(job.spec).toMatchObject({ completions: 2, parallelism: 2 });
    validateManifest(job);
  });

  it('Karpenter places a GPU product by its instance-gpu-name', () => {
    expect(['NVIDIA-H100-80GB-HBM3', 'NVIDIA-A10G', 'Tesla-T4', 'l40s'].map(karpenterGpuName)).toEqual(['h100', 'a10g', 't4', 'l40s']);
    const pod = run(gpuSpec(), settings({ labels: LABEL_PRESETS.karpenter })).spec!.template.spec!;
    expect(pod.nodeSelector).toEqual({ 'karpenter.k8s.aws/instance-gpu-name': 'h100' });
  });

  it('exclusive nodes: required anti-affinity against every other Amun run, per host', () => {
    const pod = run(cpuPinnedSpec(), settings({ exclusiveNodes: true })).spec!.template.spec!;
    expect(pod.affinity!.podAntiAffinity).toEqual({
      requiredDuringSchedulingIgnoredDuringExecution: [
        { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'amun', 'app.kubernetes.io/component': 'run' } } },
      ],
    });
    expect(pod.affinity!.nodeAffinity).toBeDefined();
  });
});

describe('run Job shape', () => {
  it('is Indexed with completions = batch_size, sequential by default, one retry per index, no TTL yet', () => {
    const job = run();
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 1, backoffLimitPerIndex: 1 });
    expect(job.spec!.ttlSecondsAfterFinished).toBeUndefined();
    expect(job.spec!.backoffLimit).toBeUndefined();
    expect(job.spec!.template.spec!.restartPolicy).toBe('Never');
  });

  it('retries disruptions without counting them and an interrupted harness once; never a harness that exited otherwise non-zero', () => {
    expect(run().spec!.podFailurePolicy).toEqual({
      rules: [
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        { action: 'FailIndex', onExitCodes: { containerName: 'harness', operator: 'NotIn', values: [0, INTERRUPTED_EXIT_CODE] } },
      ],
    });
    // The harness records no result when SIGTERM cuts its run short, and exits with that code.
    expect(run().spec!.template.spec!.containers[0]!.env).toContainEqual({ name: 'AMUN_INTERRUPTED_EXIT_CODE', value: String(INTERRUPTED_EXIT_CODE) });
    expect(INTERRUPTED_EXIT_CODE).toBe(143);
  });

  it('asks Karpenter not to disrupt a node while a run measures on it', () => {
    expect(run().spec!.template.metadata!.annotations).toEqual({ 'karpenter.sh/do-not-disrupt': 'true' });
    expect(run(gpuSpec()).spec!.template.metadata!.annotations).toEqual(DO_NOT_DISRUPT);
  });

  it('has a deadline for every wave of runs plus start-up; each run gets its own through the harness', () => {
    expect(run().spec!.activeDeadlineSeconds).toBe(3 * (300 + RUN_OVERHEAD_SECONDS) + RUN_START_GRACE_SECONDS);
    expect(runJobDeadline(5, 2, 100)).toBe(3 * (100 + RUN_OVERHEAD_SECONDS) + RUN_START_GRACE_SECONDS);
    expect(runJobDeadline(2, 10, 100)).toBe(1 * (100 + RUN_OVERHEAD_SECONDS) + RUN_START_GRACE_SECONDS);
    const env = run().spec!.template.spec!.containers[0]!.env!;
    expect(env).toEqual(expect.arrayContaining([{ name: 'AMUN_DEADLINE_SECONDS', value: '300' }, { name: 'AMUN_EXECUTOR_KIND', value: 'kubernetes' }]));
  });

  it('passes the configured output limits to the harness (its own defaults otherwise)', () => {
    const names = (s = settings()) => run(cpuPinnedSpec(), s).spec!.template.spec!.containers[0]!.env!;
    expect(names().map((e) => e.name)).not.toContain('AMUN_OUTPUT_LIMIT_BYTES');
    expect(names(settings({ output: { logBytes: 4096, resultBytes: 2048 } }))).toEqual(
      expect.arrayContaining([{ name: 'AMUN_OUTPUT_LIMIT_BYTES', value: '4096' }, { name: 'AMUN_RESULT_OUTPUT_LIMIT_BYTES', value: '2048' }]),
    );
  });

  it('runs the harness as UID 1042, non-root, no escalation, no capabilities, RuntimeDefault seccomp, no token, no cloud credentials', () => {
    const pod = run().spec!.template.spec!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsUser: 1042, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of [...pod.initContainers!, ...pod.containers]) {
      const user = c.name === 'harness' ? 1042 : UPLOADER_USER;
      expect(c.securityContext).toMatchObject({ runAsUser: user, runAsNonRoot: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
      for (const e of c.env ?? []) {
        expect(e.name).not.toMatch(/^AWS_|TOKEN|ACCESS_KEY|SECRET_KEY|CREDENTIAL/);
        expect(e.valueFrom?.secretKeyRef).toBeUndefined();
      }
      expect(c.envFrom).toBeUndefined();
    }
    // The upload grant is mounted into the sidecar only, never where the user's script runs.
    const harness = pod.containers.find((c) => c.name === 'harness')!;
    expect(harness.volumeMounts).toEqual([{ name: 'output', mountPath: '/home/amun/output' }]);
    const upload = pod.initContainers!.find((c) => c.name === 'upload')!;
    expect(upload).toMatchObject({ restartPolicy: 'Always', image: settings().uploaderImage });
    expect(upload.volumeMounts).toEqual(expect.arrayContaining([{ name: 'upload', mountPath: '/amun/secrets', readOnly: true }]));
  });

  it('keeps the upload grant from UID 1042: mounted into the sidecar alone, which runs as another UID, files 0400 of the sidecar’s group', () => {
    const pod = run().spec!.template.spec!;
    expect(UPLOADER_USER).not.toBe(RUN_USER);
    expect(pod.volumes!.find((v) => v.name === 'upload')).toEqual({ name: 'upload', secret: { secretName: `${ID}-run-upload`, defaultMode: 0o400 } });
    expect(GRANT_FILE_MODE).toBe(0o400);
    // fsGroup gives the files to the sidecar's group (the kubelet adds group read to 0400), not the harness's.
    expect(pod.securityContext!.fsGroup).toBe(UPLOADER_USER);
    const mounting = [...pod.initContainers!, ...pod.containers].filter((c) => (c.volumeMounts ?? []).some((m) => m.name === 'upload')).map((c) => c.name);
    expect(mounting).toEqual(['upload']);
    const upload = pod.initContainers!.find((c) => c.name === 'upload')!;
    expect(upload.securityContext).toMatchObject({ runAsUser: UPLOADER_USER, runAsGroup: UPLOADER_USER, readOnlyRootFilesystem: true });
    // The sidecar only reads the harness's output; no shared process namespace to reach its files through /proc.
    expect(upload.volumeMounts).toContainEqual({ name: 'output', mountPath: '/amun/output', readOnly: true });
    expect(pod.shareProcessNamespace).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
  });

  it('runs the image pinned by manifest digest, never a tag', () => {
    const job = run();
    expect(job.spec!.template.spec!.containers[0]!.image).toBe(`${ECR}@${MANIFEST}`);
    expect(job.metadata!.annotations!['amun/image']).toBe(`${ECR}@${MANIFEST}`);
    expect(() => pinnedImage(ECR, DIGEST)).toThrow(/sha256/);
    expect(() => pinnedImage(ECR, `sha256:${'E'.repeat(64)}`)).toThrow();
  });

  it('reads the item from the completion index and writes results under the inspection’s prefix', () => {
    const pod = run().spec!.template.spec!;
    const index = { name: 'AMUN_ITEM', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } };
    expect(pod.containers[0]!.env).toContainEqual(index);
    expect(pod.initContainers![0]!.env).toEqual(expect.arrayContaining([index, { name: 'AMUN_RESULTS_PREFIX', value: `inspections/${ID}/results/` }]));
    expect(pod.containers[0]!.command).toEqual(['python3', '-I', '-S', '/opt/amun/harness/entrypoint.py']);
  });
});

describe('build Job', () => {
  const build = (s = settings()) => buildJob({ inspectionId: ID, spec: cpuPinnedSpec(), stackDigest: DIGEST, contextKey: `inspections/${ID}/build/context.tar.gz`, settings: s });

  it('runs kaniko on the stored context tarball, pushing the build’s own tag, then the report step', () => {
    const job = build();
    const pod = job.spec!.template.spec!;
    const kaniko = pod.initContainers![0]!;
    expect(kaniko.image).toBe('ghcr.io/osscontainertools/kaniko:debug');
    expect(kaniko.command!.slice(0, 2)).toEqual(['/busybox/sh', '-c']);
    expect(kaniko.command!.slice(3)).toEqual([
      'amun-build',
      `--context=s3://amun-bucket/inspections/${ID}/build/context.tar.gz`,
      '--dockerfile=Dockerfile',
      `--destination=${buildImageTag(ECR, DIGEST, ID)}`,
      '--digest-file=/amun/work/digest',
      '--push-retry=3',
      '--verbosity=info',
    ]);
    expect(kaniko.resources).toEqual({ requests: { cpu: '1', memory: '2Gi', 'ephemeral-storage': '10Gi' }, limits: { cpu: '1', memory: '2Gi', 'ephemeral-storage': '10Gi' } });
    expect(pod.containers.map((c) => c.name)).toEqual(['report']);
    expect(pod.containers[0]!.env).toEqual(expect.arrayContaining([{ name: 'AMUN_IMAGE', value: buildImageTag(ECR, DIGEST, ID) }, { name: 'AMUN_STACK_DIGEST', value: DIGEST }]));
    expect(job.spec).toMatchObject({ backoffLimit: 0, completions: 1, activeDeadlineSeconds: 3600 });
    expect(pod).toMatchObject({ serviceAccountName: 'amun-builder', automountServiceAccountToken: false, restartPolicy: 'Never' });
    // The presigned URLs are mounted into the report step only.
    expect(kaniko.volumeMounts!.map((m) => m.name)).toEqual(['work', 'docker-config']);
    validateManifest(job);
  });

  it('the report step holds the grants as its own UID and only reads what kaniko left', () => {
    const pod = build().spec!.template.spec!;
    const report = pod.containers.find((c) => c.name === 'report')!;
    expect(report.securityContext).toMatchObject({ runAsUser: UPLOADER_USER, runAsGroup: UPLOADER_USER, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(report.volumeMounts).toEqual([
      { name: 'work', mountPath: '/amun/work', readOnly: true },
      { name: 'upload', mountPath: '/amun/secrets', readOnly: true },
    ]);
    expect(pod.volumes!.find((v) => v.name === 'upload')).toEqual({ name: 'upload', secret: { secretName: `${ID}-build-upload`, defaultMode: 0o400 } });
    expect(pod.securityContext).toMatchObject({ fsGroup: UPLOADER_USER });
    expect([...pod.initContainers!, ...pod.containers].filter((c) => (c.volumeMounts ?? []).some((m) => m.name === 'upload')).map((c) => c.name)).toEqual(['report']);
  });

  it('tags each build by stack digest and inspection: deterministic, its own, a valid tag', () => {
    const tag = buildImageTag(ECR, DIGEST, ID);
    expect(tag).toMatch(new RegExp(`^${ECR.replace(/\./g, '\\.')}:${DIGEST}-[0-9a-f]{16}$`));
    expect(tag.split(':').at(-1)!).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/);
    expect(buildImageTag(ECR, DIGEST, ID)).toBe(tag);
    expect(buildImageTag(ECR, DIGEST, 'inspection-cpu-pinned-0123abce')).not.toBe(tag);
  });

  it('uses kaniko’s ECR credential helper for ECR, a dockerconfigjson Secret elsewhere, and S3-compatible endpoints', () => {
    const cm = dockerConfigMap(ID, settings());
    expect(JSON.parse(cm.data!['config.json']!)).toEqual({ credHelpers: { '123456789012.dkr.ecr.eu-west-1.amazonaws.com': 'ecr-login' } });
    validateManifest(cm);
    const other = build(settings({ registry: 'registry.example.com/team/amun', registryAuth: { kind: 'secret', secretName: 'regcred' }, storage: { bucket: 'b', region: 'us-east-1', endpoint: 'http://minio.amun:9000' } }));
    const pod = other.spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'docker-config', secret: { secretName: 'regcred', items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
    expect(pod.initContainers![0]!.env).toEqual(expect.arrayContaining([{ name: 'S3_ENDPOINT', value: 'http://minio.amun:9000' }, { name: 'S3_FORCE_PATH_STYLE', value: 'true' }]));
    const runPod = run(cpuPinnedSpec(), settings({ registry: 'registry.example.com/team/amun', registryAuth: { kind: 'secret', secretName: 'regcred' } })).spec!.template.spec!;
    expect(runPod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });

  it('is placed by build.requests hardware too', () => {
    const spec = cpuPinnedSpec();
    spec.build = { requests: { cpu: '1', memory: '1Gi', hardware: { cpu_family: 25 } } };
    const pod = buildJob({ inspectionId: ID, spec, stackDigest: DIGEST, contextKey: 'k', settings: settings() }).spec!.template.spec!;
    expect(pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchExpressions).toEqual([
      { key: 'feature.node.kubernetes.io/cpu-model.family', operator: 'In', values: ['25'] },
    ]);
  });
});

describe('names, labels and secrets', () => {
  it('names are deterministic, valid and short enough for Indexed pod hostnames', () => {
    expect(objectName(ID, 'run')).toBe(`${ID}-run`);
    const long = `inspection-${'x'.repeat(43)}-0123abcd`;
    expect(long.length).toBe(63);
    const name = objectName(long, 'build-upload');
    expect(name.length).toBeLessThanOrEqual(52);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(objectName(long, 'build-upload')).toBe(name);
    expect(objectName(long.replace(/0123abcd$/, '0123abce'), 'build-upload')).not.toBe(name);
    expect(() => objectName('not an id', 'run')).toThrow();
  });

  it('labels every object with the inspection id', () => {
    const job = run();
    for (const labels of [job.metadata!.labels, job.spec!.template.metadata!.labels]) {
      expect(labels).toEqual({ [LABELS.name]: 'amun', [LABELS.component]: 'run', [LABELS.managedBy]: 'amun', [LABELS.inspection]: ID });
    }
  });

  it('secrets are owned by their Job and carry curl configs with quoting', () => {
    const owner = { metadata: { name: `${ID}-run`, uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427' } };
    const secret = uploadSecret({ inspectionId: ID, component: 'run', namespace: 'amun', files: { 'post.curlrc': curlPostConfig('https://b.s3.eu-west-1.amazonaws.com/', { policy: 'eyJ9', 'x-amz-signature': 'ab"c\\d' }) }, owner });
    expect(secret.metadata!.ownerReferences).toEqual(ownerOf(owner));
    expect(secret.stringData!['post.curlrc']).toBe('url = "https://b.s3.eu-west-1.amazonaws.com/"\nform-string = "policy=eyJ9"\nform-string = "x-amz-signature=ab\\"c\\\\d"\n');
    expect(curlPutConfig('https://x/y?a=1&b=2')).toBe('url = "https://x/y?a=1&b=2"\n');
    expect(() => curlPutConfig('https://x/\nurl = "https://evil"')).toThrow();
    validateManifest(secret);
  });

  it('refuses a registry or digest that could carry anything but a reference', () => {
    expect(() => buildImageTag('registry.example.com/amun --insecure', DIGEST, ID)).toThrow();
    expect(() => buildImageTag(ECR, 'latest', ID)).toThrow();
    expect(() => buildImageTag(ECR, DIGEST, 'not an id')).toThrow();
    expect(() => pinnedImage('registry.example.com/amun --insecure', MANIFEST)).toThrow();
  });

  it('the preview is the executor’s manifests, all valid', () => {
    for (const spec of [cpuPinnedSpec(), gpuSpec()]) {
      const manifests = previewManifests({ inspectionId: ID, spec, stackDigest: DIGEST, settings: settings(), storePrefix: 'inspections', deadlineSeconds: 600 });
      expect(manifests.map((m) => m.kind)).toEqual(['Job', 'Secret', 'ConfigMap', 'Job', 'Secret']);
      manifests.forEach(validateManifest);
      // No digest exists before the build: the run Job shows where the recorded one goes, never a tag.
      expect((manifests[3] as { spec: { template: { spec: { containers: Array<{ image: string }> } } } }).spec.template.spec.containers[0]!.image).toBe(`${ECR}${RUN_IMAGE_PLACEHOLDER}`);
    }
  });
});
