/**
 * cdk-nag (v3: policy-validation plugins) and our acknowledgements, kept as data: each entry names
 * the rule (or the single finding) it answers and why it does not apply here. Constructs attach the
 * entries where the resource is made; tests read every acknowledgement back with its reason.
 */
import { Stack, Validations, type Acknowledgment } from 'aws-cdk-lib';
import type { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';

export type { Acknowledgment };

/** The rule packs every synthesis runs. */
export function nagPacks(scope?: IConstruct): Array<AwsSolutionsChecks | ServerlessChecks> {
  return [new AwsSolutionsChecks(scope), new ServerlessChecks(scope)];
}

export function acknowledge(scope: IConstruct, acknowledgements: ReadonlyArray<Acknowledgment>): void {
  for (const a of acknowledgements) {
    if (a.reason.trim().length < 20) throw new Error(`nag acknowledgement ${a.id} on ${scope.node.path} needs a reason`);
  }
  Validations.of(scope).acknowledge(...acknowledgements);
}

/**
 * The AwsSolutions-IAM5 findings a statement raises (one per wildcard action or resource, named as
 * cdk-nag names them), acknowledged with the statement's own reason.
 */
export function wildcardFindings(scope: IConstruct, statement: PolicyStatement): string[] {
  const json = Stack.of(scope).resolve(statement.toStatementJson()) as { Action?: unknown; Resource?: unknown };
  const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const actions = list(json.Action).filter((a): a is string => typeof a === 'string' && a.includes('*')).map((a) => `AwsSolutions-IAM5[Action::${a}]`);
  const resources = list(json.Resource)
    .map((r) => flattenCfnReference(r))
    .filter((r) => r.includes('*'))
    .map((r) => `AwsSolutions-IAM5[Resource::${r}]`);
  return [...actions, ...resources];
}

const NODE_22 =
  'The project pins Node.js 22 (package.json engines, the tests and the bundle benchmark run on 22); moving the functions to a newer runtime is a deliberate upgrade, not a default.';

/** Acknowledgements by what they answer. */
export const acks = {
  /** Every Amun function. */
  amunFunction: [
    { id: 'AwsSolutions-L1', reason: NODE_22 },
    { id: 'Serverless-LambdaLatestVersion', reason: NODE_22 },
  ],
  /** X-Ray's write actions have no resource-level permissions. */
  xray: {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) support no resource-level permissions; the statement holds only those two actions.',
  },
  /** Functions that are never invoked asynchronously. */
  noAsyncInvocation: (how: string) => ({
    id: 'Serverless-LambdaDLQ',
    reason: `Invoked ${how}, never asynchronously: a Lambda dead-letter queue only receives failed asynchronous invocations.`,
  }),
  sqsEventSource: {
    id: 'Serverless-LambdaEventSourceMappingDestination',
    reason: 'SQS event source mappings take no on-failure destination; the source queue redrives records that keep failing (reported one by one) to its own dead-letter queue.',
  },
  /** Dead-letter queues end the redrive chain. */
  deadLetterQueue: {
    id: 'Serverless-SQSRedrivePolicy',
    reason: 'A dead-letter queue is where redrives end: its messages wait (14 days) to be inspected and redriven by hand, not passed on again.',
  },
} satisfies Record<string, Acknowledgment | Acknowledgment[] | ((...args: never[]) => Acknowledgment)>;

/**
 * CDK's own provider functions (bucket notifications, auto-delete, AwsCustomResource): code and
 * roles we neither write nor configure. Each finding is acknowledged by name.
 */
export function providerFunctionAcks(what: string, findings: ReadonlyArray<string>): Acknowledgment[] {
  const reasons: Record<string, string> = {
    'AwsSolutions-IAM4': `${what}: CDK's provider function uses the AWS managed basic-execution policy (CloudWatch Logs only); its role is not configurable.`,
    'AwsSolutions-IAM5': `${what}: the provider's permissions are CDK's (the actions need the resource wildcard at this API's level); it runs only during deployments.`,
    'AwsSolutions-L1': `${what}: the runtime of CDK's provider function is chosen by aws-cdk-lib and updated with it.`,
    'Serverless-LambdaLatestVersion': `${what}: the runtime of CDK's provider function is chosen by aws-cdk-lib and updated with it.`,
    'Serverless-LambdaTracing': `${what}: a deployment-time provider function called by CloudFormation; tracing it adds nothing to the service's traces.`,
    'Serverless-LambdaDLQ': `${what}: CloudFormation invokes the provider synchronously and handles its failures (the deployment fails and rolls back).`,
    'Serverless-LambdaDefaultMemorySize': `${what}: CDK sizes its provider function; it does little work once per deployment.`,
    'Serverless-LambdaFunctionDefaultTimeout': `${what}: CDK sets the provider function's timeout.`,
    'Serverless-CloudWatchLogGroupRetentionPeriod': `${what}: the provider's log group is created by Lambda on first use and holds only deployment-time lines.`,
  };
  return findings.map((id) => {
    const rule = id.replace(/\[.*$/, '');
    const reason = reasons[rule];
    if (!reason) throw new Error(`no reason written for ${id} on ${what}`);
    return { id, reason };
  });
}
