/**
 * A fake Kubernetes API server for the tests: real HTTP on 127.0.0.1 (node:http), the subset Amun
 * uses, with the real server's semantics where Amun depends on them:
 *   - Jobs (batch/v1), Pods, Secrets, ConfigMaps (v1): create, get, list, delete, watch, update
 *     (PUT); merge patch of Jobs; pod logs
 *   - 404 NotFound / 409 AlreadyExists / 422 Invalid / 401 Unauthorized as Status objects
 *   - a resourceVersion per write; watch replays from a resourceVersion, then streams
 *   - label selectors (=, ==, !=, in, notin, exists, !exists); limit/continue paging
 *   - Secret stringData becomes base64 data; deletion cascades to owned objects only with
 *     propagationPolicy Background or Foreground (the REST default for Jobs orphans)
 *   - every created object is validated with kubernetes-models (its OpenAPI schema) and its names
 *     and labels with the API server's rules
 * There is no scheduler or Job controller: tests play them with the helpers below (pods for
 * indexes, container outcomes, Job status), and `advance` + `runTtlController` play the TTL one.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';

export type Kind = 'Job' | 'Pod' | 'Secret' | 'ConfigMap';
type Obj = Record<string, any>;

const RESOURCES: Record<string, { kind: Kind; group: string; version: string; validate: (o: Obj) => void }> = {
  jobs: { kind: 'Job', group: 'batch', version: 'batch/v1', validate: (o) => new Job(o as never).validate() },
  pods: { kind: 'Pod', group: '', version: 'v1', validate: (o) => new Pod(o as never).validate() },
  secrets: { kind: 'Secret', group: '', version: 'v1', validate: (o) => new Secret(o as never).validate() },
  configmaps: { kind: 'ConfigMap', group: '', version: 'v1', validate: (o) => new ConfigMap(o as never).validate() },
};
const PLURAL: Record<Kind, string> = { Job: 'jobs', Pod: 'pods', Secret: 'secrets', ConfigMap: 'configmaps' };

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

interface Event {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  kind: Kind;
  object: Obj;
}

interface Watcher {
  kind: Kind;
  namespace: string;
  selector: Requirement[];
  res: ServerResponse;
}

type Requirement = { key: string; op: 'in' | 'notin' | 'exists' | '!exists'; values: string[] };

export function parseSelector(text: string | null): Requirement[] {
  if (!text) return [];
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((raw) => {
    const p = raw.trim();
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) };
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(p);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] };
    if (p.startsWith('!')) return { key: p.slice(1), op: '!exists', values: [] };
    return { key: p, op: 'exists', values: [] };
  });
}

function matches(labels: Record<string, string> | undefined, selector: Requirement[]): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case '!exists':
        return !has;
    }
  });
}

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export interface FakeApiServer {
  url: string;
  token: string;
  /** A kubeconfig file pointing at this server (token auth). */
  kubeconfig: string;
  /** Every request, in order: method and path with query. */
  requests: Array<{ method: string; path: string }>;
  now(): Date;
  advance(seconds: number): void;
  list(kind: Kind, namespace?: string): Obj[];
  get(kind: Kind, name: string, namespace?: string): Obj | undefined;
  /** The Job controller's part: a pod per index of a Job, from its template, Running on `node`. */
  startPods(jobName: string, indexes: number[], node?: string): Obj[];
  /** The kubelet's part: the pod's phase and container states. */
  setPodStatus(podName: string, status: Obj): Obj;
  /** The Job controller's part: the Job's status (merged). */
  setJobStatus(jobName: string, status: Obj): Obj;
  setLog(podName: string, container: string, text: string): void;
  /** The TTL controller: deletes finished Jobs whose ttlSecondsAfterFinished has passed, and what they own. */
  runTtlController(): string[];
  close(): Promise<void>;
}

