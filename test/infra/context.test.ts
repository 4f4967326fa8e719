/**
 * Context values: defaults, checks with actionable messages, and what each option changes in the
 * template (JWT authorization, data removal, a given cluster endpoint). Templates only.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { contextDefaults, readContext, type ContextKey } from '../../infra/context.js';
import { logicalId, synth } from './support.js';

const node = (values: Partial<Record<ContextKey, unknown>>) => ({ tryGetContext: (key: string) => values[key as ContextKey] });

describe('readContext', () => {
  it('fills every value from its default, offline', () => {
    expect(readContext(node({}))).toEqual({
      deployment: 'dev',
      storePrefix: 'inspections',
      specsPrefix: 'specs/',
      apiAuth: { kind: 'iam' },
      allowedOrigins: [],
      throttle: { rateLimit: contextDefaults.throttleRateLimit, burstLimit: contextDefaults.throttleBurstLimit },
      logRetention: 30,
      retainData: true,
      buildContextExpirationDays: 30,
      noncurrentVersionExpirationDays: 30,
      imageExpirationDays: 90,
      ecrRepositoryName: 'dev-amun-images',
      cluster: {
        name: 'amun',
        namespace: 'amun',
        endpoint: undefined,
        caData: undefined,
        builderServiceAccount: 'dev-amun-builder',
        labelPreset: 'nfd',
        builderImage: undefined,
        uploaderImage: undefined,
        allowUnpinnedImages: false,
        access: { mode: 'rbac', group: 'amun-controller' },
      },
    });
  });

  it('names the builder service account after the deployment unless one is given', () => {
    expect(readContext(node({ deployment: 'prod' })).cluster.builderServiceAccount).toBe('prod-amun-builder');
    expect(readContext(node({ deployment: 'prod', builderServiceAccount: 'amun-builder' })).cluster.builderServiceAccount).toBe('amun-builder');
  });

  it('takes strings from -c as well as JSON values from cdk.json', () => {
    const ctx = readContext(node({ throttleRateLimit: '100', retainData: 'false', specsPrefix: 'drops', storePrefix: 'data/prod/inspections', jwtAudience: 'a' }));
    expect(ctx).toMatchObject({ throttle: { rateLimit: 100 }, retainData: false, specsPrefix: 'drops/', storePrefix: 'data/prod/inspections' });
    expect(readContext(node({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: ['a', 'b'] })).apiAuth).toEqual({ kind: 'jwt', issuer: 'https://id.example.com', audience: ['a', 'b'] });
    expect(readContext(node({ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com', jwtAudience: 'a, b' })).apiAuth).toEqual({ kind: 'jwt', issuer: 'https://id.example.com', audience: ['a', 'b'] });
  });

  it.each([
    [{ deployment: 'Prod' }, /deployment must be lower-case/],
    [{ storePrefix: '/inspections' }, /storePrefix must be a relative key prefix/],
    [{ specsPrefix: 'inspections/specs' }, /specsPrefix must not overlap the store prefix "inspections\/"/],
    [{ specsPrefix: 'inspections-index' }, /specsPrefix must not overlap the store prefix "inspections-index\/"/],
    [{ specsPrefix: 'inspections-blobs/drops' }, /specsPrefix must not overlap the store prefix "inspections-blobs\/"/],
    [{ storePrefix: 'specs/inspections' }, /specsPrefix must not overlap/],
    [{ apiAuth: 'cognito' }, /apiAuth must be iam or jwt/],
    [{ apiAuth: 'jwt' }, /jwtIssuer must be the https URL/],
    [{ apiAuth: 'jwt', jwtIssuer: 'https://id.example.com' }, /jwtAudience must name at least one audience/],
    [{ logRetentionDays: 10 }, /logRetentionDays must be one of CloudWatch's retention periods/],
    [{ throttleRateLimit: 0 }, /throttleRateLimit must be an integer from 1/],
    [{ retainData: 'maybe' }, /retainData must be true or false/],
    [{ eksClusterEndpoint: 'https://x.eks.amazonaws.com' }, /eksClusterCaData must be given together/],
    [{ eksNamespace: 'Amun' }, /eksNamespace must be a Kubernetes namespace name/],
    [{ builderServiceAccount: 'Amun_Builder' }, /builderServiceAccount must be a Kubernetes service account name/],
    [{ eksAccess: 'admin' }, /eksAccess must be rbac or policy/],
    [{ eksAccessGroup: 'system:masters' }, /eksAccessGroup must be a Kubernetes group name/],
  ] as Array<[Partial<Record<ContextKey, unknown>>, RegExp]>)('rejects %j', (values, message) => {
    expect(() => readContext(node(values))).toThrow(message);
    expect(() => readContext(node(values))).toThrow(/set it in cdk.json or with -c/);
  });
});

describe('options in the template', () => {
  it('apiAuth=jwt: a JWT authorizer with the issuer and audience on the route', () => {
    const s = synth({ bundle: false, context: { apiAuth: 'jwt', jwtIssuer: 'https://id.example.com/', jwtAudience: 'amun-cli,amun-web' } });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://id.example.com/', Audience: ['amun-cli', 'amun-web'] },
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /api/v1/{proxy+}', AuthorizationType: 'JWT', AuthorizerId: Match.anyValue() });
  }, 120_000);

  it('retainData=false: bucket and repository go with the stack, emptied first', () => {
    const s = synth({ bundle: false, context: { retainData: false, deployment: 'test' } });
    const bucket = s.json.Resources[logicalId(s, s.stack.store.bucket.node.defaultChild)]!;
    expect(bucket.DeletionPolicy).toBe('Delete');
    s.template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    s.template.hasResource('AWS::ECR::Repository', { DeletionPolicy: 'Delete', Properties: { RepositoryName: 'test-amun-images', EmptyOnDelete: true } });
    s.template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'test-amun-api' });
  }, 120_000);

  it('a given endpoint and CA: no deploy-time lookup, the values go to the functions as they are', () => {
    const endpoint = 'https://ABC.gr7.eu-west-1.eks.amazonaws.com';
    const s = synth({ bundle: false, context: { eksClusterEndpoint: endpoint, eksClusterCaData: 'LS0tLS1CRUdJTg==', eksClusterName: 'lab', eksNamespace: 'amun-lab' } });
    s.template.resourceCountIs('Custom::AmunDescribeCluster', 0);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'dev-amun-build',
      Environment: { Variables: Match.objectLike({ AMUN_K8S_ENDPOINT: endpoint, AMUN_K8S_CA_DATA: 'LS0tLS1CRUdJTg==', AMUN_K8S_CLUSTER_NAME: 'lab', AMUN_K8S_NAMESPACE: 'amun-lab' }) },
    });
    s.template.hasResourceProperties('AWS::EKS::AccessEntry', { ClusterName: 'lab', KubernetesGroups: ['amun-controller'] });
  }, 120_000);

  it('eksAccess=policy: namespace-scoped EKS access policies instead of the RBAC group, read-only for the API', () => {
    const s = synth({ bundle: false, context: { eksAccess: 'policy', eksNamespace: 'amun-lab' } });
    const policy = (name: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:eks::aws:cluster-access-policy/${name}`]] });
    for (const [fn, name] of [['Api', 'AmazonEKSViewPolicy'], ['Build', 'AmazonEKSEditPolicy'], ['Schedule', 'AmazonEKSEditPolicy'], ['Reconcile', 'AmazonEKSEditPolicy']] as const) {
      s.template.hasResourceProperties('AWS::EKS::AccessEntry', {
        PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${fn}FunctionRole`), 'Arn'] },
        KubernetesGroups: Match.absent(),
        AccessPolicies: [{ PolicyArn: policy(name), AccessScope: { Type: 'namespace', Namespaces: ['amun-lab'] } }],
      });
    }
    s.template.resourceCountIs('AWS::EKS::AccessEntry', 4);
  }, 120_000);

  it('another store prefix moves the notification filters and the grants with it', () => {
    const s = synth({ bundle: false, context: { storePrefix: 'amun/prod/inspections', specsPrefix: 'amun/prod/specs' } });
    const notifications = Object.values(s.json.Resources).find((r) => r.Type === 'Custom::S3BucketNotifications')!;
    const prefixes = notifications.Properties.NotificationConfiguration.QueueConfigurations.map((c: any) => c.Filter.Key.FilterRules.find((f: any) => f.Name === 'prefix').Value).sort();
    expect(prefixes).toEqual(['amun/prod/inspections/', 'amun/prod/inspections/', 'amun/prod/specs/']);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'dev-amun-index',
      Environment: { Variables: Match.objectLike({ AMUN_STORE_PREFIX: 'amun/prod/inspections', AMUN_SPECS_PREFIX: 'amun/prod/specs/' }) },
    });
    expect(JSON.stringify(s.json)).toContain('/amun/prod/inspections-index/*');
  }, 120_000);
});
