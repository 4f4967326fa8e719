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
    // Created with their Job and replaced when renewed; never read (get, list, watch) or patched (a patch answers with the Secret).
    expect(secrets.flatMap((r: { verbs: string[] }) => r.verbs)).toEqual(['create', 'update']);
    expect(docs.filter((d) => d.kind.startsWith('Cluster'))).toEqual([]);
  });

  it('keeps service account tokens out of pods', () => {
    for (const sa of docs.filter((d) => d.kind === 'ServiceAccount')) expect(sa.automountServiceAccountToken).toBe(false);
  });

  it('lets pods resolve names through the cluster DNS by a rule of its own (Cilium does not match CoreDNS by ipBlock), and keeps the metadata service out', () => {
    const policy = docs.find((d) => d.kind === 'NetworkPolicy')!;
    const egress = policy.spec.egress as Array<{ to: Array<Record<string, any>>; ports?: Array<{ protocol: string; port: number }> }>;
    const dns = egress.find((rule) => rule.to.some((peer) => peer.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns'))!;
    expect(dns.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    expect(dns.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    const blocks = egress.flatMap((rule) => rule.to.filter((peer) => peer.ipBlock).map((peer) => peer.ipBlock));
    expect(blocks).toEqual([
      { cidr: '0.0.0.0/0', except: ['169.254.169.254/32'] },
      { cidr: '::/0', except: ['fd00:ec2::254/128'] },
    ]);
  });
});
