/**
 * The HTTP API in front of the `api` function: every path under the route's base path, IAM
 * authorization unless JWT is configured, stage throttling, JSON access logs.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ApiAuth } from '../context.js';

export interface AmunHttpApiProps {
  deployment: string;
  /** The route's base path, e.g. `/api/v1`; everything below it goes to `handler`. */
  basePath: string;
  handler: IFunction;
  auth: ApiAuth;
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
    });
    this.api.addRoutes({
      path: `${props.basePath}/{proxy+}`,
      methods: [HttpMethod.ANY],
      integration: new HttpLambdaIntegration('Api', props.handler),
    });

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
