/**
 * The default stack, synthesized once with every function bundled (esbuild, as deployed): each
 * resource family is checked property by property against the routes table it is built from.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { configFromEnv } from '../../functions/config.js';
import { queues as queueTable, routes, resolvePrefix, type QueueName } from '../../functions/routes.js';
import { kubernetesClientBundle, repoRoot } from '../../infra/bundling.js';
import { EXPLORER_BUNDLE_DIR, EXPLORER_FILES, PUBLIC_PATHS, SWAGGER_UI_BUNDLE_DIR, SWAGGER_UI_FILES } from '../../functions/api/paths.js';
import { VISIBILITY_FACTOR } from '../../infra/constructs/queue.js';
import { BUILD_CONTEXT_TAG } from '../../infra/constructs/store.js';
import { awsQueues, awsRoutes, CLUSTER_USE, QUEUE_URL_VARIABLES } from '../../infra/stack.js';
import { allowed, assetDir, flat, functionResource, functionStatements, list, logicalId, placeholderEnvironment, roleStatements, synth, type Statement, type Synthesized } from './support.js';

let s: Synthesized;
beforeAll(() => {
  s = synth();
}, 300_000);

const onAws = awsRoutes();
const fnOf = (name: string) => {
  const fn = s.stack.functions.get(name as never);
  if (!fn) throw new Error(`no function ${name}`);
  return fn;
};
const queueOf = (name: QueueName) => {
  const q = s.stack.queues.get(name);
  if (!q) throw new Error(`no queue ${name}`);
  return q;
};
const bucketArn = () => `<${logicalId(s, s.stack.store.bucket.node.defaultChild)}.Arn>`;
const queueRef = (name: QueueName) => ({ Ref: logicalId(s, queueOf(name).queue.node.defaultChild) });
const queueArn = (name: QueueName) => ({ 'Fn::GetAtt': [logicalId(s, queueOf(name).queue.node.defaultChild), 'Arn'] });

describe('functions: one per route of the table that runs on AWS', () => {
  it('builds exactly the AWS routes, none of the local-only ones', () => {
    expect([...s.stack.functions.keys()].sort()).toEqual(onAws.map((r) => r.name).sort());
    expect(onAws.map((r) => r.name)).not.toContain('run');
    for (const route of routes.filter((r) => !r.runsOn.includes('aws'))) {
      s.template.resourcePropertiesCountIs('AWS::Lambda::Function', { FunctionName: `dev-amun-${route.name}` }, 0);
    }
  });

  it.each(onAws.map((r) => [r.name, r] as const))('%s: runtime, size and timeout from the table, ESM bundle, JSON logs, tracing', (name, route) => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: `dev-amun-${name}`,
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: route.memoryMb,
      Timeout: route.timeoutSeconds,
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', LogGroup: { Ref: logicalId(s, fnOf(name).logGroup.node.defaultChild) } },
      Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
    });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/dev-amun-${name}`, RetentionInDays: 30 });
  });

  it.each(onAws.map((r) => [r.name] as const))('%s: the bundle is minified ESM with a source map, under 1 MiB, the AWS SDK inside', (name) => {
    const dir = assetDir(s, fnOf(name));
    const bundle = join(dir, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    expect(existsSync(`${bundle}.map`)).toBe(true);
    expect(statSync(bundle).size).toBeLessThan(1024 * 1024);
    const code = readFileSync(bundle, 'utf8');
    expect(code.startsWith("import{createRequire as __amunCreateRequire}from'node:module'")).toBe(true);
    expect(code).toMatch(/export\s*\{[^}]*\bas handler\b/);
    expect(code).not.toMatch(/from\s*"@aws-sdk\//); // bundled and tree-shaken, not left to the runtime
    expect(code).not.toMatch(/from\s*"(node:)?(http|https|net|crypto|stream)"/); // built-ins through require, not an ESM facade
    expect(code).toContain('process.getBuiltinModule("node:http")');
    expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    expect(code.length / code.split('\n').length).toBeGreaterThan(300); // minified (newlines left are inside template literals)
  });

  it.each(onAws.map((r) => [r.name] as const))('%s: the Kubernetes client is never in the bundle; it ships beside it exactly when the function calls the cluster', (name) => {
    const code = readFileSync(join(assetDir(s, fnOf(name)), 'index.mjs'), 'utf8');
    // Loaded on first use only: a static import would load it at cold start (or, where it is not shipped, fail there).
    expect(code).not.toMatch(/from\s*"@kubernetes\/client-node"/);
    expect(code).not.toMatch(/class KubeConfig\b/);
    const client = join(assetDir(s, fnOf(name)), 'node_modules', '@kubernetes', 'client-node');
    expect(existsSync(join(client, 'index.mjs'))).toBe(CLUSTER_USE[name as never] !== undefined);
    if (CLUSTER_USE[name as never]) {
      expect(code).toMatch(/import\("@kubernetes\/client-node"\)/);
      expect(JSON.parse(readFileSync(join(client, 'package.json'), 'utf8'))).toEqual({ name: '@kubernetes/client-node', type: 'module', exports: './index.mjs' });
      expect(readFileSync(join(client, 'index.mjs'), 'utf8')).toMatch(/KubeConfig/);
    }
  });

  it.each(onAws.map((r) => [r.name, r] as const))('%s: the Swagger UI files ship beside the bundle exactly when the function serves the API', (name, route) => {
    const dir = join(assetDir(s, fnOf(name)), SWAGGER_UI_BUNDLE_DIR);
    expect(existsSync(dir)).toBe(route.trigger.kind === 'http');
    if (route.trigger.kind !== 'http') return;
    for (const file of [...Object.keys(SWAGGER_UI_FILES), 'LICENSE', 'NOTICE']) {
      expect({ file, size: statSync(join(dir, file)).size }).toEqual({ file, size: statSync(join(repoRoot, 'node_modules', 'swagger-ui-dist', file)).size });
    }
  });

  it.each(onAws.map((r) => [r.name, r] as const))('%s: the results explorer (page, built script, stylesheet) ships beside the bundle exactly when the function serves the API', (name, route) => {
    const dir = join(assetDir(s, fnOf(name)), EXPLORER_BUNDLE_DIR);
    expect(existsSync(dir)).toBe(route.trigger.kind === 'http');
    if (route.trigger.kind !== 'http') return;
    for (const file of ['index.html', ...Object.keys(EXPLORER_FILES)]) expect({ file, exists: existsSync(join(dir, file)) }).toEqual({ file, exists: true });
    expect(statSync(join(dir, 'explorer.js')).size).toBeGreaterThan(50_000);
    expect(readFileSync(join(dir, 'index.html'), 'utf8')).toBe(readFileSync(join(repoRoot, 'web', 'index.html'), 'utf8'));
  });

  it('the client beside the bundles exports every name the functions take from their lazy import of it', () => {
    const exported = new Set(
      /export\s*\{([^}]*)\}\s*from\s*'@kubernetes\/client-node'/
        .exec(readFileSync(kubernetesClientBundle.entry, 'utf8'))![1]!
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    );
    const sources = (readdirSync(join(repoRoot, 'functions'), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .map((f) => readFileSync(join(repoRoot, 'functions', f), 'utf8'))
      .filter((code) => /import\(\s*'@kubernetes\/client-node'\s*\)/.test(code));
    expect(sources.length).toBeGreaterThan(0);
    for (const code of sources) {
      // `const k8s = (): Promise<…> => (… import('@kubernetes/client-node'))`: every call of the loader must be read in a way seen here.
      const loader = /const\s+(\w+)\s*=\s*\(\)[^;]*import\(\s*'@kubernetes\/client-node'\s*\)/.exec(code)?.[1];
      expect(loader).toBeDefined();
      const calls = code.split(`${loader}()`).length - 1;
      const used: string[] = [];
      let seen = 0;
      for (const m of code.matchAll(new RegExp(`\\(await ${loader}\\(\\)\\)\\.(\\w+)`, 'g'))) {
        used.push(m[1]!);
        seen++;
      }
      for (const m of code.matchAll(new RegExp(`const\\s*\\{([^}]*)\\}\\s*=\\s*await ${loader}\\(\\)`, 'g'))) {
        used.push(...m[1]!.split(',').map((part) => part.split(':')[0]!.trim()).filter(Boolean));
        seen++;
      }
      expect(seen).toBe(calls);
      for (const name of used) expect({ name, exported: exported.has(name) }).toEqual({ name, exported: true });
    }
  });

  it.each(onAws.map((r) => [r.name] as const))("%s: the environment passes the functions' own configuration check", (name) => {
    const variables = functionResource(s, fnOf(name)).Properties.Environment.Variables;
    const config = configFromEnv(placeholderEnvironment(variables));
    expect(config.bucket).toBe(`cfn:<${logicalId(s, s.stack.store.bucket.node.defaultChild)}>`);
    expect(config.storePrefix).toBe('inspections');
    expect(config.specsPrefix).toBe('specs/');
    expect(config.executor).toBe('kubernetes');
    expect(config.queueUrls.work).toBe(`cfn:<${logicalId(s, queueOf('work').queue.node.defaultChild)}>`);
    expect(config.queueUrls.completions).toBe(`cfn:<${logicalId(s, queueOf('completions').queue.node.defaultChild)}>`);
    expect(config.queueUrls.run).toBeUndefined();
    expect(config.kubernetes).toMatchObject({ namespace: 'amun', clusterName: 'amun', labelPreset: 'nfd' });
    expect(config.kubernetes.endpoint).toMatch(/^cfn:<ClusterDescribe[0-9A-F]+\.cluster\.endpoint>$/);
    expect(config.kubernetes.caData).toMatch(/^cfn:<ClusterDescribe[0-9A-F]+\.cluster\.certificateAuthority\.data>$/);
    expect(config.kubernetes.registry).toMatch(/ClusterImages/);
    expect(config.apiToken).toBeUndefined();
  });

  it.each(onAws.map((r) => [r.name, r] as const))('%s: may send to exactly the deployed queues of its sendsTo, and no other', (name, route) => {
    const expected = route.sendsTo.filter((q) => awsQueues().includes(q)).map((q) => flat(queueArn(q)));
    // Scheduled (asynchronously invoked) functions also put their failed invocations in the dead-letter queue.
    if (route.trigger.kind === 'schedule') expected.push(`<${logicalId(s, s.stack.asyncFailures.node.defaultChild)}.Arn>`);
    expect(allowed(functionStatements(s, fnOf(name)), 'sqs:SendMessage')).toEqual(expected.sort());
    const variables = functionResource(s, fnOf(name)).Properties.Environment.Variables;
    for (const q of expected.length ? route.sendsTo.filter((q) => awsQueues().includes(q)) : []) {
      expect(variables[QUEUE_URL_VARIABLES[q]!]).toEqual(queueRef(q));
    }
  });

  it('every function has its own role, with no managed policy attached', () => {
    const roles = new Set(onAws.map((r) => logicalId(s, fnOf(r.name).role.node.defaultChild)));
    expect(roles.size).toBe(onAws.length);
    for (const id of roles) expect(s.json.Resources[id]!.Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe('triggers, as the table says', () => {
  const byKind = (kind: string) => onAws.filter((r) => r.trigger.kind === kind);

  it('http: ANY <basePath>/{proxy+} behind IAM authorization, integrated with the function', () => {
    const [route] = byKind('http');
    if (route?.trigger.kind !== 'http') throw new Error('no http route');
    // Besides the proxy route: the base path and the operations paths (test/infra/operations.test.ts).
    s.template.resourceCountIs('AWS::ApiGatewayV2::Route', 1 + 2 + PUBLIC_PATHS.length + 2 + 2);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: `ANY ${route.trigger.basePath}/{proxy+}`,
      AuthorizationType: 'AWS_IAM',
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(s, fnOf(route.name).fn.node.defaultChild), 'Arn'] },
    });
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [logicalId(s, fnOf(route.name).fn.node.defaultChild), 'Arn'] },
      SourceArn: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(`/\\*/\\*${route.trigger.basePath.replace(/\//g, '\\/')}/\\{proxy\\+\\}$`)])] },
    });
  });

  it('http: the $default stage throttles and writes JSON access logs', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"') },
    });
    const stage = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Stage')!;
    expect(() => JSON.parse(stage.Properties.AccessLogSettings.Format)).not.toThrow();
  });

  it.each(onAws.filter((r) => r.trigger.kind === 'queue' || r.trigger.kind === 's3').map((r) => [r.name, r] as const))(
    '%s: an SQS event source with the batch size and batching window of the table, reporting failures item by item',
    (name, route) => {
      if (route.trigger.kind !== 'queue' && route.trigger.kind !== 's3') throw new Error('not a queue route');
      s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: logicalId(s, fnOf(name).fn.node.defaultChild) },
        EventSourceArn: queueArn(route.trigger.queue),
        BatchSize: route.trigger.batchSize,
        MaximumBatchingWindowInSeconds: route.trigger.batchWindowSeconds ?? Match.absent(),
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    },
  );

  it('s3: object-created notifications go to each route queue with the prefix and suffix of the table', () => {
    const s3Routes = byKind('s3');
    expect(s3Routes.length).toBeGreaterThan(0);
    const notifications = Object.values(s.json.Resources).filter((r) => r.Type === 'Custom::S3BucketNotifications');
    expect(notifications).toHaveLength(1);
    const configs: any[] = notifications[0]!.Properties.NotificationConfiguration.QueueConfigurations;
    expect(configs).toHaveLength(s3Routes.length);
    for (const route of s3Routes) {
      if (route.trigger.kind !== 's3') continue;
      const prefix = resolvePrefix(route.trigger.prefix, { storePrefix: 'inspections', specsPrefix: 'specs/' });
      expect(configs).toContainEqual({
        Events: ['s3:ObjectCreated:*'],
        Filter: { Key: { FilterRules: expect.arrayContaining([{ Name: 'prefix', Value: prefix }, { Name: 'suffix', Value: route.trigger.suffix }]) } },
        QueueArn: queueArn(route.trigger.queue),
      });
    }
    expect(notifications[0]!.Properties.BucketName).toEqual({ Ref: logicalId(s, s.stack.store.bucket.node.defaultChild) });
  });

  it('s3: only the bucket, in this account, may send notifications to an event queue', () => {
    for (const route of byKind('s3')) {
      if (route.trigger.kind !== 's3') continue;
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [queueRef(route.trigger.queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 's3.amazonaws.com' },
              Action: Match.arrayWith(['sqs:SendMessage']),
              Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(s, s.stack.store.bucket.node.defaultChild), 'Arn'] } }, StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            }),
          ]),
        },
      });
    }
  });

  it('schedule: an EventBridge rule at the rate of the table, with retries and a dead-letter queue', () => {
    const scheduled = byKind('schedule');
    expect(scheduled.length).toBeGreaterThan(0);
    const dlq = { 'Fn::GetAtt': [logicalId(s, s.stack.asyncFailures.node.defaultChild), 'Arn'] };
    for (const route of scheduled) {
      if (route.trigger.kind !== 'schedule') continue;
      const fnArn = { 'Fn::GetAtt': [logicalId(s, fnOf(route.name).fn.node.defaultChild), 'Arn'] };
      s.template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: `rate(${route.trigger.rateMinutes} minute${route.trigger.rateMinutes === 1 ? '' : 's'})`,
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: fnArn, DeadLetterConfig: { Arn: dlq }, RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: route.trigger.rateMinutes * 60 } })],
      });
      expect(functionResource(s, fnOf(route.name)).Properties.DeadLetterConfig).toEqual({ TargetArn: dlq });
    }
  });
});

