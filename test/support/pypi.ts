/**
 * For tests that build Python stacks from the real PyPI: whether PyPI answers from this machine,
 * the trust a build behind a TLS-intercepting proxy needs, and the Pipfile hash `pipenv lock`
 * writes into `_meta.hash` (what `micropipenv install --deploy` checks).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const PYPI_SIMPLE = 'https://pypi.org/simple';

/** six on PyPI: the sha256 of each file, as https://pypi.org/simple/six/ lists them. */
export const SIX = {
  '1.15.0': {
    wheel: '8b74bedcbbbaca38ff6d7491d76f2b06b3592611af620f8426e82dddb04a5ced',
    sdist: '30639c035cdb23534cd4aa2dd52c3bf48f06e5f4a941509c8bafd8ce11080259',
  },
  '1.16.0': {
    wheel: '8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254',
    sdist: '1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926',
  },
} as const;

let reachable: string | undefined | null = null;

/**
 * Undefined when PyPI's simple index answers from this machine and still lists six 1.16.0's
 * wheel with the hash above; else why not. Asked once per process, in a child (describe bodies
 * are synchronous), with Node's own trust (NODE_EXTRA_CA_CERTS applies).
 */
export function pypiUnreachable(): string | undefined {
  if (reachable !== null) return reachable;
  const url = `${PYPI_SIMPLE}/six/`;
  const probe = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(20000) })
    .then(async (r) => { const t = await r.text(); process.stdout.write(r.status + ' ' + (t.includes(${JSON.stringify(SIX['1.16.0'].wheel)}) ? 'listed' : 'unlisted')); })
    .catch((e) => { process.stdout.write('error ' + (e.cause?.message ?? e.message)); });`;
  const out = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 30_000 });
  const answer = (out.stdout ?? '').trim();
  reachable = answer === '200 listed' ? undefined : `${url} does not answer as expected from this machine (${answer || out.error?.message || `exit ${out.status}`})`;
  return reachable;
}

/**
 * Files that make pip in an image build trust what this machine trusts, when this machine has
 * certificate authorities of its own (a TLS-intercepting egress proxy's, as Debian installs them
 * under /usr/local/share/ca-certificates): the host's CA bundle and a pip configuration naming it,
 * both as `files` of the specification (they are in place before the Python install: the original
 * order). AMUN_TEST_PIP_CERT names another bundle. None when the machine trusts only the public
 * authorities, which an image's own bundle has.
 */
export function pipTrustFiles(): Array<{ path: string; content: string }> {
  const local = '/usr/local/share/ca-certificates';
  const hasLocal = existsSync(local) && readdirSync(local).some((f) => f.endsWith('.crt'));
  const bundle = process.env.AMUN_TEST_PIP_CERT || (hasLocal ? '/etc/ssl/certs/ca-certificates.crt' : undefined);
  if (!bundle) return [];
  const path = '/etc/amun-test/ca-bundle.pem';
  return [
    { path, content: readFileSync(bundle, 'utf8') },
    { path: '/etc/pip.conf', content: `[global]\ncert = ${path}\n` },
  ];
}

/** Python's json.dumps(value, sort_keys=True, separators=(",", ":")) (ensure_ascii, as its default). */
function pythonJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return JSON.stringify(value);
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${pythonJson(k)}:${pythonJson(v)}`).join(',')}}`;
}

/** The `_meta.hash.sha256` pipenv writes for a Pipfile (pipenv's and micropipenv's _compute_pipfile_hash). */
export function pipfileHash(pipfile: { source: unknown; packages?: unknown; 'dev-packages'?: unknown; requires?: unknown }): string {
  const data = {
    _meta: { requires: pipfile.requires ?? {}, sources: pipfile.source },
    default: pipfile.packages ?? {},
    develop: pipfile['dev-packages'] ?? {},
  };
  return createHash('sha256').update(pythonJson(data), 'utf8').digest('hex');
}
