/**
 * cdk-nag (v3 API): AwsSolutionsChecks and ServerlessChecks find nothing unacknowledged, in the
 * default stack and in its variants; every acknowledgement carries a reason and answers a finding
 * that really occurs (none is stale). Templates only: bundling is skipped here.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Validations, type App } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { createApp } from '../../infra/amun-app.js';
import { nagPacks } from '../../infra/nag.js';
import { synth, type Synthesized } from './support.js';

interface Finding {
  rule: string;
  path: string;
  description?: string;
}

function findings(app: App): Finding[] {
  return nagPacks().flatMap((pack) =>
    pack.validateScope(app).violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '', description: v.description }))),
  );
}

/** What the packs would report with every acknowledgement ignored. */
function rawFindings(app: App): Finding[] {
  const proto = NagPack.prototype as unknown as { isAcknowledged: (...args: unknown[]) => boolean };
  const original = proto.isAcknowledged;
  proto.isAcknowledged = () => false;
  try {
    return findings(app);
  } finally {
    proto.isAcknowledged = original;
  }
}

interface Ack {
  path: string;
  id: string;
  reason: string;
}

function acknowledgements(root: IConstruct): Ack[] {
  const out: Ack[] = [];
  const walk = (node: IConstruct) => {
    for (const entry of node.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) out.push({ path: node.node.path, id: id.replace(/^annotation::/i, ''), reason });
    }
    node.node.children.forEach(walk);
  };
  walk(root);
  return out;
}

const variants: Array<[string, Record<string, unknown>]> = [
  ['default', {}],
  ['JWT authorization', { apiAuth: 'jwt', jwtIssuer: 'https://issuer.example.com/', jwtAudience: 'amun' }],
  ['data removed with the stack', { retainData: false }],
  ['cluster endpoint given', { eksClusterEndpoint: 'https://ABC.gr7.eu-west-1.eks.amazonaws.com', eksClusterCaData: 'LS0tLS1CRUdJTg==' }],
  ['EKS access policies', { eksAccess: 'policy' }],
  ['CORS for listed origins', { allowedOrigins: 'https://app.example.com' }],
];

describe.each(variants)('cdk-nag, %s', (_name, context) => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ bundle: false, context });
  }, 120_000);

  it('AwsSolutions and Serverless find nothing unacknowledged', () => {
    expect(findings(s.app)).toEqual([]);
  });

  it('every acknowledgement has a reason and answers a finding that occurs in its scope', () => {
    const raw = rawFindings(s.app);
    const acks = acknowledgements(s.app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect({ id: ack.id, reason: ack.reason.trim().length >= 20 }).toEqual({ id: ack.id, reason: true });
      const answered = raw.some((f) => f.rule === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)));
      expect({ ack: `${ack.path} ${ack.id}`, answered }).toEqual({ ack: `${ack.path} ${ack.id}`, answered: true });
    }
  });
});

describe('cdk-nag plugins', () => {
  it('run at synthesis: a new finding fails `cdk synth`', () => {
    const { app, stack } = createApp({ bundle: false, outdir: mkdtempSync(join(tmpdir(), 'amun-cdk-nag-')) });
    new Bucket(stack, 'Unlogged');
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
    } finally {
      quiet.mockRestore();
    }
  }, 120_000);
});