describe('queues: the deployed ones, each with a dead-letter queue', () => {
  it('deploys the queues AWS needs and leaves the run queue (local executors only) out', () => {
    expect(awsQueues().sort()).toEqual((['completions', 'indexEvents', 'ingestEvents', 'scheduleEvents', 'work'] as QueueName[]).sort());
    s.template.resourcePropertiesCountIs('AWS::SQS::Queue', { QueueName: 'dev-amun-run' }, 0);
  });

  it.each(awsQueues().map((q) => [q] as const))('%s: visibility ≥ 6 × the consumer timeout, redrive with the table maxReceiveCount, SSE, 14-day dead letters', (name) => {
    const spec = queueTable[name];
    const consumers = onAws.filter((r) => (r.trigger.kind === 'queue' || r.trigger.kind === 's3') && r.trigger.queue === name);
    const expected = Math.max(spec.visibilityTimeoutSeconds, ...consumers.map((c) => VISIBILITY_FACTOR * c.timeoutSeconds));
    const q = queueOf(name);
    const queue = s.json.Resources[logicalId(s, q.queue.node.defaultChild)]!;
    const dlq = s.json.Resources[logicalId(s, q.deadLetterQueue.node.defaultChild)]!;
    expect(queue.Properties).toMatchObject({
      QueueName: `dev-${spec.name}`,
      VisibilityTimeout: expected,
      SqsManagedSseEnabled: true,
      RedrivePolicy: { maxReceiveCount: spec.maxReceiveCount, deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(s, q.deadLetterQueue.node.defaultChild), 'Arn'] } },
    });
    for (const c of consumers) expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * c.timeoutSeconds);
    expect(dlq.Properties).toMatchObject({ QueueName: `dev-${spec.name}-dlq`, MessageRetentionPeriod: 14 * 24 * 3600, SqsManagedSseEnabled: true });
    expect(dlq.Properties.RedrivePolicy).toBeUndefined();
  });

  it('the work queue waits six build timeouts before redelivering a build', () => {
    expect(s.json.Resources[logicalId(s, queueOf('work').queue.node.defaultChild)]!.Properties.VisibilityTimeout).toBe(6 * 900);
  });

  it('every queue refuses requests without TLS', () => {
    const queueIds = Object.entries(s.json.Resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue').map(([id]) => id);
    expect(queueIds.length).toBe(awsQueues().length * 2 + 1);
    for (const id of queueIds) {
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });
});

