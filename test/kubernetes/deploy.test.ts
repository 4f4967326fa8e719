/** deploy/kubernetes/: every manifest valid against the Kubernetes schema, and the Role no wider than needed. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';

const dir = join(process.cwd(), 'deploy', 'kubernetes');
const deployDocuments = (): Array<Record<string, any>> =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Record<string, any>));

const models: Record<string, (o: never) => { validate(): void }> = {
  Namespace: (o) => new Namespace(o),
  ServiceAccount: (o) => new ServiceAccount(o),
  Role: (o) => new Role(o),
  RoleBinding: (o) => new RoleBinding(o),
  NetworkPolicy: (o) => new NetworkPolicy(o),
};

describe('deploy/kubernetes', () => {
  const docs = deployDocuments();

  it('has the namespace, service accounts, Role, RoleBinding and network policy, all valid', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['Namespace/amun', 'NetworkPolicy/amun-no-instance-metadata', 'Role/amun-controller', 'RoleBinding/amun-controller', 'ServiceAccount/amun-builder', 'ServiceAccount/default']);
    for (const doc of docs) models[doc.kind]!(doc as never).validate();
  });

  it('grants namespaced rights only, and no secret reads', () => {
    const role = docs.find((d) => d.kind === 'Role')!;
    expect(role.metadata.namespace).toBe('amun');
    const secrets = role.rules.filter((r: { resources: string[] }) => r.resources.includes('secrets'));
    expect(secrets.flatMap((r: { verbs: string[] }) => r.verbs)).toEqual(['create']);
    expect(docs.filter((d) => d.kind.startsWith('Cluster'))).toEqual([]);
  });

  it('keeps service account tokens out of pods', () => {
    for (const sa of docs.filter((d) => d.kind === 'ServiceAccount')) expect(sa.automountServiceAccountToken).toBe(false);
  });
});
