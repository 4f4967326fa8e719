/**
 * Amun on AWS, one stack, built from functions/routes.ts: every route that runs on AWS becomes a
 * function, every queue the deployment needs becomes a queue with its dead-letter queue, and each
 * trigger is wired as the table says (HTTP API, SQS, S3 → SQS, EventBridge schedule).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { EventType } from 'aws-cdk-lib/aws-s3';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { queues as queueTable, resolvePrefix, routes as routeTable, type FunctionName, type QueueName, type Route } from '../functions/routes.js';
import type { AmunContext } from './context.js';
import { AmunFunction } from './constructs/amun-function.js';
import { AmunCluster, type ClusterUse } from './constructs/cluster.js';
import { AmunHttpApi } from './constructs/http-api.js';
import { AmunQueue, BucketEventsDestination } from './constructs/queue.js';
import { Store } from './constructs/store.js';
import { acknowledge, acks, providerFunctionAcks } from './nag.js';
import { ENV } from '../functions/config.js';

/** The variable each queue's URL goes in (functions/config.ts reads these). */
export const QUEUE_URL_VARIABLES: Partial<Record<QueueName, string>> = {
  work: ENV.workQueueUrl,
  run: ENV.runQueueUrl,
  completions: ENV.completionQueueUrl,
  ingestEvents: ENV.ingestEventsQueueUrl,
  scheduleEvents: ENV.scheduleEventsQueueUrl,
  indexEvents: ENV.indexEventsQueueUrl,
};

/** Queue URLs functions/config.ts requires at start-up in every function, sender or not. */
export const REQUIRED_QUEUE_URLS: ReadonlyArray<QueueName> = ['work', 'completions'];

/**
 * Which functions call the cluster, with which namespace-scoped EKS access policy: read from the
 * routes table (`cluster`), so the functions that never call it ship without its client.
 */
export const CLUSTER_USE: Partial<Record<FunctionName, ClusterUse>> = Object.fromEntries(
  routeTable.flatMap((route) =>
    route.cluster
      ? [[route.name, { access: route.cluster.access === 'edit' ? 'AmazonEKSEditPolicy' : 'AmazonEKSViewPolicy', ...(route.cluster.checksImages ? { checksImages: true } : {}) } satisfies ClusterUse]]
      : [],
  ),
);

/** S3 notifications (object created) feed their queue from this construct id's singleton handler. */
const BUCKET_NOTIFICATIONS_HANDLER = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

export interface AmunStackProps extends StackProps {
  context: AmunContext;
  /** Defaults to the routes table; tests pass variants. */
  routes?: ReadonlyArray<Route>;
}

export function awsRoutes(routes: ReadonlyArray<Route> = routeTable): Route[] {
  return routes.filter((r) => r.runsOn.includes('aws'));
}

function consumedQueue(route: Route): QueueName | undefined {
  return route.trigger.kind === 'queue' || route.trigger.kind === 's3' ? route.trigger.queue : undefined;
}

/**
 * The queues a deployment on AWS has: those an AWS function consumes, and those nobody in the table
 * consumes (completion messages are for the users' consumers). A queue whose consumers all run
 * locally only (run messages: on AWS the cluster runs every item itself) is left out.
 */