describe('bucket', () => {
  it('is encrypted, private, versioned, access-logged and kept when the stack goes (not when its creation rolls back)', () => {
    const bucket = s.json.Resources[logicalId(s, s.stack.store.bucket.node.defaultChild)]!;
    expect(bucket.DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(s, s.stack.store.accessLogs.node.defaultChild) }, LogFilePrefix: 'store/' },
    });
  });

  it('expires build contexts (by tag), old versions and abandoned uploads', () => {
    const rules: any[] = s.json.Resources[logicalId(s, s.stack.store.bucket.node.defaultChild)]!.Properties.LifecycleConfiguration.Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Id: 'expire-build-contexts', Status: 'Enabled', ExpirationInDays: 30, TagFilters: [{ Key: BUILD_CONTEXT_TAG.key, Value: BUILD_CONTEXT_TAG.value }] }));
    expect(rules).toContainEqual(expect.objectContaining({ Id: 'expire-noncurrent-versions', NoncurrentVersionExpiration: { NoncurrentDays: 30 }, ExpiredObjectDeleteMarker: true }));
    expect(rules).toContainEqual(expect.objectContaining({ Id: 'abort-incomplete-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }));
    // Blobs (<prefix>-blobs/, untagged) never expire: contexts still name them. Only the tagged contexts do.
    expect(rules.filter((r) => r.ExpirationInDays !== undefined || r.ExpirationDate !== undefined)).toEqual([expect.objectContaining({ Id: 'expire-build-contexts', TagFilters: [{ Key: BUILD_CONTEXT_TAG.key, Value: BUILD_CONTEXT_TAG.value }] })]);
  });

  it('refuses requests without TLS 1.2', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(s, s.stack.store.bucket.node.defaultChild) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });
});

