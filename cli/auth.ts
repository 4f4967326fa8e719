/**
 * How the CLI proves who it is to an API. ApiClient (client.ts) asks its Authorizer for the
 * headers of every request it sends, reads and polls included: this is the one place.
 *
 * - `token`: `Authorization: Bearer <AMUN_API_TOKEN>`: the token of an embedded server, or a JWT
 *   for a deployment whose API Gateway has a JWT authorizer.
 * - `iam`: AWS Signature Version 4 for the service `execute-api`, made by the AWS SDK's signer
 *   (@smithy/signature-v4) with credentials from the SDK's default chain
 *   (@aws-sdk/credential-provider-node: environment, SSO, shared config and credentials files with
 *   AWS_PROFILE, credential_process, web identity, container and instance metadata), refreshed as
 *   they expire: what a deployment with IAM authorization wants. The region is the one an
 *   execute-api host name carries, else AWS_REGION or AWS_DEFAULT_REGION.
 * - `none`: nothing.
 * `auto`, the default, picks `token` when AMUN_API_TOKEN is set, `iam` for an execute-api URL
 * (`https://<id>.execute-api.<region>.amazonaws.com/…`), `none` otherwise.
 *
 * A request has one Authorization header, so `iam` and a token exclude each other: the CLI says so
 * instead of dropping one of them.
 */
import { CliError, EXIT_BAD_INPUT, EXIT_FAILURE } from './errors.js';

/** What the SDK's credential providers resolve to. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  expiration?: Date | undefined;
}
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export const AUTH_MODES = ['auto', 'token', 'iam', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** The service name API Gateway's IAM authorization checks signatures for. */
export const EXECUTE_API = 'execute-api';

/** A request as the client will send it: the signature covers exactly these method, URL, headers and body. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Readonly<Record<string, string>>;
  body?: string | undefined;
}

export interface Authorizer {
  readonly kind: 'token' | 'iam' | 'none';
  /** The headers that authorize this request, to be sent beside its own. */
  headers(request: OutgoingRequest): Promise<Record<string, string>>;
  /** What a request carried, in words: the hint of a 401 or 403 answer. */
  readonly described: string;
}

/** `<id>.execute-api.<region>.amazonaws.com` (and .com.cn), or a private API's `<id>-<vpce>.execute-api.<region>.vpce.amazonaws.com`. */
const EXECUTE_API_HOST = /^[a-z0-9]+(?:-vpce-[a-z0-9]+)?\.execute-api\.([a-z]{2}(?:-[a-z]+)+-[0-9]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/;

/** The region of an API Gateway endpoint URL, or undefined when the URL is not one. */
export function executeApiRegion(url: string | URL): string | undefined {
  const host = (typeof url === 'string' ? new URL(url) : url).hostname.toLowerCase();
  return EXECUTE_API_HOST.exec(host)?.[1];
}

export interface AuthOptions {
  mode?: AuthMode | undefined;
  /** AMUN_API_TOKEN (or the embedded server's own token). */
  token?: string | undefined;
  /** Where AWS_REGION and AWS_DEFAULT_REGION are read (process.env). */
  env?: NodeJS.ProcessEnv;
  /** The credentials `iam` signs with; default: the AWS SDK's default chain. */
  credentials?: AwsCredentialsProvider;
}

export const NO_AUTH: Authorizer = {
  kind: 'none',
  headers: async () => ({}),
  described: 'the request carried no credentials: set AMUN_API_TOKEN (a token or a JWT), or pass --auth iam for an API with IAM authorization',
};

export function tokenAuthorizer(token: string): Authorizer {
  const header = { authorization: `Bearer ${token}` };
  return { kind: 'token', headers: async () => ({ ...header }), described: 'the request carried AMUN_API_TOKEN as a Bearer token' };
}

/** The Authorizer for requests to `apiUrl`. Throws a CliError (bad input) for a combination that cannot work. */
export function authorizerFor(apiUrl: string, options: AuthOptions = {}): Authorizer {
  const mode = options.mode ?? 'auto';
  const token = options.token || undefined;
  const env = options.env ?? process.env;
  const urlRegion = executeApiRegion(apiUrl);
  switch (mode) {
    case 'none':
      return NO_AUTH;
    case 'token':
      if (!token) throw new CliError('--auth token needs the token in AMUN_API_TOKEN', EXIT_BAD_INPUT);
      return tokenAuthorizer(token);
    case 'iam':
      if (token) {
        throw new CliError('--auth iam signs the Authorization header, which AMUN_API_TOKEN would also need: unset AMUN_API_TOKEN, or use --auth token for a JWT authorizer', EXIT_BAD_INPUT);
      }
      return new IamAuthorizer(regionFor(apiUrl, urlRegion, env), options.credentials);
    case 'auto':
      if (token) return tokenAuthorizer(token);
      if (urlRegion) return new IamAuthorizer(urlRegion, options.credentials);
      return NO_AUTH;
  }
}

function regionFor(apiUrl: string, urlRegion: string | undefined, env: NodeJS.ProcessEnv): string {
  const region = urlRegion ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  if (!region) {
    throw new CliError(`--auth iam needs the API's region to sign for: ${new URL(apiUrl).host} is not an execute-api endpoint that names one; set AWS_REGION`, EXIT_BAD_INPUT);
  }
  return region;
}

type Signer = import('@smithy/signature-v4').SignatureV4;

/** SigV4 for execute-api. The SDK modules load on the first request, so other modes never pay for them. */
class IamAuthorizer implements Authorizer {
  readonly kind = 'iam';
  readonly described: string;
  private signer: Promise<Signer> | undefined;

  constructor(
    readonly region: string,
    private readonly credentials?: AwsCredentialsProvider,
  ) {
    this.described = `the request was signed with AWS Signature Version 4 (${EXECUTE_API}, ${region}) by the credentials of the AWS SDK's default chain; they need execute-api:Invoke on this API`;
  }

  private load(): Promise<Signer> {
    this.signer ??= (async () => {
      const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@smithy/core/checksum')]);
      const provider = this.credentials ?? (await import('@aws-sdk/credential-provider-node')).defaultProvider();
      const credentials = async (): Promise<AwsCredentials> => {
        try {
          return await provider();
        } catch (error) {
          throw new CliError(`no AWS credentials to sign requests with (--auth iam): ${(error as Error).message}. Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run \`aws sso login\``, EXIT_FAILURE);
        }
      };
      // Paths reach the signer as they go on the wire (encoded once); it encodes each segment
      // again, as SigV4 wants for every service but S3.
      return new SignatureV4({ service: EXECUTE_API, region: this.region, credentials, sha256: Sha256, applyChecksum: false });
    })();
    return this.signer;
  }

  async headers(request: OutgoingRequest): Promise<Record<string, string>> {
    const signer = await this.load();
    const { url } = request;
    const query: Record<string, string | string[]> = {};
    for (const [name, value] of url.searchParams) {
      const seen = query[name];
      query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const signed = await signer.sign({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      // fetch sends this Host itself (it may not be set by hand); it is signed as fetch will send it.
      headers: { ...request.headers, host: url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const added: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      if (name !== 'host' && request.headers[name] === undefined) added[name] = value;
    }
    return added;
  }
}