export function awsQueues(routes: ReadonlyArray<Route> = routeTable): QueueName[] {
  return (Object.keys(queueTable) as QueueName[]).filter((name) => {
    const consumers = routes.filter((r) => consumedQueue(r) === name);
    return consumers.length === 0 || consumers.some((r) => r.runsOn.includes('aws'));
  });
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export class AmunStack extends Stack {
  readonly store: Store;
  readonly queues = new Map<QueueName, AmunQueue>();
  readonly functions = new Map<FunctionName, AmunFunction>();
  readonly cluster: AmunCluster;
  readonly api: AmunHttpApi | undefined;
  /** Failed asynchronous invocations (the scheduled functions) and undeliverable schedule events. */
  readonly asyncFailures: Queue;

  constructor(scope: Construct, id: string, props: AmunStackProps) {
    super(scope, id, { description: 'Amun: build a software stack into an image, run it on requested hardware, record what happened', ...props });
    const ctx = props.context;
    const routes = props.routes ?? routeTable;
    const onAws = awsRoutes(routes);
    const logRemoval = RemovalPolicy.DESTROY;

    this.store = new Store(this, 'Store', {
      storePrefix: ctx.storePrefix,
      specsPrefix: ctx.specsPrefix,
      retainData: ctx.retainData,
      buildContextExpirationDays: ctx.buildContextExpirationDays,
      noncurrentVersionExpirationDays: ctx.noncurrentVersionExpirationDays,
    });

    for (const name of awsQueues(routes)) {
      const consumers = onAws.filter((r) => consumedQueue(r) === name);
      this.queues.set(
        name,
        new AmunQueue(this, `${pascal(name)}Queue`, {
          name,
          spec: queueTable[name],
          deployment: ctx.deployment,
          consumers,
          removalPolicy: RemovalPolicy.DESTROY,
          // Completion messages wait for consumers that may poll rarely.
          retention: consumers.length === 0 ? Duration.days(14) : Duration.days(4),
        }),
      );
    }

    this.asyncFailures = new Queue(this, 'AsyncFailures', {
      queueName: `${ctx.deployment}-amun-async-failures`,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(this.asyncFailures, [acks.deadLetterQueue]);

    this.cluster = new AmunCluster(this, 'Cluster', {
      cluster: ctx.cluster,
      deployment: ctx.deployment,
      ecrRepositoryName: ctx.ecrRepositoryName,
      imageExpirationDays: ctx.imageExpirationDays,
      retainData: ctx.retainData,
      logRetention: ctx.logRetention,
      store: this.store,
    });

    let api: AmunHttpApi | undefined;
    for (const route of onAws) {
      const fn = new AmunFunction(this, `${pascal(route.name)}Function`, {
        route,
        deployment: ctx.deployment,
        logRetention: ctx.logRetention,
        logRemovalPolicy: logRemoval,
        kubernetesClient: CLUSTER_USE[route.name] !== undefined,
        ...(route.trigger.kind === 'schedule' ? { deadLetterQueue: this.asyncFailures } : {}),
      });
      this.functions.set(route.name, fn);

      fn.usesStore(this.store);
      for (const name of route.sendsTo) {
        const queue = this.queues.get(name);
        if (!queue) continue; // not deployed on AWS (see awsQueues): nothing to send to
        fn.sendsTo(this.queueVariable(name), queue);
      }
      for (const name of REQUIRED_QUEUE_URLS) {
        if (!route.sendsTo.includes(name)) fn.knowsQueue(this.queueVariable(name), this.requireQueue(name));
      }
      fn.usesCluster(this.cluster, CLUSTER_USE[route.name]);

      const trigger = route.trigger;
      switch (trigger.kind) {
        case 'http': {
          if (api) throw new Error(`routes ${route.name}: one HTTP route per deployment is supported, the API already serves another`);
          api = new AmunHttpApi(this, 'Api', {
            deployment: ctx.deployment,
            basePath: trigger.basePath,
            handler: fn.fn,
            auth: ctx.apiAuth,
            allowedOrigins: ctx.allowedOrigins,
            throttle: ctx.throttle,
            logRetention: ctx.logRetention,
            logRemovalPolicy: logRemoval,
          });
          acknowledge(fn, [acks.noAsyncInvocation('synchronously by API Gateway')]);
          // GET /metrics and /readiness read every deployed queue's depth and its dead-letter queue's.
          fn.readsQueueDepths([...this.queues.values()].map((queue) => ({ variable: QUEUE_URL_VARIABLES[queue.name], queue })));
          if (ctx.allowedOrigins.length > 0) fn.setEnv(ENV.allowedOrigins, ctx.allowedOrigins.join(','));
          break;
        }
        case 'queue':
        case 's3': {
          const queue = this.requireQueue(trigger.queue);
          if (trigger.kind === 's3') {
            this.store.bucket.addEventNotification(EventType.OBJECT_CREATED, new BucketEventsDestination(queue.queue), {
              prefix: resolvePrefix(trigger.prefix, { storePrefix: ctx.storePrefix, specsPrefix: ctx.specsPrefix }),
              suffix: trigger.suffix,
            });
          }
          fn.fn.addEventSource(
            new SqsEventSource(queue.queue, {
              batchSize: trigger.batchSize,
              reportBatchItemFailures: true,
              ...(trigger.batchWindowSeconds ? { maxBatchingWindow: Duration.seconds(trigger.batchWindowSeconds) } : {}),
            }),
          );
          acknowledge(fn, [acks.noAsyncInvocation('by an SQS event source mapping'), acks.sqsEventSource]);
          break;
        }
        case 'schedule': {
          new Rule(this, `${pascal(route.name)}Schedule`, {
            description: `Amun ${route.name}: every ${trigger.rateMinutes} min`,
            schedule: Schedule.rate(Duration.minutes(trigger.rateMinutes)),
            targets: [new LambdaFunction(fn.fn, { deadLetterQueue: this.asyncFailures, retryAttempts: 2, maxEventAge: Duration.minutes(trigger.rateMinutes) })],
          });
          break;
        }
      }
    }
    this.api = api;

    const notifications = this.node.tryFindChild(BUCKET_NOTIFICATIONS_HANDLER);
    if (notifications) {
      acknowledge(notifications, providerFunctionAcks('S3 bucket notifications', [
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      ]));
    }

    this.outputs(ctx);
  }

  private queueVariable(name: QueueName): string {
    const variable = QUEUE_URL_VARIABLES[name];
    if (!variable) throw new Error(`queue ${name}: no environment variable carries its URL (QUEUE_URL_VARIABLES in infra/stack.ts)`);
    return variable;
  }

  private requireQueue(name: QueueName): AmunQueue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`queue ${name} is not deployed on AWS, but a function on AWS needs it`);
    return queue;
  }

  private outputs(ctx: AmunContext): void {
    const out = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    if (this.api) out('ApiUrl', this.api.url, `Base URL of the v1 API (${ctx.apiAuth.kind === 'iam' ? 'SigV4-signed requests, service execute-api' : 'JWT bearer tokens'})`);
    out('BucketName', this.store.bucket.bucketName, 'The store bucket');
    out('StorePrefix', `${ctx.storePrefix}/`, 'Inspections are stored under this prefix');
    out('SpecsPrefix', ctx.specsPrefix, 'Drop spec files (.json) under this prefix to submit them');
    for (const [name, q] of this.queues) {
      out(`${pascal(name)}QueueUrl`, q.queue.queueUrl, queueTable[name].description);
      out(`${pascal(name)}DeadLetterQueueUrl`, q.deadLetterQueue.queueUrl, `Dead letters of ${queueTable[name].name}`);
    }
    out('AsyncFailuresQueueUrl', this.asyncFailures.queueUrl, 'Failed scheduled invocations');
    out('ImageRepositoryUri', this.cluster.repository.repositoryUri, 'Built images, one tag per build (stack digest and inspection); runs pin their digests');
    out('BuilderRoleArn', this.cluster.builderRole.roleArn, `Role of build pods (${ctx.cluster.namespace}/${ctx.cluster.builderServiceAccount}, EKS Pod Identity)`);
    out('BuilderServiceAccount', ctx.cluster.builderServiceAccount, `Service account build pods run as, in namespace ${ctx.cluster.namespace}: create it there (docs/DEPLOY.md, prerequisites)`);
    out('ClusterName', ctx.cluster.name, 'The EKS cluster Amun runs builds and inspections on');
    for (const [name, fn] of this.functions) out(`${pascal(name)}FunctionName`, fn.fn.functionName, `Function ${name}`);
  }
}