describe('IAM: least privilege, scoped to the bucket prefixes', () => {
  const store = () => [`${bucketArn()}/inspections-blobs/*`, `${bucketArn()}/inspections-index/*`, `${bucketArn()}/inspections/*`];

  it.each(onAws.map((r) => [r.name, r] as const))('%s: reads and writes the store, its index and its blobs, lists them by prefix', (name, route) => {
    const statements = functionStatements(s, fnOf(name));
    const drops = route.trigger.kind === 's3' && route.trigger.prefix === 'specs';
    expect(allowed(statements, 's3:GetObject')).toEqual([...store(), ...(drops ? [`${bucketArn()}/specs/*`] : [])].sort());
    expect(allowed(statements, 's3:PutObject')).toEqual(
      route.store === 'readwrite' ? [...store(), ...(drops ? [`${bucketArn()}/specs/*.consumed.json`, `${bucketArn()}/specs/*.error.json`] : [])].sort() : [],
    );
    const list = statements.find((st) => st.Sid === 'ListStore')!;
    expect(list).toEqual(expect.objectContaining({ Effect: 'Allow', Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['inspections/*', 'inspections-index/*', 'inspections-blobs/*', ...(drops ? ['specs/*'] : [])] } } }));
    expect(flat(list.Resource)).toBe(bucketArn());
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:GetObjectVersion', 's3:PutBucketPolicy']) expect(allowed(statements, action)).toEqual([]);
  });

  it('no function writes what triggers it: S3-triggered functions are denied their own trigger objects', () => {
    for (const route of onAws) {
      const denied = allowed(functionStatements(s, fnOf(route.name)), 's3:PutObject', 'Deny');
      if (route.trigger.kind === 's3' && route.trigger.prefix === 'store') expect(denied).toEqual([`${bucketArn()}/inspections/*${route.trigger.suffix}`]);
      else expect(denied).toEqual([]);
    }
    // ingest is triggered by `specs/*.json`: it may write only the marker names it ignores.
    const ingest = functionStatements(s, fnOf('ingest'));
    expect(allowed(ingest, 's3:PutObject').filter((r) => r.includes('/specs/'))).toEqual([`${bucketArn()}/specs/*.consumed.json`, `${bucketArn()}/specs/*.error.json`]);
  });

  it('no statement allows every resource where a narrower one exists, and no action wildcard', () => {
    const unscopable = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'ecr:GetAuthorizationToken']);
    const roles = [...onAws.map((r) => fnOf(r.name).role), s.stack.cluster.builderRole].map((role) => logicalId(s, role.node.defaultChild));
    for (const role of roles) {
      const statements: Statement[] = roleStatements(s, role).filter((st) => st.Effect === 'Allow');
      expect(statements.length).toBeGreaterThan(0);
      for (const st of statements) {
        for (const action of list(st.Action)) expect(action).not.toMatch(/\*/);
        if (list(st.Resource).includes('*')) expect(list(st.Action).filter((a) => !unscopable.has(a))).toEqual([]);
      }
    }
  });

  it('each function writes only its own log group', () => {
    for (const route of onAws) {
      const fn = fnOf(route.name);
      expect(allowed(functionStatements(s, fn), 'logs:PutLogEvents')).toEqual([`<${logicalId(s, fn.logGroup.node.defaultChild)}.Arn>`]);
    }
  });
});

