/**
 * The check `npm run deploy` makes before anything is created (infra/preflight.ts), fed with
 * DescribeCluster's answers as the SDK returns them: each authentication mode, a cluster that is
 * not there, one in another region, and the other states that would fail the deployment or the
 * functions' first calls. Pure: no AWS call.
 */
import type { Cluster } from '@aws-sdk/client-eks';
import { readContext } from '../../infra/context.js';
import { contextFromArgs, endpointRegion, judgeCluster, judgeImages, judgePlacementNodes, profileFromArgs, type PreflightInput } from '../../infra/preflight.js';

/** A DescribeCluster answer for an EKS cluster made with the console's defaults, trimmed. */
const lab = (overrides: Partial<Cluster> = {}): Cluster => ({
  name: 'lab',
  arn: 'arn:aws:eks:eu-west-1:123456789012:cluster/lab',
  createdAt: new Date('2026-01-05T10:00:00Z'),
  version: '1.31',
  endpoint: 'https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com',
  roleArn: 'arn:aws:iam::123456789012:role/eks-cluster-role',
  resourcesVpcConfig: {
    subnetIds: ['subnet-0a1b2c3d', 'subnet-1a2b3c4d'],
    securityGroupIds: [],
    clusterSecurityGroupId: 'sg-0123456789abcdef0',
    vpcId: 'vpc-0123456789abcdef0',
    endpointPublicAccess: true,
    endpointPrivateAccess: true,
    publicAccessCidrs: ['0.0.0.0/0'],
  },
  kubernetesNetworkConfig: { serviceIpv4Cidr: '10.100.0.0/16', ipFamily: 'ipv4' },
  certificateAuthority: { data: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t' },
  platformVersion: 'eks.12',
  status: 'ACTIVE',
  accessConfig: { bootstrapClusterCreatorAdminPermissions: true, authenticationMode: 'API_AND_CONFIG_MAP' },
  ...overrides,
});

const judge = (described: PreflightInput['described'], options: { region?: string | undefined; endpoint?: string } = {}) =>
  judgeCluster({ cluster: { name: 'lab', endpoint: options.endpoint }, region: 'region' in options ? options.region : 'eu-west-1', described });

describe('authentication mode', () => {
  it.each([['API_AND_CONFIG_MAP'], ['API']] as const)('%s takes access entries: nothing stops the deployment', (mode) => {
    const verdict = judge({ cluster: lab({ accessConfig: { authenticationMode: mode } }) });
    expect(verdict).toEqual({ problems: [], warnings: [], found: `cluster lab in eu-west-1: ACTIVE, Kubernetes 1.31, authentication ${mode}, public endpoint` });
  });

  it('CONFIG_MAP (the default of clusters made with the EKS API, SDKs or CloudFormation) is refused, with the command that switches it', () => {
    const { problems } = judge({ cluster: lab({ accessConfig: { authenticationMode: 'CONFIG_MAP', bootstrapClusterCreatorAdminPermissions: true } }) });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^cluster lab authenticates with CONFIG_MAP: the stack's access entries need API_AND_CONFIG_MAP or API/);
    expect(problems[0]).toContain('aws eks update-cluster-config --name lab --region eu-west-1 --access-config authenticationMode=API_AND_CONFIG_MAP');
    expect(problems[0]).toContain('aws eks wait cluster-active --name lab --region eu-west-1');
    expect(problems[0]).toMatch(/one way only/);
  });

  it('a cluster that reports no mode (made before access entries existed) is refused the same way', () => {
    const { problems } = judge({ cluster: lab({ accessConfig: undefined }) });
    expect(problems).toEqual([expect.stringMatching(/aws-auth ConfigMap only.*authenticationMode=API_AND_CONFIG_MAP/)]);
  });
});

describe('existence and region', () => {
  it('a cluster DescribeCluster does not find (ResourceNotFoundException) names the cluster, the region and both ways to fix it', () => {
    const verdict = judge({ error: { name: 'ResourceNotFoundException', message: 'No cluster found for name: lab.' } });
    expect(verdict.found).toBeUndefined();
    expect(verdict.problems).toEqual([expect.stringMatching(/^no EKS cluster named lab in region eu-west-1: check the name \(-c eksClusterName=…, default amun\) and the region \(AWS_REGION/)]);
  });

  it('an answer from another region than the deployment goes to is refused with the cluster\'s region', () => {
    const { problems } = judge({ cluster: lab({ arn: 'arn:aws:eks:us-east-1:123456789012:cluster/lab', endpoint: 'https://ABC.gr7.us-east-1.eks.amazonaws.com' }) });
    expect(problems).toEqual([expect.stringMatching(/is in us-east-1, but the stack deploys to eu-west-1: set AWS_REGION=us-east-1$/)]);
  });

  it('an endpoint in the context from another region is refused before anything else is looked at', () => {
    const { problems } = judge({ error: { name: 'ResourceNotFoundException' } }, { endpoint: 'https://ABC.yl4.us-east-2.eks.amazonaws.com' });
    expect(problems[0]).toMatch(/^eksClusterEndpoint https:\/\/ABC\.yl4\.us-east-2\.eks\.amazonaws\.com is a cluster API in us-east-2, but the stack deploys to eu-west-1/);
    expect(problems).toHaveLength(2);
  });

  it('an endpoint in the context that is not the cluster\'s is refused', () => {
    const { problems } = judge({ cluster: lab() }, { endpoint: 'https://FFFF.gr7.eu-west-1.eks.amazonaws.com' });
    expect(problems).toEqual([expect.stringMatching(/^eksClusterEndpoint https:\/\/FFFF\.gr7\.eu-west-1\.eks\.amazonaws\.com is not the endpoint of cluster lab/)]);
    expect(judge({ cluster: lab() }, { endpoint: `${lab().endpoint}/` }).problems).toEqual([]);
  });

  it('no region at all is refused without a lookup', () => {
    expect(judge(undefined, { region: undefined }).problems).toEqual([expect.stringMatching(/^no AWS region is configured: set AWS_REGION to the region of cluster lab/)]);
  });

  it('a caller that may not describe the cluster, or an error on the way, stops the deployment with the reason', () => {
    expect(judge({ error: { name: 'AccessDeniedException', message: 'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: eks:DescribeCluster' } }).problems).toEqual([
      expect.stringMatching(/^may not describe cluster lab in region eu-west-1 \(User: .*\): the deploying identity needs eks:DescribeCluster/),
    ]);
    expect(judge({ error: { name: 'CredentialsProviderError', message: 'Could not load credentials from any providers' } }).problems).toEqual([
      'could not describe cluster lab in region eu-west-1: CredentialsProviderError: Could not load credentials from any providers',
    ]);
  });

  it('reads the region of EKS endpoints, China\'s included', () => {
    expect(endpointRegion('https://ABC.gr7.eu-west-1.eks.amazonaws.com')).toBe('eu-west-1');
    expect(endpointRegion('https://ABC.sk1.cn-north-1.eks.amazonaws.com.cn')).toBe('cn-north-1');
    expect(endpointRegion('https://ABC.gr7.us-gov-west-1.eks.amazonaws.com')).toBe('us-gov-west-1');
    expect(endpointRegion('https://kube.example.com')).toBeUndefined();
    expect(endpointRegion('not a url')).toBeUndefined();
  });
});

describe('what else the first deployment or the first calls would trip on', () => {
  it.each([['CREATING'], ['UPDATING']] as const)('%s: wait for ACTIVE', (status) => {
    expect(judge({ cluster: lab({ status }) }).problems).toEqual([expect.stringMatching(new RegExp(`^cluster lab is ${status}: .*aws eks wait cluster-active --name lab --region eu-west-1`))]);
  });

  it.each([['DELETING'], ['FAILED']] as const)('%s: refused', (status) => {
    expect(judge({ cluster: lab({ status }) }).problems).toEqual([`cluster lab is ${status}: it cannot take access entries or run Amun's Jobs`]);
  });

  it('a private-only endpoint is refused: the functions run outside any VPC', () => {
    const { problems } = judge({ cluster: lab({ resourcesVpcConfig: { ...lab().resourcesVpcConfig, endpointPublicAccess: false, publicAccessCidrs: [] } }) });
    expect(problems).toEqual([expect.stringMatching(/has no public API endpoint.*endpointPublicAccess=true/)]);
  });

  it('a public endpoint limited to some addresses is a warning, not a refusal', () => {
    const verdict = judge({ cluster: lab({ resourcesVpcConfig: { ...lab().resourcesVpcConfig, publicAccessCidrs: ['203.0.113.0/24'] } }) });
    expect(verdict.problems).toEqual([]);
    expect(verdict.warnings).toEqual([expect.stringMatching(/admits only 203\.0\.113\.0\/24/)]);
  });

  it.each([
    ['1.28', false],
    ['1.29', true],
    ['1.30', true],
    ['2.0', true],
  ])('Kubernetes %s: %s', (version, ok) => {
    expect(judge({ cluster: lab({ version }) }).problems).toEqual(ok ? [] : [expect.stringMatching(/runs Kubernetes 1\.28: Amun's run pods need 1\.29 or later/)]);
  });

  it('several problems are all reported at once', () => {
    const { problems } = judge({ cluster: lab({ status: 'UPDATING', version: '1.27', accessConfig: { authenticationMode: 'CONFIG_MAP' } }) });
    expect(problems).toHaveLength(3);
  });
});

describe('the command line the check reads', () => {
  const args = ['Amun', '-c', 'eksClusterName=lab', '--context', 'deployment=prod', '--context=eksNamespace=amun-prod', '-cretainData=false', '--profile', 'ops', '--require-approval', 'never'];

  it('takes -c and --context values in every spelling cdk accepts, and the profile', () => {
    expect(contextFromArgs(args)).toEqual({ eksClusterName: 'lab', deployment: 'prod', eksNamespace: 'amun-prod', retainData: 'false' });
    expect(profileFromArgs(args)).toBe('ops');
    expect(profileFromArgs(['--profile=ops'])).toBe('ops');
    expect(profileFromArgs([])).toBeUndefined();
  });

  it('reads them through the same context reader as the app: the cluster the stack would use is the one checked', () => {
    const values = contextFromArgs(args);
    const context = readContext({ tryGetContext: (key: string) => values[key] });
    expect(context.cluster).toMatchObject({ name: 'lab', namespace: 'amun-prod', builderServiceAccount: 'prod-amun-builder' });
    expect(readContext({ tryGetContext: () => undefined }).cluster.name).toBe('amun');
  });
});

describe('the images of the cluster\'s pods', () => {
  const pinned = (name: string): string => `${name}@sha256:${'a'.repeat(64)}`;

  it('refuses tags (the defaults carry no digest), naming the context key and how to pin it', () => {
    const problems = judgeImages({ allowUnpinnedImages: false });
    expect(problems).toEqual([expect.stringMatching(/kaniko:debug \(-c builderImage\) is named by tag only.*crane digest/), expect.stringMatching(/curl:[0-9.]+ \(-c uploaderImage\) is named by tag only/)]);
    expect(judgeImages({ builderImage: pinned('ghcr.io/osscontainertools/kaniko:debug'), uploaderImage: 'quay.io/curl/curl:8', allowUnpinnedImages: false })).toEqual([expect.stringMatching(/^quay\.io\/curl\/curl:8 \(-c uploaderImage\)/)]);
  });

  it('accepts digest-pinned images, or tags when the deployment opts out', () => {
    expect(judgeImages({ builderImage: pinned('ghcr.io/osscontainertools/kaniko:debug'), uploaderImage: pinned('quay.io/curl/curl:8.11.1'), allowUnpinnedImages: false })).toEqual([]);
    expect(judgeImages({ allowUnpinnedImages: true })).toEqual([]);
  });
});

describe('the Pod Identity Agent', () => {
  const withAgent = (podIdentityAgent: PreflightInput['podIdentityAgent']) =>
    judgeCluster({ cluster: { name: 'lab' }, region: 'eu-west-1', described: { cluster: lab() }, podIdentityAgent });

  it('an ACTIVE add-on: nothing to say', () => {
    expect(withAgent({ status: 'ACTIVE' })).toMatchObject({ problems: [], warnings: [] });
  });

  it('no add-on (build pods would get no AWS credentials from their association) stops the deployment, with the command that installs it', () => {
    const { problems } = withAgent({ error: { name: 'ResourceNotFoundException', message: 'No addon: eks-pod-identity-agent found in cluster: lab' } });
    expect(problems).toEqual([expect.stringMatching(/^cluster lab has no eks-pod-identity-agent add-on: .*aws eks create-addon --cluster-name lab --addon-name eks-pod-identity-agent --region eu-west-1$/)]);
  });

  it('an add-on not ACTIVE yet, or one the deploying identity may not describe, is a warning', () => {
    expect(withAgent({ status: 'CREATING' })).toMatchObject({ problems: [], warnings: [expect.stringMatching(/is CREATING, not ACTIVE/)] });
    expect(withAgent({ error: { name: 'AccessDeniedException', message: 'not authorized to perform: eks:DescribeAddon' } })).toMatchObject({ problems: [], warnings: [expect.stringMatching(/could not check the eks-pod-identity-agent add-on.*AccessDeniedException/)] });
  });

  it('not asked (the cluster was not found): nothing about it', () => {
    expect(withAgent(undefined)).toMatchObject({ problems: [], warnings: [] });
  });
});

describe('the node labels of the preset (the nodes listed with the deploying identity)', () => {
  // An NFD cluster whose GPU node NFD's worker skipped (no toleration): CPU labels on the CPU node only.
  const cpu = { metadata: { name: 'ip-10-0-1-7', labels: { 'feature.node.kubernetes.io/cpu-model.family': '6', 'feature.node.kubernetes.io/cpu-model.id': '85', 'feature.node.kubernetes.io/cpu-model.vendor_id': 'Intel' } } };
  const gpu = {
    metadata: { name: 'ip-10-0-2-9', labels: { 'nvidia.com/gpu.product': 'NVIDIA-A10G' } },
    spec: { taints: [{ key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' }] },
    status: { allocatable: { 'nvidia.com/gpu': '1' } },
  };

  it('what the check finds is a warning, never a problem: the deployment goes on', () => {
    const verdict = judgePlacementNodes('lab', 'nfd', { nodes: [cpu, gpu] });
    expect(verdict.found).toBe('nodes of cluster lab: 2 nodes, 1 with GPUs (ip-10-0-2-9: 1 nvidia.com/gpu NVIDIA-A10G); CPU labels of preset nfd on 1 (ip-10-0-1-7)');
    expect(verdict.warnings).toEqual([expect.stringMatching(/^placement \(preset nfd\): GPU node ip-10-0-2-9 lacks .*install it with deploy\/helm\/node-feature-discovery-values\.yaml/)]);
    expect(Object.keys(verdict)).not.toContain('problems');
  });

  it('a Karpenter cluster with no nodes yet: expected', () => {
    expect(judgePlacementNodes('lab', 'karpenter', { nodes: [], nodePools: { pools: [{ name: 'default', requirements: [], taints: [] }] } }).warnings).toEqual([
      'placement (preset karpenter): no nodes yet: expected on a cluster where Karpenter launches nodes for pending pods (the first build waits for one)',
    ]);
  });

  it('an identity that may not list nodes: the check is skipped, with the access policy that allows it and the CLI command that does it with a kubeconfig', () => {
    const { warnings, found } = judgePlacementNodes('lab', 'nfd', { error: { message: 'cannot list the nodes of the cluster at https://x.eks.amazonaws.com: 403 nodes is forbidden', status: 403 } });
    expect(found).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/^the deploying identity may not list the nodes of cluster lab \(.*403 nodes is forbidden\).*AmazonEKSAdminViewPolicy.*`amun cluster check --label-preset nfd`/)]);
    expect(judgePlacementNodes('lab', 'nfd', { error: { message: 'no answer within 10 s' } }).warnings).toEqual([expect.stringMatching(/^could not list the nodes of cluster lab \(no answer within 10 s\).*amun cluster check/)]);
  });
});
