/**
 * One Amun function on Lambda, built from its row of the routes table: the defaults every function
 * shares (Node.js 22 on arm64, ESM bundle with source maps, JSON logs with a retention, X-Ray), an
 * own role that starts empty, and methods that bind an environment variable together with the
 * permission it implies, so configuration and grants cannot drift apart.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, ApplicationLogLevel, LoggingFormat, Runtime, SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { markerKeys } from '../../functions/core/ingest.js';
import type { Route } from '../../functions/routes.js';
import { entryPath, lambdaBundling, repoRoot } from '../bundling.js';
import { acknowledge, acks, wildcardFindings } from '../nag.js';
import type { AmunCluster, ClusterUse } from './cluster.js';
import type { AmunQueue } from './queue.js';
import type { Store } from './store.js';
import { ENV } from '../../functions/config.js';

export interface AmunFunctionProps {
  route: Route;
  /** Prefixes the physical names: `<deployment>-amun-<name>`. */
  deployment: string;
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
  /** Receives failed asynchronous invocations (functions invoked asynchronously only). */
  deadLetterQueue?: IQueue;
  /** Ships the Kubernetes client beside the bundle (functions that call the cluster). */
  kubernetesClient: boolean;
}

export interface Grant {
  /** Statement id: says what the permission is for. */
  sid: string;
  actions: string[];
  resources: string[];
  conditions?: Record<string, Record<string, unknown>>;
  /** Required when an action or resource holds a wildcard: why nothing narrower works. */
  wildcardReason?: string;
}