describe('EKS: imported cluster, namespace-scoped access, builder identity, image repository', () => {
  it('maps exactly the functions that call the cluster to the namespace Role of deploy/kubernetes/rbac.yaml', () => {
    const entries = Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::EKS::AccessEntry');
    const expected = onAws.filter((r) => CLUSTER_USE[r.name]);
    expect(expected.map((r) => r.name).sort()).toEqual(['api', 'build', 'reconcile', 'schedule']);
    expect(entries).toHaveLength(expected.length);
    for (const route of expected) {
      s.template.hasResourceProperties('AWS::EKS::AccessEntry', {
        ClusterName: 'amun',
        Type: 'STANDARD',
        PrincipalArn: { 'Fn::GetAtt': [logicalId(s, fnOf(route.name).role.node.defaultChild), 'Arn'] },
        KubernetesGroups: ['amun-controller'],
        AccessPolicies: Match.absent(),
      });
    }
    const rbac = readFileSync(join(import.meta.dirname, '..', '..', 'deploy', 'kubernetes', 'rbac.yaml'), 'utf8');
    expect(rbac).toMatch(/kind: Group\s+name: amun-controller/);
    expect(rbac).toMatch(/kind: Role\s+metadata:\s+name: amun-controller\s+namespace: amun/);
  });

  it('looks the endpoint and CA up at deploy time with DescribeCluster on that cluster only', () => {
    s.template.hasResourceProperties('Custom::AmunDescribeCluster', { Create: Match.anyValue(), Update: Match.anyValue() });
    const lookup = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.PolicyDocument).includes('eks:DescribeCluster'))!;
    expect(lookup.Properties.PolicyDocument.Statement).toEqual([
      { Action: 'eks:DescribeCluster', Effect: 'Allow', Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':eks:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':cluster/amun']] } },
    ]);
  });

  it('build pods get a role through Pod Identity, trusted only for the builder service account', () => {
    const role = logicalId(s, s.stack.cluster.builderRole.node.defaultChild);
    s.template.hasResourceProperties('AWS::EKS::PodIdentityAssociation', { ClusterName: 'amun', Namespace: 'amun', ServiceAccount: 'dev-amun-builder', RoleArn: { 'Fn::GetAtt': [role, 'Arn'] } });
    expect(s.json.Resources[role]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'pods.eks.amazonaws.com' },
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Condition: { StringEquals: { 'aws:RequestTag/eks-cluster-name': 'amun', 'aws:RequestTag/kubernetes-namespace': 'amun', 'aws:RequestTag/kubernetes-service-account': 'dev-amun-builder' } },
      },
    ]);
  });

  it('build pods may read build context tarballs and push to the images repository and its layer cache, nothing more', () => {
    const statements = roleStatements(s, logicalId(s, s.stack.cluster.builderRole.node.defaultChild));
    const repo = `<${logicalId(s, s.stack.cluster.repository.node.defaultChild)}.Arn>`;
    const cache = `<${logicalId(s, s.stack.cluster.cacheRepository.node.defaultChild)}.Arn>`;
    expect(statements.map((st) => st.Sid).sort()).toEqual(['EcrLogin', 'PushImages', 'ReadBuildContexts']);
    expect(allowed(statements, 's3:GetObject')).toEqual([`${bucketArn()}/inspections/*/build/context.tar.gz`]);
    expect(allowed(statements, 's3:PutObject')).toEqual([]);
    expect(allowed(statements, 'ecr:PutImage')).toEqual([repo, cache].sort());
    expect(allowed(statements, 'ecr:GetAuthorizationToken')).toEqual(['*']);
  });

  it('build, schedule and reconcile read the repository (recorded images, the digests of finished builds), nothing pushes', () => {
    const repo = `<${logicalId(s, s.stack.cluster.repository.node.defaultChild)}.Arn>`;
    expect(onAws.filter((r) => CLUSTER_USE[r.name]?.checksImages === true).map((r) => r.name).sort()).toEqual(['build', 'reconcile', 'schedule']);
    for (const route of onAws) {
      const statements = functionStatements(s, fnOf(route.name));
      const checks = CLUSTER_USE[route.name]?.checksImages === true;
      expect(allowed(statements, 'ecr:BatchGetImage')).toEqual(checks ? [repo] : []);
      expect(allowed(statements, 'ecr:GetAuthorizationToken')).toEqual(checks ? ['*'] : []);
      expect(allowed(statements, 'ecr:PutImage')).toEqual([]);
    }
  });

  it('upload grants are signed by a role that may only put build logs, build statuses and results, in one-hour sessions the Job-creating functions assume', () => {
    const roleId = logicalId(s, s.stack.cluster.uploadRole.node.defaultChild);
    const role = s.json.Resources[roleId]!;
    expect(role.Properties.MaxSessionDuration).toBe(3600);
    expect(list(role.Properties.AssumeRolePolicyDocument.Statement).map((st: any) => st.Action)).toEqual(['sts:AssumeRole']);
    const statements = roleStatements(s, roleId);
    expect(statements.map((st) => st.Sid)).toEqual(['PutPodUploads']);
    expect(list(statements[0]!.Action)).toEqual(['s3:PutObject']);
    expect(allowed(statements, 's3:PutObject')).toEqual([`${bucketArn()}/inspections/*/build/log`, `${bucketArn()}/inspections/*/build/status`, `${bucketArn()}/inspections/*/results/*`].sort());
    const signers = onAws.filter((r) => CLUSTER_USE[r.name]?.access === 'AmazonEKSEditPolicy').map((r) => r.name).sort();
    expect(signers).toEqual(['build', 'reconcile', 'schedule']);
    for (const route of onAws) {
      const signs = signers.includes(route.name);
      expect(allowed(functionStatements(s, fnOf(route.name)), 'sts:AssumeRole')).toEqual(signs ? [`<${roleId}.Arn>`] : []);
      const env = placeholderEnvironment(functionResource(s, fnOf(route.name)).Properties.Environment?.Variables ?? {});
      expect(env.AMUN_K8S_UPLOAD_ROLE_ARN).toBe(signs ? `cfn:<${roleId}.Arn>` : undefined);
    }
  });

  it('inspection pods get no AWS identity at all', () => {
    s.template.resourceCountIs('AWS::EKS::PodIdentityAssociation', 1);
  });

  it('keeps images in a private, scanned repository with immutable tags and expiry', () => {
    s.template.hasResource('AWS::ECR::Repository', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: {
        RepositoryName: 'dev-amun-images',
        ImageTagMutability: 'IMMUTABLE',
        ImageScanningConfiguration: { ScanOnPush: true },
        LifecyclePolicy: { LifecyclePolicyText: Match.stringLikeRegexp('"countNumber":90') },
      },
    });
  });
});

describe('outputs', () => {
  it('name the API URL, the bucket, the prefixes and the queues', () => {
    const outputs = s.json.Outputs ?? {};
    expect(Object.keys(outputs)).toEqual(expect.arrayContaining(['ApiUrl', 'BucketName', 'StorePrefix', 'SpecsPrefix', 'WorkQueueUrl', 'CompletionsQueueUrl', 'WorkDeadLetterQueueUrl', 'ImageRepositoryUri', 'BuilderRoleArn']));
    const apiId = logicalId(s, s.stack.api!.api.node.defaultChild);
    expect(outputs.ApiUrl!.Value).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [apiId, 'ApiEndpoint'] }, '/api/v1']] });
    expect(outputs.CompletionsQueueUrl!.Value).toEqual(queueRef('completions'));
    expect(outputs.StorePrefix!.Value).toBe('inspections/');
  });
});
