/** Helpers for the infra tests: one synthesis per call, and readers for the template's IAM and env. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { CfnElement } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import { createApp, type AmunApp, type CreateAppOptions } from '../../infra/amun-app.js';
import type { AmunFunction } from '../../infra/constructs/amun-function.js';

export interface Synthesized extends AmunApp {
  template: Template;
  json: TemplateJson;
  assembly: CloudAssembly;
}

export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: any; DeletionPolicy?: string; Metadata?: any }>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Synthesizes the app once; the nag plugins stay off (the nag tests run the packs themselves). */
export function synth(options: Omit<CreateAppOptions, 'outdir'> = {}): Synthesized {
  const built = createApp({ nag: false, ...options, outdir: mkdtempSync(join(tmpdir(), 'amun-cdk-test-')) });
  const assembly = built.app.synth();
  const template = Template.fromStack(built.stack);
  return { ...built, template, json: template.toJSON() as TemplateJson, assembly };
}

export function logicalId(s: AmunApp, element: unknown): string {
  return s.stack.getLogicalId(element as CfnElement);
}

/** `<LogicalId.Arn>/inspections/*` and the like: ARNs as cdk-nag names them. */
export function flat(resource: unknown): string {
  return flattenCfnReference(resource);
}

export function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Every statement of the policies attached to a role. */
export function roleStatements(s: Synthesized, roleLogicalId: string): Statement[] {
  return Object.values(s.json.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && list(r.Properties.Roles).some((ref: any) => ref?.Ref === roleLogicalId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
}

export function functionStatements(s: Synthesized, fn: AmunFunction): Statement[] {
  return roleStatements(s, logicalId(s, fn.role.node.defaultChild));
}

/** Flat resources of the statements that allow `action`. */
export function allowed(statements: Statement[], action: string, effect: 'Allow' | 'Deny' = 'Allow'): string[] {
  return statements
    .filter((st) => st.Effect === effect && list(st.Action).includes(action))
    .flatMap((st) => list(st.Resource).map(flat))
    .sort();
}

/** Placeholder strings for the values CloudFormation fills in at deploy time. */
export function placeholderEnvironment(variables: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(variables)) env[key] = typeof value === 'string' ? value : `cfn:${flat(value)}`;
  return env;
}

export function functionResource(s: Synthesized, fn: AmunFunction): { Type: string; Properties: any } {
  const resource = s.json.Resources[logicalId(s, fn.fn.node.defaultChild)];
  if (!resource) throw new Error(`no resource for ${fn.node.path}`);
  return resource as { Type: string; Properties: any };
}

/** A function's asset in the cloud assembly: the folder `cdk deploy` zips and uploads as its code. */
export function assetDir(s: Synthesized, fn: AmunFunction): string {
  const key = String(functionResource(s, fn).Properties.Code.S3Key);
  return join(s.assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
}
