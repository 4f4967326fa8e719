/**
 * The HTTP API in front of the `api` function: every path under the route's base path, the base
 * path itself, and the operations paths at the root (/readiness, /liveness, /metrics); IAM
 * authorization unless JWT is configured, except on the public paths (functions/api/paths.ts:
 * version, the OpenAPI document, the UI, health), which reveal nothing about inspections and
 * answer without it as they do locally; CORS for the configured origins (off by default); stage
 * throttling, JSON access logs.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CorsHttpMethod, HttpApi, HttpMethod, HttpNoneAuthorizer, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { API_BASE, CORS_POLICY, EXPLORER_FILES_PATH, EXPLORER_PATH, GATEWAY_PROXY_PARAMETER, OPERATIONS_PATHS, PUBLIC_PATHS, UI_PATH } from '../../functions/api/paths.js';
import type { ApiAuth } from '../context.js';
import { acknowledge } from '../nag.js';

export interface AmunHttpApiProps {
  deployment: string;
  /** The route's base path, e.g. `/api/v1`; everything below it goes to `handler`. */
  basePath: string;
  handler: IFunction;
  auth: ApiAuth;
  /** Origins whose pages may call the API (CORS preflights answered by the gateway); empty: none. */
  allowedOrigins?: ReadonlyArray<string>;
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: RetentionDays;
  logRemovalPolicy: RemovalPolicy;
}

/** One JSON object per request (structured access logs). */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.caller',
  user: '$context.identity.userArn',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
};

export class AmunHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** The API's URL including the base path. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: AmunHttpApiProps) {
    super(scope, id);
    const authorizer: IHttpRouteAuthorizer =
      props.auth.kind === 'jwt'
        ? new HttpJwtAuthorizer('Jwt', props.auth.issuer, { jwtAudience: props.auth.audience })
        : new HttpIamAuthorizer();

    this.api = new HttpApi(this, 'Api', {
      apiName: `${props.deployment}-amun`,
      description: 'Amun v1 API',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
      // With origins listed the gateway answers preflights itself (an authorizer would refuse them) and adds the CORS headers.
      ...(props.allowedOrigins && props.allowedOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...props.allowedOrigins],
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST],
              allowHeaders: CORS_POLICY.headers.split(', '),
              exposeHeaders: [CORS_POLICY.exposeHeaders],
              maxAge: Duration.seconds(CORS_POLICY.maxAgeSeconds),
            },
          }
        : {}),
    });
    const integration = new HttpLambdaIntegration('Api', props.handler);
    // The handler routes on the raw path and leaves the gateway's parameter out of its answers (functions/api/http.ts).
    const greedy = `{${GATEWAY_PROXY_PARAMETER}+}`;
    this.api.addRoutes({ path: `${props.basePath}/${greedy}`, methods: [HttpMethod.ANY], integration });
    // `{proxy+}` matches below the base path only: the path list at the base path itself, the operations at the root.
    const authorized = [props.basePath, OPERATIONS_PATHS.metrics];
    // The handler's own public paths (paths.ts), plus everything below the UI and the explorer's page and files: no authorizer, as locally without a token.
    const open = props.basePath === API_BASE ? [...PUBLIC_PATHS, UI_PATH, `${UI_PATH}/${greedy}`, EXPLORER_PATH, `${EXPLORER_FILES_PATH}/${greedy}`] : [];
    for (const path of authorized) this.api.addRoutes({ path, methods: [HttpMethod.GET], integration });
    for (const path of open) {
      for (const route of this.api.addRoutes({ path, methods: [HttpMethod.GET], integration, authorizer: new HttpNoneAuthorizer() })) {
        acknowledge(route, [
          {
            id: 'AwsSolutions-APIG4',
            reason: `GET ${path} is public by design (docs/SECURITY.md, "Public endpoints"): the version, the API description, its documentation page, the results explorer's page and files (no data: its requests carry the token) and health reveal nothing about inspections; stage throttling bounds what calling it costs.`,
          },
        ]);
      }
    }

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    // `$default`: the handler routes on the raw path, which a named stage would prefix.
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.url = `${this.api.apiEndpoint}${props.basePath}`;
  }
}