export class AmunFunction extends Construct {
  readonly route: Route;
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: AmunFunctionProps) {
    super(scope, id);
    const { route } = props;
    this.route = route;
    const functionName = `${props.deployment}-amun-${route.name}`;

    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });

    // An own role with nothing attached: no AWS managed policy, every permission below is explicit.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Amun ${route.name}: ${route.description}`.slice(0, 1000),
    });
    this.allow({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] });

    this.fn = new NodejsFunction(this, 'Function', {
      functionName,
      description: route.description.slice(0, 256),
      entry: entryPath(route),
      handler: 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: `${repoRoot}/package-lock.json`,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: route.memoryMb,
      timeout: Duration.seconds(route.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      tracing: Tracing.ACTIVE,
      // The HTTP function serves the API's documentation page: its Swagger UI files travel in the bundle.
      bundling: lambdaBundling({ kubernetesClient: props.kubernetesClient, swaggerUi: route.trigger.kind === 'http' }),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        [ENV.logLevel]: 'INFO',
      },
      ...(props.deadLetterQueue ? { deadLetterQueue: props.deadLetterQueue } : {}),
    });

    acknowledge(this, acks.amunFunction);
    acknowledge(this, [acks.xray]);
  }

  /** Sets a variable the function's configuration reads (functions/config.ts). */
  setEnv(name: string, value: string): this {
    this.fn.addEnvironment(name, value);
    return this;
  }

  /** Adds one statement to the function's role; a wildcard must say why it cannot be narrower. */
  allow(grant: Grant): this {
    const statement = new PolicyStatement({
      sid: grant.sid,
      effect: Effect.ALLOW,
      actions: grant.actions,
      resources: grant.resources,
      ...(grant.conditions ? { conditions: grant.conditions } : {}),
    });
    this.role.addToPrincipalPolicy(statement);
    const findings = wildcardFindings(this, statement);
    if (findings.length > 0) {
      if (!grant.wildcardReason) throw new Error(`${this.node.path}: statement ${grant.sid} holds a wildcard (${findings.join(', ')}) and gives no reason`);
      acknowledge(this, findings.map((id) => ({ id, reason: grant.wildcardReason! })));
    }
    return this;
  }

  /** An explicit deny: holds against any allow. */
  deny(statement: { sid: string; actions: string[]; resources: string[] }): this {
    this.role.addToPrincipalPolicy(new PolicyStatement({ ...statement, effect: Effect.DENY }));
    return this;
  }

  /** The queue's URL in `variable`, and permission to send to it. */
  sendsTo(variable: string, queue: AmunQueue): this {
    this.setEnv(variable, queue.queue.queueUrl);
    const sid = `SendTo${queue.name.charAt(0).toUpperCase()}${queue.name.slice(1)}`;
    return this.allow({ sid, actions: ['sqs:SendMessage'], resources: [queue.queue.queueArn] });
  }

  /**
   * The store: where it is (AMUN_BUCKET, AMUN_STORE_PREFIX, AMUN_SPECS_PREFIX) and what the route's
   * `store` access allows there. Writes stay inside the store and its index; a function triggered
   * by spec drops reads the drops and may write only the marker files ingest leaves beside them.
   */
  usesStore(store: Store): this {
    this.setEnv(ENV.bucket, store.bucket.bucketName);
    this.setEnv(ENV.storePrefix, store.storePrefix);
    this.setEnv(ENV.specsPrefix, store.specsPrefix);
    const patterns = store.storeObjectPatterns();
    const listable = [...patterns];
    const perInspection = 'Objects are keyed by inspection id below the store prefix (and the listing index beside it): the prefix is the narrowest scope that holds every inspection.';

    this.allow({ sid: 'ReadStore', actions: ['s3:GetObject'], resources: patterns.map((p) => store.objects(p)), wildcardReason: perInspection });
    if (this.route.store === 'readwrite') {
      this.allow({ sid: 'WriteStore', actions: ['s3:PutObject'], resources: patterns.map((p) => store.objects(p)), wildcardReason: perInspection });
      this.allow({
        sid: 'TagBuildContexts',
        actions: ['s3:PutObjectTagging'],
        resources: [store.objects(`${store.storePrefix}/*/build/context*`)],
        wildcardReason: 'Build contexts (build/context.json and the tarball beside it) may carry the tag their lifecycle rule expires them by; their keys sit below each inspection id.',
      });
    }

    const trigger = this.route.trigger;
    if (trigger.kind === 's3' && trigger.prefix === 'store') {
      // Never write what triggers this very function (a loop): denied outright, whatever else allows it.
      this.deny({ sid: 'NeverWriteOwnTrigger', actions: ['s3:PutObject'], resources: [store.objects(`${store.storePrefix}/*${trigger.suffix}`)] });
    }
    if (trigger.kind === 's3' && trigger.prefix === 'specs') {
      const drops = `${store.specsPrefix}*`;
      const markers = markerKeys(`${store.specsPrefix}*.json`);
      listable.push(drops);
      this.allow({ sid: 'ReadDrops', actions: ['s3:GetObject'], resources: [store.objects(drops)], wildcardReason: 'Spec files are dropped under the specs prefix with names the users choose.' });
      this.allow({
        sid: 'WriteDropMarkers',
        actions: ['s3:PutObject'],
        resources: [store.objects(markers.consumed), store.objects(markers.error)],
        wildcardReason: 'The marker beside each dropped spec (<name>.consumed.json or <name>.error.json); ingest ignores these names when their notifications arrive.',
      });
    }

    // Listing only with one of these prefixes: a listing without a prefix (the whole bucket) is
    // denied. A read of a missing key still gets 404, not 403: S3 decides that by asking whether
    // the caller may list with the key itself as the prefix, which lies under these (the first
    // deployment checks it, docs/DEPLOY.md "First deployment checklist").
    return this.allow({
      sid: 'ListStore',
      actions: ['s3:ListBucket'],
      resources: [store.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': listable } },
    });
  }

  /**
   * The cluster: how to reach it (AMUN_EXECUTOR=kubernetes and AMUN_K8S_*, the image registry) and,
   * for functions that call it, an access entry scoped to the namespace (infra/constructs/cluster.ts),
   * and for those that read image manifests (build, schedule, reconcile), read access to the repository.
   */
  usesCluster(cluster: AmunCluster, use: ClusterUse | undefined): this {
    this.setEnv(ENV.executor, 'kubernetes');
    this.setEnv(ENV.k8sClusterName, cluster.cluster.clusterName);
    this.setEnv(ENV.k8sEndpoint, cluster.endpoint);
    this.setEnv(ENV.k8sCaData, cluster.caData);
    this.setEnv(ENV.k8sNamespace, cluster.namespace);
    this.setEnv(ENV.k8sLabelPreset, cluster.labelPreset);
    this.setEnv(ENV.registry, cluster.repository.repositoryUri);
    this.setEnv(ENV.k8sCacheRepo, cluster.cacheRepository.repositoryUri);
    if (cluster.builderImage) this.setEnv(ENV.builderImage, cluster.builderImage);
    if (cluster.uploaderImage) this.setEnv(ENV.k8sUploaderImage, cluster.uploaderImage);
    if (cluster.allowUnpinnedImages) this.setEnv(ENV.k8sAllowUnpinnedImages, 'true');
    // Build Jobs must run as the service account the builder's Pod Identity trusts.
    this.setEnv(ENV.k8sBuilderServiceAccount, cluster.builderServiceAccount);
    if (!use) return this;
    cluster.grantAccess(`${this.node.id}Access`, this.role.roleArn, use.access);
    if (use.access === 'AmazonEKSEditPolicy') {
      // Creates or renews Jobs: signs their pods' upload grants with the upload role's sessions.
      this.setEnv(ENV.k8sUploadRoleArn, cluster.uploadRole.roleArn);
      this.allow({ sid: 'SignUploadGrants', actions: ['sts:AssumeRole'], resources: [cluster.uploadRole.roleArn] });
    }
    if (use.checksImages) {
      // The OCI registry API with ECR's token: which manifest a build's tag names, whether a recorded image is still there.
      this.allow({
        sid: 'EcrLogin',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
        wildcardReason: 'ecr:GetAuthorizationToken (registry login) supports no resource-level permissions; reading is limited to the one repository below.',
      });
      this.allow({ sid: 'ReadImageManifests', actions: ['ecr:BatchGetImage'], resources: [cluster.repository.repositoryArn] });
    }
    return this;
  }

  /**
   * Reads the queues' depths (GET /metrics, readiness): each URL in its variable (when the
   * configuration has one) and sqs:GetQueueAttributes on each queue and its dead-letter queue;
   * nothing is received or sent.
   */
  readsQueueDepths(queues: ReadonlyArray<{ variable: string | undefined; queue: AmunQueue }>): this {
    if (queues.length === 0) return this;
    for (const { variable, queue } of queues) if (variable) this.setEnv(variable, queue.queue.queueUrl);
    return this.allow({
      sid: 'ReadQueueDepths',
      actions: ['sqs:GetQueueAttributes'],
      resources: queues.flatMap(({ queue }) => [queue.queue.queueArn, queue.deadLetterQueue.queueArn]),
    });
  }

  /**
   * A queue URL the configuration requires at start-up although this function never sends there
   * (functions/config.ts reads every queue URL in one place): the URL, and no permission.
   */
  knowsQueue(variable: string, queue: AmunQueue): this {
    return this.setEnv(variable, queue.queue.queueUrl);
  }
}
