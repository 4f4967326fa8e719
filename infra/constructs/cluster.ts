/**
 * The Kubernetes side on AWS: an existing EKS cluster, imported by name; how functions reach it
 * (endpoint and CA, from context or looked up at deploy time); namespace-scoped access entries for
 * the functions that drive it; the ECR repository built images go to; and the role build pods get
 * through EKS Pod Identity, least privilege statement by statement. Inspection pods get no role.
 */
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { CfnAccessEntry, CfnPodIdentityAssociation, Cluster, type ICluster } from 'aws-cdk-lib/aws-eks';
import { Repository, TagMutability, TagStatus } from 'aws-cdk-lib/aws-ecr';
import { AccountPrincipal, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { DEFAULT_CACHE_TTL_HOURS } from '../../functions/adapters/kubernetes/manifests/settings.js';
import { Layout } from '../../functions/core/layout.js';
import type { AmunContext } from '../context.js';
import { acknowledge, providerFunctionAcks, wildcardFindings } from '../nag.js';
import { dataRemovalPolicy, type Store } from './store.js';

/** EKS access policies a function can be given (with `eksAccess=policy`), always scoped to the Amun namespace. */
export type ClusterAccess = 'AmazonEKSEditPolicy' | 'AmazonEKSViewPolicy';

/** What a function does with the cluster. */
export interface ClusterUse {
  access: ClusterAccess;
  /** Reads image manifests in the repository: records a finished build's digest, checks a recorded image (registry read). */
  checksImages?: boolean;
}

export interface AmunClusterProps {
  cluster: AmunContext['cluster'];
  deployment: string;
  ecrRepositoryName: string;
  imageExpirationDays: number;
  retainData: boolean;
  logRetention: RetentionDays;
  store: Store;
}

export class AmunCluster extends Construct {
  readonly cluster: ICluster;
  readonly clusterArn: string;
  readonly namespace: string;
  readonly endpoint: string;
  readonly caData: string;
  readonly repository: Repository;
  /** kaniko's layer cache (`<images repository>-cache`, AMUN_K8S_CACHE_REPO's default): layers expire, a miss only rebuilds. */
  readonly cacheRepository: Repository;
  readonly builderRole: Role;
  /** The role whose one-hour sessions sign the pods' upload grants (AMUN_K8S_UPLOAD_ROLE_ARN): it may only put what pods upload. */
  readonly uploadRole: Role;
  readonly builderServiceAccount: string;
  readonly labelPreset: string;
  readonly builderImage: string | undefined;
  readonly uploaderImage: string | undefined;
  readonly allowUnpinnedImages: boolean;
  readonly access: AmunContext['cluster']['access'];

  constructor(scope: Construct, id: string, props: AmunClusterProps) {
    super(scope, id);
    const { cluster: c } = props;
    const stack = Stack.of(this);
    this.namespace = c.namespace;
    this.builderServiceAccount = c.builderServiceAccount;
    this.labelPreset = c.labelPreset;
    this.builderImage = c.builderImage;
    this.uploaderImage = c.uploaderImage;
    this.allowUnpinnedImages = c.allowUnpinnedImages;
    this.access = c.access;
    this.cluster = Cluster.fromClusterAttributes(this, 'Cluster', { clusterName: c.name });
    this.clusterArn = stack.formatArn({ service: 'eks', resource: 'cluster', resourceName: c.name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME });

    if (c.endpoint && c.caData) {
      this.endpoint = c.endpoint;
      this.caData = c.caData;
    } else {
      // Offline synthesis cannot look the cluster up: CloudFormation does, once per deployment.
      const describe = new AwsCustomResource(this, 'Describe', {
        resourceType: 'Custom::AmunDescribeCluster',
        onUpdate: {
          service: 'EKS',
          action: 'describeCluster',
          parameters: { name: c.name },
          physicalResourceId: PhysicalResourceId.of(c.name),
          outputPaths: ['cluster.endpoint', 'cluster.certificateAuthority.data'],
        },
        policy: AwsCustomResourcePolicy.fromStatements([new PolicyStatement({ actions: ['eks:DescribeCluster'], resources: [this.clusterArn] })]),
        installLatestAwsSdk: false,
        logGroup: new LogGroup(this, 'DescribeLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      });
      this.endpoint = describe.getResponseField('cluster.endpoint');
      this.caData = describe.getResponseField('cluster.certificateAuthority.data');
      // The provider is CDK's singleton function, a child of the stack named after its UUID.
      const provider = stack.node.tryFindChild(`AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`);
      if (provider) {
        acknowledge(provider, providerFunctionAcks('Cluster lookup (AwsCustomResource)', [
          'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          'Serverless-LambdaTracing',
          'Serverless-LambdaDLQ',
          'Serverless-LambdaDefaultMemorySize',
        ]));
      }
    }

    this.repository = new Repository(this, 'Images', {
      repositoryName: props.ecrRepositoryName,
      imageScanOnPush: true,
      // A tag is one build's own (stack digest and inspection): once pushed it must keep meaning the
      // same image, so no build can push over another's. Runs pin digests the functions recorded.
      imageTagMutability: TagMutability.IMMUTABLE,
      removalPolicy: dataRemovalPolicy(props.retainData),
      emptyOnDelete: !props.retainData,
      lifecycleRules: [
        { description: 'untagged layers and aborted pushes', tagStatus: TagStatus.UNTAGGED, maxImageAge: Duration.days(1) },
        { description: 'built stacks expire; a later inspection of the same stack rebuilds it', tagStatus: TagStatus.ANY, maxImageAge: Duration.days(props.imageExpirationDays) },
      ],
    });

    this.cacheRepository = new Repository(this, 'LayerCache', {
      repositoryName: `${props.ecrRepositoryName}-cache`,
      imageScanOnPush: false,
      // kaniko tags each cached layer with the key of the step that made it, and pushes it again when stale.
      imageTagMutability: TagMutability.MUTABLE,
      // A cache: nothing in it is data, so it goes with the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      emptyOnDelete: true,
      lifecycleRules: [{ description: 'cached layers are rebuilt when gone', tagStatus: TagStatus.ANY, maxImageAge: Duration.days(Math.ceil(DEFAULT_CACHE_TTL_HOURS / 24)) }],
    });

    this.builderRole = this.makeBuilderRole(c, props.store);
    this.uploadRole = this.makeUploadRole(c, props.store);
    new CfnPodIdentityAssociation(this, 'BuilderIdentity', {
      clusterName: c.name,
      namespace: c.namespace,
      serviceAccount: c.builderServiceAccount,
      roleArn: this.builderRole.roleArn,
    });
  }

  /**
   * What a build pod (kaniko) may do: read its context tarball, push the image; nothing else. The
   * build log and status go up with presigned URLs the build function makes (functions/adapters/kubernetes).
   */
  private makeBuilderRole(c: AmunContext['cluster'], store: Store): Role {
    const role = new Role(this, 'BuilderRole', {
      description: `Amun build pods (${c.namespace}/${c.builderServiceAccount} on ${c.name}): read build contexts, push images`,
      assumedBy: new ServicePrincipal('pods.eks.amazonaws.com').withSessionTags().withConditions({
        StringEquals: {
          'aws:RequestTag/eks-cluster-name': c.name,
          'aws:RequestTag/kubernetes-namespace': c.namespace,
          'aws:RequestTag/kubernetes-service-account': c.builderServiceAccount,
        },
      }),
      maxSessionDuration: Duration.hours(1),
    });
    const statements: Array<{ statement: PolicyStatement; reason?: string }> = [
      {
        statement: new PolicyStatement({ sid: 'ReadBuildContexts', actions: ['s3:GetObject'], resources: [store.objects(new Layout(store.storePrefix).contextTarball('*'))] }),
        reason: "kaniko reads the build context tarball of the inspection it builds; the key has the inspection id in the middle (<prefix>/<id>/build/context.tar.gz), so one wildcard stands for the id and matches nothing else.",
      },
      {
        statement: new PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
        reason: 'ecr:GetAuthorizationToken (registry login) supports no resource-level permissions; pushing is limited to the images repository and its layer cache below.',
      },
      {
        statement: new PolicyStatement({
          sid: 'PushImages',
          actions: [
            'ecr:BatchCheckLayerAvailability',
            'ecr:BatchGetImage',
            'ecr:GetDownloadUrlForLayer',
            'ecr:InitiateLayerUpload',
            'ecr:UploadLayerPart',
            'ecr:CompleteLayerUpload',
            'ecr:PutImage',
          ],
          resources: [this.repository.repositoryArn, this.cacheRepository.repositoryArn],
        }),
      },
    ];
    for (const { statement, reason } of statements) {
      role.addToPrincipalPolicy(statement);
      const findings = wildcardFindings(this, statement);
      if (findings.length > 0) {
        if (!reason) throw new Error(`${this.node.path}: statement ${statement.sid} holds a wildcard and gives no reason`);
        acknowledge(role, findings.map((id) => ({ id, reason })));
      }
    }
    return role;
  }

  /**
   * What an upload grant may allow, whoever holds it: putting a build's log and status and a run's
   * results, nothing else. The functions that create and renew Jobs assume it (one hour at a
   * time, the most role chaining allows) to sign grants, so a grant is never more than this and
   * ends when its session does (functions/adapters/kubernetes/upload-grant-credentials.ts); the
   * reconciler renews the grants of Jobs that run longer.
   */
  private makeUploadRole(c: AmunContext['cluster'], store: Store): Role {
    const layout = new Layout(store.storePrefix);
    const role = new Role(this, 'UploadGrantRole', {
      description: `Amun upload grants for pods on ${c.name}: put build logs, build statuses and run results`,
      // Same-account trust: only principals whose own policy allows sts:AssumeRole on it (grantAssumeRole) get in.
      assumedBy: new AccountPrincipal(Stack.of(this).account),
      maxSessionDuration: Duration.hours(1),
    });
    const statement = new PolicyStatement({
      sid: 'PutPodUploads',
      actions: ['s3:PutObject'],
      resources: [store.objects(layout.buildLog('*')), store.objects(layout.buildStatus('*')), store.objects(`${layout.resultsPrefix('*')}*`)],
    });
    role.addToPrincipalPolicy(statement);
    const findings = wildcardFindings(this, statement);
    if (findings.length > 0) {
      acknowledge(role, findings.map((id) => ({ id, reason: 'Grants are per inspection: the first wildcard stands for the inspection id in <prefix>/<id>/build/{log,status} and <prefix>/<id>/results/, the last for the files of an item under results/; each grant itself names one inspection.' })));
    }
    return role;
  }

  /**
   * An access entry for a function's role, scoped to the namespace: by default the Kubernetes group
   * that deploy/kubernetes/rbac.yaml binds to a Role with exactly the calls the functions make; or,
   * with `eksAccess=policy`, a namespace-scoped EKS access policy (no RBAC to apply first).
   */
  grantAccess(id: string, principalArn: string, policy: ClusterAccess): CfnAccessEntry {
    const rbac = this.access.mode === 'rbac';
    return new CfnAccessEntry(this, id, {
      clusterName: this.cluster.clusterName,
      principalArn,
      type: 'STANDARD',
      ...(rbac ? { kubernetesGroups: [this.access.group] } : {}),
      ...(rbac
        ? {}
        : {
            accessPolicies: [
              { policyArn: `arn:${Aws.PARTITION}:eks::aws:cluster-access-policy/${policy}`, accessScope: { type: 'namespace', namespaces: [this.namespace] } },
            ],
          }),
    });
  }

}
