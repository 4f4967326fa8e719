/**
 * The operations endpoints on AWS: the gateway routes them (the base path and the root paths that
 * `{proxy+}` does not match), the public ones without the authorizer as they are public locally,
 * the API function reads every deployed queue's depth and its dead-letter queue's (and nothing
 * more of them), and CORS for listed origins is the gateway's (off by default). Templates only.
 */
import { configFromEnv, ENV } from '../../functions/config.js';
import { API_BASE, EXPLORER_FILES_PATH, EXPLORER_PATH, OPERATIONS_PATHS, PUBLIC_PATHS, UI_PATH } from '../../functions/api/paths.js';
import { awsRoutes, QUEUE_URL_VARIABLES } from '../../infra/stack.js';
import { allowed, flat, functionResource, functionStatements, logicalId, placeholderEnvironment, synth, type Synthesized } from './support.js';

const api = (s: Synthesized) => s.stack.functions.get('api')!;
const routeKeys = (s: Synthesized): Record<string, { AuthorizationType: string; Target: unknown }> =>
  Object.fromEntries(
    Object.values(s.json.Resources)
      .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
      .map((r) => [r.Properties.RouteKey as string, { AuthorizationType: r.Properties.AuthorizationType as string, Target: r.Properties.Target }]),
  );

describe('the gateway and the API function (IAM, no CORS)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ bundle: false });
  }, 120_000);

  it('routes the base path and /metrics behind IAM, the public paths (version, document, UI, health) without an authorizer', () => {
    const routes = routeKeys(s);
    const open = [...PUBLIC_PATHS, UI_PATH, `${UI_PATH}/{proxy+}`, EXPLORER_PATH, `${EXPLORER_FILES_PATH}/{proxy+}`];
    expect(Object.keys(routes).sort()).toEqual(
      [`ANY ${API_BASE}/{proxy+}`, `GET ${API_BASE}`, `GET ${OPERATIONS_PATHS.metrics}`, ...open.map((p) => `GET ${p}`)].sort(),
    );
    expect(routes[`GET ${API_BASE}`]!.AuthorizationType).toBe('AWS_IAM');
    expect(routes[`GET ${OPERATIONS_PATHS.metrics}`]!.AuthorizationType).toBe('AWS_IAM');
    for (const path of open) expect({ path, auth: routes[`GET ${path}`]!.AuthorizationType }).toEqual({ path, auth: 'NONE' });
    expect(open).toEqual(expect.arrayContaining([OPERATIONS_PATHS.readiness, OPERATIONS_PATHS.liveness, `${API_BASE}/version`, `${API_BASE}/openapi.json`]));
    // One integration, the API function, behind every route.
    expect(new Set(Object.values(routes).map((r) => JSON.stringify(r.Target))).size).toBe(1);
  });

  it('has no CORS configuration, and the function no allowed origins, by default', () => {
    const httpApi = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Api')!;
    expect(httpApi.Properties.CorsConfiguration).toBeUndefined();
    expect(functionResource(s, api(s)).Properties.Environment.Variables[ENV.allowedOrigins]).toBeUndefined();
  });

  it('the API function knows every deployed queue and may read the depth of each and of its dead-letter queue, nothing else', () => {
    const variables = functionResource(s, api(s)).Properties.Environment.Variables;
    const config = configFromEnv(placeholderEnvironment(variables));
    const deployed = [...s.stack.queues.values()];
    expect(deployed.map((q) => q.name).sort()).toEqual(['completions', 'indexEvents', 'ingestEvents', 'scheduleEvents', 'work']);
    for (const q of deployed) {
      expect({ queue: q.name, variable: variables[QUEUE_URL_VARIABLES[q.name]!] }).toEqual({ queue: q.name, variable: { Ref: logicalId(s, q.queue.node.defaultChild) } });
      expect(config.queueUrls[q.name as keyof typeof config.queueUrls]).toBe(`cfn:<${logicalId(s, q.queue.node.defaultChild)}>`);
    }
    const arns = deployed.flatMap((q) => [q.queue, q.deadLetterQueue]).map((queue) => flat({ 'Fn::GetAtt': [logicalId(s, queue.node.defaultChild), 'Arn'] }));
    expect(allowed(functionStatements(s, api(s)), 'sqs:GetQueueAttributes')).toEqual(arns.sort());
    // Reading depths only: the API still sends to the work queue alone, and receives from none.
    expect(allowed(functionStatements(s, api(s)), 'sqs:ReceiveMessage')).toEqual([]);
    // The other functions: only the queue they consume (their event source mapping's own grant).
    for (const route of awsRoutes().filter((r) => r.name !== 'api')) {
      const consumed = route.trigger.kind === 'queue' || route.trigger.kind === 's3' ? s.stack.queues.get(route.trigger.queue)! : undefined;
      const own = consumed ? [flat({ 'Fn::GetAtt': [logicalId(s, consumed.queue.node.defaultChild), 'Arn'] })] : [];
      expect({ fn: route.name, reads: allowed(functionStatements(s, s.stack.functions.get(route.name)!), 'sqs:GetQueueAttributes') }).toEqual({ fn: route.name, reads: own });
    }
  });
});

describe('with allowedOrigins and JWT', () => {
  const ORIGINS = ['https://app.example.com', 'http://localhost:5173'];
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ bundle: false, context: { allowedOrigins: ORIGINS.join(','), apiAuth: 'jwt', jwtIssuer: 'https://id.example.com/', jwtAudience: 'amun' } });
  }, 120_000);

  it('the gateway answers preflights for exactly those origins, with the methods and headers the API uses', () => {
    const httpApi = Object.values(s.json.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Api')!;
    expect(httpApi.Properties.CorsConfiguration).toEqual({
      AllowOrigins: ORIGINS,
      AllowMethods: ['GET', 'POST'],
      AllowHeaders: ['authorization', 'content-type'],
      ExposeHeaders: ['x-amun-version'],
      MaxAge: 600,
    });
    expect(httpApi.Properties.CorsConfiguration.AllowOrigins).not.toContain('*');
    expect(httpApi.Properties.CorsConfiguration.AllowCredentials).toBeUndefined();
  });

  it('the function lets the same origins past its origin guard, and the authorized routes take JWTs', () => {
    const variables = functionResource(s, api(s)).Properties.Environment.Variables;
    expect(configFromEnv(placeholderEnvironment(variables)).http.allowedOrigins).toEqual(ORIGINS);
    const routes = routeKeys(s);
    expect(routes[`GET ${OPERATIONS_PATHS.metrics}`]!.AuthorizationType).toBe('JWT');
    expect(routes[`GET ${OPERATIONS_PATHS.readiness}`]!.AuthorizationType).toBe('NONE');
  });

  it('refuses an allowedOrigins value that is not an origin', () => {
    for (const bad of ['https://app.example.com/path', 'app.example.com', '*']) {
      expect(() => synth({ bundle: false, context: { allowedOrigins: bad } })).toThrow(/allowedOrigins must be comma-separated origins/);
    }
  });
});