export async function startFakeApiServer(options: { dir: string; namespace?: string; token?: string; start?: Date }): Promise<FakeApiServer> {
  const token = options.token ?? `fake-token-${randomUUID()}`;
  const defaultNamespace = options.namespace ?? 'amun';
  const store = new Map<string, Obj>();
  const events: Event[] = [];
  const watchers = new Set<Watcher>();
  const logs = new Map<string, string>();
  const requests: Array<{ method: string; path: string }> = [];
  let rv = 1000;
  let clock = options.start?.getTime() ?? Date.parse('2025-01-01T00:00:00Z');
  const nowIso = (): string => new Date(clock).toISOString().replace(/\.[0-9]{3}Z$/, 'Z');
  const keyOf = (kind: Kind, ns: string, name: string): string => `${kind}/${ns}/${name}`;

  const emit = (type: Event['type'], kind: Kind, object: Obj): void => {
    const event: Event = { rv, type, kind, object: structuredClone(object) };
    events.push(event);
    for (const w of watchers) {
      if (w.kind === kind && w.namespace === object.metadata.namespace && matches(object.metadata.labels, w.selector)) {
        w.res.write(`${JSON.stringify({ type, object: { apiVersion: RESOURCES[PLURAL[kind]]!.version, kind, ...object } })}\n`);
      }
    }
  };

  const put = (kind: Kind, object: Obj, type: Event['type']): Obj => {
    rv++;
    object.metadata.resourceVersion = String(rv);
    store.set(keyOf(kind, object.metadata.namespace, object.metadata.name), object);
    emit(type, kind, object);
    return object;
  };

  const remove = (kind: Kind, ns: string, name: string, cascade: boolean): Obj | undefined => {
    const object = store.get(keyOf(kind, ns, name));
    if (!object) return undefined;
    store.delete(keyOf(kind, ns, name));
    rv++;
    emit('DELETED', kind, { ...object, metadata: { ...object.metadata, resourceVersion: String(rv) } });
    if (cascade) {
      for (const [k, other] of [...store.entries()]) {
        if ((other.metadata.ownerReferences ?? []).some((o: Obj) => o.uid === object.metadata.uid)) {
          const [otherKind] = k.split('/') as [Kind];
          remove(otherKind, other.metadata.namespace, other.metadata.name, true);
        }
      }
    }
    return object;
  };

  const status = (res: ServerResponse, code: number, reason: string, message: string, details: Obj = {}): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code }));
  };
  const json = (res: ServerResponse, code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const validateNew = (plural: string, object: Obj): string[] => {
    const problems: string[] = [];
    const name: string = object.metadata?.name ?? '';
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) problems.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain`);
    if (plural === 'jobs' && name.length > 63) problems.push(`metadata.name: Invalid value: "${name}": must be no more than 63 characters`);
    const labelMaps = [object.metadata?.labels, object.spec?.template?.metadata?.labels];
    for (const labels of labelMaps) {
      for (const [k, v] of Object.entries<string>(labels ?? {})) {
        const [prefix, local] = k.includes('/') ? [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)] : ['', k];
        if ((prefix && !DNS_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(local) || local.length > 63) problems.push(`metadata.labels: Invalid value: "${k}"`);
        if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) problems.push(`metadata.labels: Invalid value: "${String(v)}"`);
      }
    }
    try {
      RESOURCES[plural]!.validate(object);
    } catch (error) {
      problems.push((error as Error).message);
    }
    return problems;
  };

  const create = (plural: string, ns: string, body: Obj): { code: number; object?: Obj; problem?: [string, string] } => {
    const { kind, version } = RESOURCES[plural]!;
    const object: Obj = structuredClone(body);
    object.metadata ??= {};
    if (!object.metadata.name && object.metadata.generateName) object.metadata.name = `${object.metadata.generateName}${randomUUID().slice(0, 5)}`;
    object.apiVersion = version;
    object.kind = kind;
    const problems = validateNew(plural, object);
    if (problems.length > 0) return { code: 422, problem: ['Invalid', `${kind} "${object.metadata.name ?? ''}" is invalid: ${problems.join('; ')}`] };
    if (object.metadata.namespace && object.metadata.namespace !== ns) return { code: 400, problem: ['BadRequest', 'the namespace of the object does not match the namespace of the request'] };
    if (store.has(keyOf(kind, ns, object.metadata.name))) return { code: 409, problem: ['AlreadyExists', `${plural}${RESOURCES[plural]!.group ? `.${RESOURCES[plural]!.group}` : ''} "${object.metadata.name}" already exists`] };
    object.metadata.namespace = ns;
    object.metadata.uid = randomUUID();
    object.metadata.creationTimestamp = nowIso();
    delete object.apiVersion;
    delete object.kind;
    if (kind === 'Secret' && object.stringData) {
      object.data = { ...(object.data ?? {}) };
      for (const [k, v] of Object.entries<string>(object.stringData)) object.data[k] = Buffer.from(v, 'utf8').toString('base64');
      delete object.stringData;
    }
    if (kind === 'Job') {
      object.metadata.generation = 1;
      const uid = object.metadata.uid;
      const extra = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': object.metadata.name, 'controller-uid': uid, 'job-name': object.metadata.name };
      object.spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      object.spec.template.metadata = { ...(object.spec.template.metadata ?? {}), labels: { ...(object.spec.template.metadata?.labels ?? {}), ...extra } };
      object.spec.completions ??= 1;
      object.spec.parallelism ??= 1;
      object.spec.suspend ??= false;
      object.status = {};
    }
    return { code: 201, object: put(kind, object, 'ADDED') };
  };

  const outward = (kind: Kind, object: Obj): Obj => ({ apiVersion: RESOURCES[PLURAL[kind]]!.version, kind, ...structuredClone(object) });

  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push({ method: req.method ?? '', path: `${url.pathname}${url.search}` });
    if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const m = /^\/(?:api\/v1|apis\/batch\/v1)\/namespaces\/([^/]+)\/(jobs|pods|secrets|configmaps)(?:\/([^/]+))?(?:\/(log))?$/.exec(url.pathname);
    if (!m) return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const [, ns, plural, name, sub] = m as unknown as [string, string, string, string | undefined, string | undefined];
    const resource = RESOURCES[plural]!;
    if (url.pathname.startsWith('/apis/batch/v1') !== (resource.group === 'batch')) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const kind = resource.kind;
    const notFound = (): void => status(res, 404, 'NotFound', `${plural}${resource.group ? `.${resource.group}` : ''} "${name}" not found`, { name, group: resource.group, kind: plural });
    const method = req.method ?? 'GET';

    if (sub === 'log') {
      if (plural !== 'pods' || method !== 'GET' || !name) return status(res, 405, 'MethodNotAllowed', 'method not allowed');
      const pod = store.get(keyOf('Pod', ns, name));
      if (!pod) return notFound();
      const container = url.searchParams.get('container') ?? pod.spec?.containers?.[0]?.name;
      const text = logs.get(`${ns}/${name}/${container}`);
      if (text === undefined) return status(res, 400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start`);
      const limit = Number(url.searchParams.get('limitBytes') ?? 0);
      const bytes = Buffer.from(text, 'utf8');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(limit > 0 && bytes.length > limit ? bytes.subarray(bytes.length - limit) : bytes);
      return;
    }

    if (!name) {
      if (method === 'POST') {
        let body: Obj;
        try {
          body = JSON.parse(await readBody(req)) as Obj;
        } catch {
          return status(res, 400, 'BadRequest', 'the body is not JSON');
        }
        const out = create(plural, ns, body);
        if (out.problem) return status(res, out.code, out.problem[0], out.problem[1], { name: body.metadata?.name, group: resource.group, kind: plural });
        return json(res, 201, outward(kind, out.object!));
      }
      if (method !== 'GET') return status(res, 405, 'MethodNotAllowed', 'method not allowed');
      const selector = parseSelector(url.searchParams.get('labelSelector'));
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        const from = url.searchParams.get('resourceVersion');
        if (from && from !== '0') {
          for (const e of events) {
            if (e.rv > Number(from) && e.kind === kind && e.object.metadata.namespace === ns && matches(e.object.metadata.labels, selector)) {
              res.write(`${JSON.stringify({ type: e.type, object: outward(kind, e.object) })}\n`);
            }
          }
        } else {
          for (const o of [...store.entries()].filter(([k]) => k.startsWith(`${kind}/${ns}/`)).map(([, o]) => o)) {
            if (matches(o.metadata.labels, selector)) res.write(`${JSON.stringify({ type: 'ADDED', object: outward(kind, o) })}\n`);
          }
        }
        const watcher: Watcher = { kind, namespace: ns, selector, res };
        watchers.add(watcher);
        const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
        const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
        req.on('close', () => {
          watchers.delete(watcher);
          if (timer) clearTimeout(timer);
        });
        return;
      }
      const all = [...store.entries()]
        .filter(([k]) => k.startsWith(`${kind}/${ns}/`))
        .map(([, o]) => o)
        .filter((o) => matches(o.metadata.labels, selector))
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      const offset = Number(Buffer.from(url.searchParams.get('continue') ?? '', 'base64').toString('utf8') || 0);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const page = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
      const next = limit > 0 && offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64') : undefined;
      return json(res, 200, { kind: `${kind}List`, apiVersion: resource.version, metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) }, items: page.map((o) => structuredClone(o)) });
    }

    const existing = store.get(keyOf(kind, ns, name));
    if (method === 'GET') return existing ? json(res, 200, outward(kind, existing)) : notFound();
    if (method === 'DELETE') {
      const raw = await readBody(req);
      let policy = url.searchParams.get('propagationPolicy');
      if (!policy && raw) policy = (JSON.parse(raw) as Obj).propagationPolicy ?? null;
      const cascade = policy === 'Background' || policy === 'Foreground' || (kind !== 'Job' && policy !== 'Orphan');
      const gone = remove(kind, ns, name, cascade);
      if (!gone) return notFound();
      return json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: resource.group, kind: plural, uid: gone.metadata.uid } });
    }
    if (method === 'PUT') {
      // An unconditional update (no resourceVersion asked for): the object as sent, with the identity it had.
      if (!existing) return notFound();
      const next = JSON.parse(await readBody(req)) as Obj;
      next.metadata = { ...next.metadata, name, namespace: ns, uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp };
      if (kind === 'Secret' && next.stringData) {
        next.data = { ...(next.data ?? {}) };
        for (const [k, v] of Object.entries<string>(next.stringData)) next.data[k] = Buffer.from(v, 'utf8').toString('base64');
        delete next.stringData;
      }
      return json(res, 200, outward(kind, put(kind, next, 'MODIFIED')));
    }
    if (method === 'PATCH') {
      if (!existing) return notFound();
      const type = String(req.headers['content-type'] ?? '');
      if (!/merge-patch\+json/.test(type)) return status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got ${type})`);
      const patched = mergePatch(existing, JSON.parse(await readBody(req)) as Obj) as Obj;
      patched.metadata = { ...patched.metadata, name, namespace: ns, uid: existing.metadata.uid };
      return json(res, 200, outward(kind, put(kind, patched, 'MODIFIED')));
    }
    return status(res, 405, 'MethodNotAllowed', 'method not allowed');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => status(res, 500, 'InternalError', (error as Error).stack ?? String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(options.dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: fake',
      '    cluster:',
      `      server: ${url}`,
      // client-node talks plain HTTP only with this set.
      '      insecure-skip-tls-verify: true',
      'users:',
      '  - name: tester',
      '    user:',
      `      token: ${token}`,
      'contexts:',
      '  - name: fake',
      '    context:',
      '      cluster: fake',
      '      user: tester',
      `      namespace: ${defaultNamespace}`,
      'current-context: fake',
      '',
    ].join('\n'),
  );

  const mustGet = (kind: Kind, name: string, ns = defaultNamespace): Obj => {
    const o = store.get(keyOf(kind, ns, name));
    if (!o) throw new Error(`fake apiserver: no ${kind} ${ns}/${name}`);
    return o;
  };

  return {
    url,
    token,
    kubeconfig,
    requests,
    now: () => new Date(clock),
    advance: (seconds) => {
      clock += seconds * 1000;
    },
    list: (kind, ns = defaultNamespace) => [...store.entries()].filter(([k]) => k.startsWith(`${kind}/${ns}/`)).map(([, o]) => structuredClone(o)),
    get: (kind, name, ns = defaultNamespace) => {
      const o = store.get(keyOf(kind, ns, name));
      return o ? structuredClone(o) : undefined;
    },
    startPods: (jobName, indexes, node = 'node-a') => {
      const job = mustGet('Job', jobName);
      return indexes.map((index) => {
        const template = job.spec.template;
        const pod: Obj = {
          metadata: {
            name: `${jobName}-${index}-${randomUUID().slice(0, 5)}`,
            namespace: job.metadata.namespace,
            labels: { ...template.metadata.labels, ...(job.spec.completionMode === 'Indexed' ? { 'batch.kubernetes.io/job-completion-index': String(index) } : {}) },
            annotations: job.spec.completionMode === 'Indexed' ? { 'batch.kubernetes.io/job-completion-index': String(index) } : {},
            ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true }],
            uid: randomUUID(),
            creationTimestamp: nowIso(),
          },
          spec: { ...structuredClone(template.spec), nodeName: node },
          status: { phase: 'Running', startTime: nowIso() },
        };
        const problems = validateNew('pods', { ...pod, apiVersion: 'v1', kind: 'Pod' });
        if (problems.length > 0) throw new Error(`fake apiserver: the pod of ${jobName} is invalid: ${problems.join('; ')}`);
        put('Pod', pod, 'ADDED');
        const active = (job.status.active ?? 0) + 1;
        put('Job', { ...job, status: { ...job.status, active, startTime: job.status.startTime ?? nowIso() } }, 'MODIFIED');
        return structuredClone(pod);
      });
    },
    setPodStatus: (podName, podStatus) => {
      const pod = mustGet('Pod', podName);
      return structuredClone(put('Pod', { ...pod, status: { ...pod.status, ...podStatus } }, 'MODIFIED'));
    },
    setJobStatus: (jobName, jobStatus) => {
      const job = mustGet('Job', jobName);
      return structuredClone(put('Job', { ...job, status: { ...job.status, ...jobStatus } }, 'MODIFIED'));
    },
    setLog: (podName, container, text) => {
      logs.set(`${defaultNamespace}/${podName}/${container}`, text);
    },
    runTtlController: () => {
      const deleted: string[] = [];
      for (const job of [...store.values()].filter((o) => o.spec?.template && o.status)) {
        const ttl = job.spec.ttlSecondsAfterFinished;
        if (typeof ttl !== 'number') continue;
        const done = (job.status.conditions ?? []).find((c: Obj) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
        if (!done) continue;
        const finished = Date.parse(job.status.completionTime ?? done.lastTransitionTime);
        if (finished + ttl * 1000 > clock) continue;
        remove('Job', job.metadata.namespace, job.metadata.name, true);
        deleted.push(job.metadata.name);
      }
      return deleted;
    },
    close: async () => {
      for (const w of watchers) w.res.end();
      watchers.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    },
  };
}
