/**
 * What breaks a first deployment on a real account, read from the template (docs/DEPLOY.md, "First
 * deployment checklist"): data kept on delete but not left behind by a rolled-back create (a retry
 * would stop at "already exists"); two deployments on one cluster with their own builder service
 * accounts and Pod Identity associations; listings that must name a prefix; S3 event queues that
 * take messages from the bucket of this account only. Templates only: bundling is skipped here.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { awsRoutes } from '../../infra/stack.js';
import { DEFAULT_CACHE_TTL_HOURS } from '../../functions/adapters/kubernetes/manifests/settings.js';
import { functionResource, functionStatements, logicalId, roleStatements, synth, type Synthesized } from './support.js';

let dev: Synthesized;
let prod: Synthesized;
beforeAll(() => {
  dev = synth({ bundle: false, context: { eksClusterName: 'lab' } });
  prod = synth({ bundle: false, context: { eksClusterName: 'lab', deployment: 'prod' } });
}, 180_000);

const resourcesOf = (s: Synthesized, type: string) => Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);

describe('a failed first deploy leaves nothing that blocks the retry', () => {
  it.each([
    ['the image repository', (s: Synthesized) => s.stack.cluster.repository.node.defaultChild],
    ['the store bucket', (s: Synthesized) => s.stack.store.bucket.node.defaultChild],
    ['the access-log bucket', (s: Synthesized) => s.stack.store.accessLogs.node.defaultChild],
  ])('%s is kept on delete and replacement, deleted when its own creation rolls back', (_name, resource) => {
    const r = dev.json.Resources[logicalId(dev, resource(dev))] as { DeletionPolicy?: string; UpdateReplacePolicy?: string };
    expect({ deletion: r.DeletionPolicy, replacement: r.UpdateReplacePolicy }).toEqual({ deletion: 'RetainExceptOnCreate', replacement: 'Retain' });
  });

  it('the repository keeps its fixed name, so only the rollback policy stands between a failed create and "already exists"', () => {
    dev.template.hasResource('AWS::ECR::Repository', { DeletionPolicy: 'RetainExceptOnCreate', Properties: { RepositoryName: 'dev-amun-images' } });
  });

  it('nothing in the template is retained after a rolled-back create', () => {
    const retained = Object.entries(dev.json.Resources).filter(([, r]) => r.DeletionPolicy === 'Retain').map(([id, r]) => `${id} (${r.Type})`);
    expect(retained).toEqual([]);
  });

  it('retainData=false still deletes everything with the stack', () => {
    const s = synth({ bundle: false, context: { retainData: false, deployment: 'scratch' } });
    for (const [id, r] of [...resourcesOf(s, 'AWS::S3::Bucket'), ...resourcesOf(s, 'AWS::ECR::Repository')]) expect({ id, policy: r.DeletionPolicy }).toEqual({ id, policy: 'Delete' });
  }, 120_000);
});

describe('two deployments on one cluster', () => {
  const association = (s: Synthesized) => {
    const found = resourcesOf(s, 'AWS::EKS::PodIdentityAssociation');
    expect(found).toHaveLength(1);
    return found[0]![1].Properties as { ClusterName: string; Namespace: string; ServiceAccount: string };
  };

  it('get a builder service account and a Pod Identity association each (EKS allows one per namespace and service account)', () => {
    const [a, b] = [association(dev), association(prod)];
    expect(a).toMatchObject({ ClusterName: 'lab', Namespace: 'amun', ServiceAccount: 'dev-amun-builder' });
    expect(b).toMatchObject({ ClusterName: 'lab', Namespace: 'amun', ServiceAccount: 'prod-amun-builder' });
    expect(`${a.ClusterName}/${a.Namespace}/${a.ServiceAccount}`).not.toBe(`${b.ClusterName}/${b.Namespace}/${b.ServiceAccount}`);
  });

  it.each([['dev'], ['prod']])('%s: the builder role trusts, the build Jobs run as and the outputs name the same service account', (deployment) => {
    const s = deployment === 'dev' ? dev : prod;
    const account = `${deployment}-amun-builder`;
    const role = s.json.Resources[logicalId(s, s.stack.cluster.builderRole.node.defaultChild)]!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Condition.StringEquals).toMatchObject({ 'aws:RequestTag/kubernetes-service-account': account, 'aws:RequestTag/eks-cluster-name': 'lab' });
    expect(functionResource(s, s.stack.functions.get('build')!).Properties.Environment.Variables).toMatchObject({ AMUN_K8S_BUILDER_SERVICE_ACCOUNT: account });
    expect(s.json.Outputs?.BuilderServiceAccount?.Value).toBe(account);
  });

  it('a service account given in the context is used as it is', () => {
    const s = synth({ bundle: false, context: { builderServiceAccount: 'amun-builder' } });
    expect(association(s).ServiceAccount).toBe('amun-builder');
  }, 120_000);

  it('their access entries are for their own function roles, so they do not collide either', () => {
    const principals = (s: Synthesized) => resourcesOf(s, 'AWS::EKS::AccessEntry').map(([, r]) => JSON.stringify(r.Properties.PrincipalArn));
    expect(principals(dev).length).toBeGreaterThan(0);
    // Each names a role of its own stack by reference; the roles get names of their own stacks when created.
    for (const s of [dev, prod]) for (const p of principals(s)) expect(p).toMatch(/"Fn::GetAtt":\["\w+FunctionRole[0-9A-F]+","Arn"\]/);
  });
});

describe('listing the bucket needs a prefix', () => {
  it.each(awsRoutes().map((r) => [r.name] as const))('%s: s3:ListBucket only with one of its prefixes (StringLike), never without one', (name) => {
    const statements = functionStatements(dev, dev.stack.functions.get(name)!).filter((st) => ([] as string[]).concat(st.Action).includes('s3:ListBucket'));
    expect(statements).toHaveLength(1);
    expect(Object.keys(statements[0]!.Condition ?? {})).toEqual(['StringLike']);
    expect(statements[0]!.Condition!.StringLike!['s3:prefix']).toEqual(expect.arrayContaining(['inspections/*', 'inspections-index/*', 'inspections-blobs/*']));
    expect(JSON.stringify(statements[0]!.Condition)).not.toMatch(/IfExists|""|"\*"/);
  });
});

describe('S3 event queues take messages from this bucket in this account', () => {
  it.each(awsRoutes().filter((r) => r.trigger.kind === 's3').map((r) => [r.name, r] as const))('%s: the queue policy names the bucket and the account', (_name, route) => {
    if (route.trigger.kind !== 's3') throw new Error('not an s3 route');
    const queue = dev.stack.queues.get(route.trigger.queue)!;
    dev.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(dev, queue.queue.node.defaultChild) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Condition: {
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(dev, dev.stack.store.bucket.node.defaultChild), 'Arn'] } },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
          }),
        ]),
      },
    });
  });

  it('no statement lets S3 send without both conditions', () => {
    for (const [id, policy] of resourcesOf(dev, 'AWS::SQS::QueuePolicy')) {
      for (const st of policy.Properties.PolicyDocument.Statement as Array<{ Principal?: { Service?: string }; Condition?: Record<string, unknown> }>) {
        if (st.Principal?.Service !== 's3.amazonaws.com') continue;
        expect({ id, conditions: Object.keys(st.Condition ?? {}).sort() }).toEqual({ id, conditions: ['ArnLike', 'StringEquals'] });
      }
    }
  });
});

describe("kaniko's layer cache", () => {
  it('has a repository of its own beside the images one, emptied and deleted with the stack, layers expiring as the functions stop using them', () => {
    const cache = dev.json.Resources[logicalId(dev, dev.stack.cluster.cacheRepository.node.defaultChild)] as { DeletionPolicy?: string; Properties: any };
    const images = dev.json.Resources[logicalId(dev, dev.stack.cluster.repository.node.defaultChild)] as { Properties: any };
    expect(cache.Properties.RepositoryName).toBe(`${images.Properties.RepositoryName}-cache`);
    expect(cache.DeletionPolicy).toBe('Delete');
    expect(cache.Properties.EmptyOnDelete).toBe(true);
    const rules = JSON.parse(cache.Properties.LifecyclePolicy.LifecyclePolicyText).rules as Array<{ selection: { countUnit: string; countNumber: number } }>;
    expect(rules.map((r) => r.selection)).toEqual([expect.objectContaining({ countUnit: 'days', countNumber: DEFAULT_CACHE_TTL_HOURS / 24 })]);
  });

  it('the builder may push and pull it; the functions name it to kaniko', () => {
    const statements = roleStatements(dev, logicalId(dev, dev.stack.cluster.builderRole.node.defaultChild));
    const push = statements.find((st) => st.Sid === 'PushImages')!;
    expect(JSON.stringify(push.Resource)).toContain(logicalId(dev, dev.stack.cluster.cacheRepository.node.defaultChild));
    const env = functionResource(dev, dev.stack.functions.get('build')!).Properties.Environment.Variables;
    expect(JSON.stringify(env.AMUN_K8S_CACHE_REPO)).toContain(logicalId(dev, dev.stack.cluster.cacheRepository.node.defaultChild));
  });
});
