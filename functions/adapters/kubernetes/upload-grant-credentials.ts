/**
 * The credentials that sign the pods' upload grants (upload-signer.ts). A grant works only while
 * the session that signed it does, so the signer asks for credentials with the time the grant
 * should last until.
 *
 * With AMUN_K8S_UPLOAD_ROLE_ARN (the AWS stack sets it): a dedicated role that may only put the
 * objects pods upload, assumed through STS for an hour (the most a role assumed by another role's
 * session may get) and reused only while it still covers a new grant for most of that hour. A grant
 * signed with it says when it ends (the session's expiration), and the reconciler renews the grant
 * of a Job that outlives it with a fresh session, so a run may outlast any one session. Without it,
 * the functions' own credentials sign (the embedded stack, a kubeconfig user, long-term keys).
 */
import type { Clock } from '../../core/ports.js';
import { signRequest, type AwsCredentials } from './aws-signing.js';

/** Credentials to sign a grant that should last until `until`. */
export type GrantCredentials = (until: Date) => Promise<AwsCredentials>;

/** STS AssumeRole, as far as grants need it. */
export type AssumeRole = (input: { RoleArn: string; RoleSessionName: string; DurationSeconds: number }) => Promise<AwsCredentials & { expiration: Date }>;

/** One hour: the longest session of a role assumed with another role's session (role chaining), as a Lambda function's is. */
export const UPLOAD_SESSION_SECONDS = 3600;

/** A session is reused for a new grant only while it has at least this much of its hour left (or lasts past the grant's end). */
export const REUSE_UNTIL_SECONDS_LEFT = 50 * 60;

export const UPLOAD_SESSION_NAME = 'amun-upload-grants';

export function assumedRoleGrantCredentials(options: { roleArn: string; assumeRole: AssumeRole; clock: Clock; sessionSeconds?: number }): GrantCredentials {
  const sessionSeconds = options.sessionSeconds ?? UPLOAD_SESSION_SECONDS;
  let session: Promise<AwsCredentials & { expiration: Date }> | undefined;
  const fresh = (): Promise<AwsCredentials & { expiration: Date }> => {
    const asked = options.assumeRole({ RoleArn: options.roleArn, RoleSessionName: UPLOAD_SESSION_NAME, DurationSeconds: sessionSeconds });
    // A failed call is not kept: the next grant asks again.
    session = asked.catch((error: unknown) => {
      session = undefined;
      throw error;
    });
    return session;
  };
  return async (until) => {
    if (!session) return fresh();
    const current = await session.catch(() => undefined);
    if (!current) return fresh();
    const now = options.clock.now().getTime();
    const enough = Math.min(until.getTime(), now + Math.min(REUSE_UNTIL_SECONDS_LEFT, sessionSeconds) * 1000);
    return current.expiration.getTime() >= enough ? current : fresh();
  };
}

/** The text of `<name>…</name>` in an STS answer (its XML has no attributes or CDATA in these elements). */
function element(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match?.[1]?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * STS AssumeRole over its query API, signed with the AWS SDK's SigV4 signer (aws-signing.ts), as
 * the ECR token is fetched (registry.ts). The SDK's STS client would add some 40 KB to every
 * function that reaches the cluster, the API's included, which never signs a grant and sits at
 * its 1 MiB bundle budget; this is one form POST and four fields of the answer.
 */
export function stsAssumeRole(options: { region: string; credentials: () => Promise<AwsCredentials>; clock: Clock; endpoint?: string | undefined; timeoutMs?: number }): AssumeRole {
  return async (input) => {
    const endpoint = new URL(options.endpoint ?? `https://sts.${options.region}.amazonaws.com${options.region.startsWith('cn-') ? '.cn' : ''}/`);
    const body = new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: input.RoleArn, RoleSessionName: input.RoleSessionName, DurationSeconds: String(input.DurationSeconds) }).toString();
    const headers = await signRequest({
      method: 'POST',
      host: endpoint.host,
      path: endpoint.pathname || '/',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
      service: 'sts',
      region: options.region,
      credentials: await options.credentials(),
      date: options.clock.now(),
    });
    const { host: _host, ...sendable } = headers;
    const res = await fetch(endpoint, { method: 'POST', headers: sendable, body, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
    const xml = await res.text();
    if (!res.ok) {
      throw new Error(`STS AssumeRole of ${input.RoleArn} failed (HTTP ${res.status}${element(xml, 'Code') ? `, ${element(xml, 'Code')}` : ''}): ${element(xml, 'Message') ?? xml.slice(0, 300)}`);
    }
    const [accessKeyId, secretAccessKey, sessionToken, expiration] = ['AccessKeyId', 'SecretAccessKey', 'SessionToken', 'Expiration'].map((name) => element(xml, name));
    const expires = expiration ? new Date(expiration) : undefined;
    if (!accessKeyId || !secretAccessKey || !sessionToken || !expires || Number.isNaN(expires.getTime())) throw new Error(`STS AssumeRole of ${input.RoleArn} returned no credentials`);
    return { accessKeyId, secretAccessKey, sessionToken, expiration: expires };
  };
}
