/**
 * Pipfile and Pipfile.lock as they travel in the build context, and the pip requirement files
 * derived from them.
 *
 * - `pipfileToToml`: the Pipfile (JSON in the specification) written as TOML with smol-toml.
 * - `pipfileLockToJson`: the lock written as pipenv writes it (sorted keys, 4-space indent, ASCII).
 * - `lockToRequirements`: the `default` section of a lock as requirement files, the way
 *   `micropipenv install` feeds the lock to pip: entries with hashes hash-pinned
 *   (`name==version; markers --hash=...`, installed with --require-hashes), entries without hashes,
 *   VCS (git), archive URL and path entries as plain requirement lines in files of their own.
 * - `pipfileToRequirements`: a Pipfile without a lock, as plain (resolving) requirement files.
 *
 * pip's index options (`--index-url`, `--extra-index-url`, `--trusted-host`) are global to one
 * pip invocation, so entries that name an `index` of their own go to a file of their own: one
 * file per index group, installed one after the other. Packages without an `index` use the
 * first source as `--index-url` and the others as `--extra-index-url`.
 *
 * Requirement files are line-based (Python's `str.splitlines()`, which also breaks at \x0b, \x0c,
 * \x1c-\x1e, \x85, \u2028 and \u2029), so every value written into one is checked here against
 * a strict pattern, whatever the schema let through: a value can never start a line of its own.
 */
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { SpecificationError, type Problem } from './errors.js';
import type { Pipfile, PipfileLock } from './generated/types.js';

/**
 * One requirement file: `index` is the source name its entries are pinned to (null: every source);
 * `hashed` says every entry carries hashes (install it with --require-hashes).
 */
export interface RequirementsFile {
  index: string | null;
  hashed: boolean;
  text: string;
}

const PACKAGE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const EXTRA = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const SOURCE_NAME = /^[A-Za-z0-9._-]+$/;
/** An exact pin as pip's --require-hashes mode accepts it (no wildcard). */
const PINNED_VERSION = /^==[A-Za-z0-9.+!_-]+$/;
const HASH = /^sha256:[a-f0-9]{64}$/;
/** PEP 508 marker text: ASCII letters, digits, quotes, operators; never a token that starts with '-'. */
const MARKERS = /^[A-Za-z0-9_ .'"<>=!~()*,-]*$/;
const SPECIFIER = String.raw`(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+`;
/** A Pipfile version: `*` or a PEP 440 specifier set. */
const VERSION_SPEC = new RegExp(String.raw`^\s*(?:\*|${SPECIFIER}(?:\s*,\s*${SPECIFIER})*)\s*$`);
/** Index URLs: printable ASCII without spaces, so nothing in one can end a line for Python. */
const INDEX_URL = /^https?:\/\/[!-~]+$/;
/** Lock and Pipfile keys that point outside an index (VCS, paths, URLs). */
const UNPINNABLE_KEYS = ['git', 'hg', 'svn', 'bzr', 'path', 'file', 'editable', 'ref', 'subdirectory'] as const;
/** VCS micropipenv cannot install (it installs git only). */
const UNSUPPORTED_VCS = ['hg', 'svn', 'bzr'] as const;
/** A git repository URL (without a fragment or query: the generator appends @ref and #subdirectory). */
const GIT_URL = /^(?:https?|ssh|git|file):\/\/[A-Za-z0-9._~:/@!&'()*+,;=%-]+$/;
const GIT_REF = /^[A-Za-z0-9_.][A-Za-z0-9._/+-]*$/;
const SUBDIRECTORY = /^[A-Za-z0-9_.][A-Za-z0-9._/+-]*$/;
/** An archive URL. */
const FILE_URL = /^https?:\/\/[A-Za-z0-9._~:/?@!&'()*+,;=%-]+$/;
/** A local path: relative to /home/amun, or absolute; never a `..` segment, never a leading '-'. */
const LOCAL_PATH = /^(?!.*(?:^|\/)\.\.(?:\/|$))(?:\.|(?:\.\/|\/)?[A-Za-z0-9_@+=,][A-Za-z0-9._@+=,-]*(?:\/[A-Za-z0-9._@+=,-]+)*\/?)$/;

/** Escapes one JSON Pointer reference token. */
export function pointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when the string cannot be encoded as UTF-8 without loss (it holds a lone surrogate). */
export function hasLoneSurrogate(value: string): boolean {
  return LONE_SURROGATE.test(value);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The Pipfile as TOML. Throws a SpecificationError (every problem, with its JSON Pointer) for what
 * TOML cannot carry: null, text that is not valid Unicode, an array of tables mixed with values.
 */
export function pipfileToToml(pipfile: Pipfile, pointer = '/python/requirements'): string {
  const problems: Problem[] = [];
  checkTomlValue(pipfile, pointer, problems, 0);
  if (problems.length > 0) throw new SpecificationError('the Pipfile cannot be written as TOML', problems);
  let text: string;
  try {
    text = stringifyToml(pipfile);
  } catch (error) {
    throw new SpecificationError('the Pipfile cannot be written as TOML', [{ path: pointer, message: (error as Error).message }]);
  }
  // What TOML cannot say the same way (e.g. an empty table in an array of tables) must not change silently.
  let back: unknown;
  try {
    back = parseToml(text);
  } catch (error) {
    throw new SpecificationError('the Pipfile cannot be written as TOML', [{ path: pointer, message: (error as Error).message }]);
  }
  if (JSON.stringify(canonical(back)) !== JSON.stringify(canonical(pipfile))) {
    throw new SpecificationError('the Pipfile cannot be written as TOML', [{ path: pointer, message: 'does not survive a TOML round trip' }]);
  }
  return text.endsWith('\n') || text === '' ? text : `${text}\n`;
}

const MAX_DEPTH = 64;

function checkTomlValue(value: unknown, path: string, problems: Problem[], depth: number): void {
  if (depth > MAX_DEPTH) {
    problems.push({ path, message: `is nested deeper than ${MAX_DEPTH} levels` });
    return;
  }
  if (value === null || value === undefined) {
    problems.push({ path, message: 'is null: TOML has no null' });
  } else if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) problems.push({ path, message: 'is not valid Unicode text (lone surrogate)' });
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) problems.push({ path, message: 'is not a finite number' });
  } else if (typeof value === 'boolean') {
    // fine
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkTomlValue(item, `${path}/${i}`, problems, depth + 1));
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}/${pointerToken(key)}`;
      if (hasLoneSurrogate(key)) problems.push({ path: at, message: 'has a key that is not valid Unicode text (lone surrogate)' });
      checkTomlValue(item, at, problems, depth + 1);
    }
  } else {
    problems.push({ path, message: `cannot be written as TOML (${typeof value})` });
  }
}

/** Sorted keys, -0 as 0: the data a JSON or TOML document means, for comparison. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.keys(value).sort(compareCodePoints).map((k) => [k, canonical(value[k])]));
  }
  if (typeof value === 'number' && Object.is(value, -0)) return 0;
  return value;
}

/** Orders strings by Unicode code point, as Python's sorted() does. */
export function compareCodePoints(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx - cy;
  }
}

/**
 * The lock as pipenv writes it: `json.dumps(lock, indent=4, sort_keys=True)` with Python's default
 * ensure_ascii (every non-ASCII character as \uXXXX), plus a final newline.
 */
export function pipfileLockToJson(lock: PipfileLock): string {
  const json = JSON.stringify(canonical(lock), null, 4);
  return `${json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}

interface Source {
  name: string;
  url: string;
  verifySsl: boolean;
}

interface Entry {
  name: string;
  /** The requirement line without hashes: `name[extras]==1.0; markers`. */
  requirement: string;
  hashes: string[];
  index: string | null;
}

function checkPattern(raw: unknown, pattern: RegExp, path: string, problems: Problem[], what: string): string | null {
  if (typeof raw !== 'string' || raw.length > 1024 || !pattern.test(raw)) {
    problems.push({ path, message: `must be ${what}` });
    return null;
  }
  return raw;
}

/**
 * The requirement line of a lock entry that is not an index package, the way micropipenv writes
 * one (VCS: `git+<url>@<ref>`, editable with `-e`; archive URLs; local paths, relative to the
 * working directory /home/amun), in PEP 508 form where pip reads that (`name @ git+…`).
 * Undefined when the entry is an index package; null when it is refused (problems say why).
 */
function directRequirement(name: string, info: Record<string, unknown>, at: string, problems: Problem[]): string | null | undefined {
  const vcs = UNSUPPORTED_VCS.find((k) => k in info);
  if (vcs !== undefined) {
    problems.push({ path: `${at}/${vcs}`, message: `${vcs} entries are not supported (micropipenv installs git only)` });
    return null;
  }
  const kinds = (['git', 'file', 'path'] as const).filter((k) => k in info);
  if (kinds.length === 0) {
    for (const key of ['editable', 'ref', 'subdirectory'] as const) {
      if (key in info) {
        problems.push({ path: `${at}/${key}`, message: 'needs a git or path entry beside it' });
        return null;
      }
    }
    return undefined;
  }
  if (kinds.length > 1) {
    problems.push({ path: `${at}/${kinds[1] ?? ''}`, message: `cannot be given beside ${kinds[0] ?? ''}` });
    return null;
  }
  const editable = info.editable;
  if (editable !== undefined && typeof editable !== 'boolean') {
    problems.push({ path: `${at}/editable`, message: 'must be a boolean' });
    return null;
  }
  const extras = checkExtras(info.extras, `${at}/extras`, problems);
  const markers = checkMarkers(info.markers, `${at}/markers`, problems);
  const extrasText = extras.length > 0 ? `[${extras.join(',')}]` : '';
  const markersText = markers ? ` ; ${markers}` : '';
  const kind = kinds[0];
  if (kind === 'git') {
    const url = checkPattern(info.git, GIT_URL, `${at}/git`, problems, 'a git repository URL (https, ssh, git or file; no spaces, no query or fragment)');
    const ref = info.ref === undefined ? '' : checkPattern(info.ref, GIT_REF, `${at}/ref`, problems, `a git reference matching ${GIT_REF.source}`);
    const sub = info.subdirectory === undefined ? '' : checkPattern(info.subdirectory, SUBDIRECTORY, `${at}/subdirectory`, problems, `a subdirectory matching ${SUBDIRECTORY.source}`);
    if (url === null || ref === null || sub === null) return null;
    const target = `git+${url}${ref ? `@${ref}` : ''}`;
    if (editable === true) return `-e ${target}#egg=${name}${sub ? `&subdirectory=${sub}` : ''}`;
    return `${name}${extrasText} @ ${target}${sub ? `#subdirectory=${sub}` : ''}${markersText}`;
  }
  if ('subdirectory' in info || 'ref' in info) {
    problems.push({ path: `${at}/${'ref' in info ? 'ref' : 'subdirectory'}`, message: 'applies to git entries only' });
    return null;
  }
  if (kind === 'file') {
    const url = checkPattern(info.file, FILE_URL, `${at}/file`, problems, 'an http(s) archive URL without spaces');
    if (url === null) return null;
    if (editable === true) {
      problems.push({ path: `${at}/editable`, message: 'an archive URL cannot be installed editable' });
      return null;
    }
    return `${name}${extrasText} @ ${url}${markersText}`;
  }
  const raw = checkPattern(info.path, LOCAL_PATH, `${at}/path`, problems, 'a local path without ".." segments (relative paths are relative to /home/amun)');
  if (raw === null) return null;
  // micropipenv's rule: a bare name is a path relative to the working directory.
  const path = raw.includes('/') || raw.startsWith('.') ? raw : `./${raw}`;
  return `${editable === true ? '-e ' : ''}${path}${extrasText}${markers ? `; ${markers}` : ''}`;
}

function readSources(raw: unknown, path: string, problems: Problem[]): Source[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    problems.push({ path, message: 'must be an array of sources' });
    return [];
  }
  const sources: Source[] = [];
  raw.forEach((item: unknown, i) => {
    const at = `${path}/${i}`;
    if (!isPlainObject(item)) {
      problems.push({ path: at, message: 'must be an object with name and url' });
      return;
    }
    const { name, url, verify_ssl: verify } = item;
    let ok = true;
    if (typeof name !== 'string' || !SOURCE_NAME.test(name)) {
      problems.push({ path: `${at}/name`, message: `must match ${SOURCE_NAME.source}` });
      ok = false;
    }
    if (typeof url !== 'string' || !INDEX_URL.test(url)) {
      problems.push({ path: `${at}/url`, message: 'must be an http(s) URL of printable ASCII characters without spaces' });
      ok = false;
    } else if (verify === false && hostOf(url) === null) {
      problems.push({ path: `${at}/url`, message: 'has no host to trust (verify_ssl is false)' });
      ok = false;
    }
    if (verify !== undefined && typeof verify !== 'boolean') {
      problems.push({ path: `${at}/verify_ssl`, message: 'must be a boolean' });
      ok = false;
    }
    if (ok && sources.some((s) => s.name === name)) {
      problems.push({ path: `${at}/name`, message: `names a source twice (${String(name)})` });
      ok = false;
    }
    if (ok) sources.push({ name: name as string, url: url as string, verifySsl: verify !== false });
  });
  return sources;
}

/** host[:port] of an index URL, for --trusted-host; null when the URL does not parse. */
function hostOf(url: string): string | null {
  try {
    const host = new URL(url).host;
    return /^[!-~]+$/.test(host) ? host : null;
  } catch {
    return null;
  }
}

function checkExtras(raw: unknown, path: string, problems: Problem[]): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((e) => typeof e !== 'string' || !EXTRA.test(e))) {
    problems.push({ path, message: `must be an array of extra names matching ${EXTRA.source}` });
    return [];
  }
  return [...new Set(raw as string[])].sort(compareCodePoints);
}

function checkMarkers(raw: unknown, path: string, problems: Problem[]): string | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !MARKERS.test(raw) || raw.split(/\s+/).some((token) => token.startsWith('-'))) {
    problems.push({ path, message: 'must be a PEP 508 marker expression (ASCII letters, digits, quotes and operators; no token starting with "-")' });
    return null;
  }
  const markers = raw.trim().replace(/\s+/g, ' ');
  return markers === '' ? null : markers;
}

function checkIndex(raw: unknown, path: string, sources: ReadonlyArray<Source>, problems: Problem[]): string | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !SOURCE_NAME.test(raw)) {
    problems.push({ path, message: `must be a source name matching ${SOURCE_NAME.source}` });
    return null;
  }
  if (!sources.some((s) => s.name === raw)) {
    problems.push({ path, message: `names no source (${sources.map((s) => s.name).join(', ') || 'none defined'})` });
    return null;
  }
  return raw;
}

function checkUnpinnable(info: Record<string, unknown>, path: string, problems: Problem[], why: string): boolean {
  const found = UNPINNABLE_KEYS.find((k) => k in info);
  if (found === undefined) return false;
  problems.push({ path: `${path}/${found}`, message: why });
  return true;
}

function requirementLine(name: string, extras: ReadonlyArray<string>, version: string, markers: string | null): string {
  return `${name}${extras.length > 0 ? `[${extras.join(',')}]` : ''}${version}${markers ? `; ${markers}` : ''}`;
}

/**
 * The `default` section of a Pipfile.lock as requirement files, installed the way
 * `micropipenv install` installs a lock (one `pip install --no-deps` per package, each checked
 * against the hashes it carries):
 * - entries with hashes (an exact `==` version, or an archive URL) go to hash-pinned files, for
 *   `pip install --require-hashes --no-deps -r <file>`: a tampered artifact fails the build;
 * - entries without hashes, VCS (git) entries, and local paths go to files of their own, for
 *   `pip install --no-deps -r <file>` (nothing to check them against; the build log says so).
 * `develop` is not installed (as `micropipenv install` without --dev). Entries are sorted by name,
 * hashes sorted and de-duplicated, so equal locks give equal files.
 */
export function lockToRequirements(lock: PipfileLock, pointer = '/python/requirements_locked'): RequirementsFile[] {
  const problems: Problem[] = [];
  const meta: unknown = (lock as { _meta?: unknown })._meta;
  const sources = readSources(isPlainObject(meta) ? meta.sources : undefined, `${pointer}/_meta/sources`, problems);
  const hashed: Entry[] = [];
  const unhashed: Entry[] = [];
  const section: unknown = lock.default;
  if (!isPlainObject(section)) {
    problems.push({ path: `${pointer}/default`, message: 'must be an object of locked packages' });
  } else {
    for (const [name, info] of Object.entries(section)) {
      const at = `${pointer}/default/${pointerToken(name)}`;
      if (!PACKAGE_NAME.test(name)) {
        problems.push({ path: at, message: `is not a package name matching ${PACKAGE_NAME.source}` });
        continue;
      }
      if (!isPlainObject(info)) {
        problems.push({ path: at, message: 'must be an object with version and hashes' });
        continue;
      }
      const index = checkIndex(info.index, `${at}/index`, sources, problems);
      const hashes = checkHashes(info.hashes, `${at}/hashes`, problems);
      const direct = directRequirement(name, info, at, problems);
      if (direct === null || hashes === null) continue;
      if (direct !== undefined) {
        // git and path entries cannot be hash-checked (micropipenv writes no hashes for them).
        const checkable = 'file' in info && hashes.length > 0;
        (checkable ? hashed : unhashed).push({ name, requirement: direct, hashes: checkable ? hashes : [], index });
        continue;
      }
      const { version } = info;
      const exact = typeof version === 'string' && PINNED_VERSION.test(version);
      if (!(exact || (version === '*' && hashes.length === 0))) {
        problems.push({
          path: `${at}/version`,
          message: version === undefined ? 'is required: a locked package needs an exact ==version' : hashes.length > 0 ? 'must be an exact ==version without wildcards' : 'must be an exact ==version without wildcards, or "*"',
        });
      }
      const extras = checkExtras(info.extras, `${at}/extras`, problems);
      const markers = checkMarkers(info.markers, `${at}/markers`, problems);
      if (!(exact || version === '*')) continue;
      const entry = { name, requirement: requirementLine(name, extras, exact ? (version as string) : '', markers), hashes, index };
      (hashes.length > 0 ? hashed : unhashed).push(entry);
    }
  }
  if (problems.length > 0) throw new SpecificationError('the Pipfile.lock cannot be installed', problems);
  return [
    ...groupFiles(hashed, sources, 'Generated by Amun from Pipfile.lock (default section): install with pip install --require-hashes --no-deps -r', true),
    ...groupFiles(unhashed, sources, 'Generated by Amun from Pipfile.lock (default section, entries without hashes): install with pip install --no-deps -r', false),
  ];
}

/** An entry's hashes: [] when it has none, null (with a problem) when they are not sha256 digests. */
function checkHashes(raw: unknown, path: string, problems: Problem[]): string[] | null {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((h) => typeof h !== 'string' || !HASH.test(h))) {
    problems.push({ path, message: `must be hashes matching ${HASH.source}` });
    return null;
  }
  return [...new Set(raw as string[])].sort(compareCodePoints);
}

/**
 * A Pipfile without a lock as requirement files for a resolving `pip install -r`: its `packages`
 * (not `dev-packages`) with their version specifiers, extras and markers. Entries that need more
 * than an index (VCS, paths, URLs, platform keys) are refused: lock the Pipfile, or use pipenv.
 */
export function pipfileToRequirements(pipfile: Pipfile, pointer = '/python/requirements'): RequirementsFile[] {
  const problems: Problem[] = [];
  const sources = readSources(pipfile.source, `${pointer}/source`, problems);
  const entries: Entry[] = [];
  const packages: unknown = pipfile.packages;
  if (packages !== undefined && !isPlainObject(packages)) {
    problems.push({ path: `${pointer}/packages`, message: 'must be an object of packages' });
  } else {
    for (const [name, info] of Object.entries(packages ?? {})) {
      const at = `${pointer}/packages/${pointerToken(name)}`;
      if (!PACKAGE_NAME.test(name)) {
        problems.push({ path: at, message: `is not a package name matching ${PACKAGE_NAME.source}` });
        continue;
      }
      let version: unknown;
      let extras: string[] = [];
      let markers: string | null = null;
      let index: string | null = null;
      let versionAt = at;
      if (typeof info === 'string') {
        version = info;
      } else if (isPlainObject(info)) {
        if (checkUnpinnable(info, at, problems, 'is not supported without a Pipfile.lock: lock the Pipfile or use package_manager pipenv')) continue;
        const unknown = Object.keys(info).filter((k) => !['version', 'extras', 'markers', 'index'].includes(k));
        if (unknown.length > 0) {
          problems.push({ path: `${at}/${pointerToken(unknown[0] ?? '')}`, message: 'is not supported without a Pipfile.lock (only version, extras, markers, index): lock the Pipfile or use package_manager pipenv' });
          continue;
        }
        version = info.version ?? '*';
        versionAt = `${at}/version`;
        extras = checkExtras(info.extras, `${at}/extras`, problems);
        markers = checkMarkers(info.markers, `${at}/markers`, problems);
        index = checkIndex(info.index, `${at}/index`, sources, problems);
      } else {
        problems.push({ path: at, message: 'must be a version specifier or an object' });
        continue;
      }
      if (typeof version !== 'string' || !VERSION_SPEC.test(version)) {
        problems.push({ path: versionAt, message: 'must be "*" or a version specifier set such as ">=1.0,<2"' });
        continue;
      }
      const spec = version.trim() === '*' ? '' : version.replace(/\s+/g, '');
      entries.push({ name, requirement: requirementLine(name, extras, spec, markers), hashes: [], index });
    }
  }
  if (problems.length > 0) throw new SpecificationError('the Pipfile cannot be installed without a lock', problems);
  return groupFiles(entries, sources, 'Generated by Amun from Pipfile (packages, no lock): install with pip install -r', false);
}

function indexLines(sources: ReadonlyArray<Source>): string {
  let text = '';
  sources.forEach((source, i) => {
    text += `${i === 0 ? '--index-url' : '--extra-index-url'} ${source.url}\n`;
    if (!source.verifySsl) text += `--trusted-host ${hostOf(source.url) ?? ''}\n`;
  });
  return text;
}

function groupFiles(entries: Entry[], sources: ReadonlyArray<Source>, header: string, hashed: boolean): RequirementsFile[] {
  const sorted = [...entries].sort((a, b) => compareCodePoints(a.name, b.name));
  const groups: Array<{ index: string | null; sources: Source[] }> = [];
  if (sorted.some((e) => e.index === null)) groups.push({ index: null, sources: [...sources] });
  for (const source of sources) {
    if (sorted.some((e) => e.index === source.name)) groups.push({ index: source.name, sources: [source] });
  }
  return groups.map(({ index, sources: groupSources }) => {
    let text = `# ${header}\n# index: ${index ?? (sources.length > 0 ? 'all sources' : 'pip default')}\n`;
    text += indexLines(groupSources);
    for (const entry of sorted.filter((e) => e.index === index)) {
      text += entry.requirement;
      for (const hash of entry.hashes) text += ` \\\n    --hash=${hash}`;
      text += '\n';
    }
    return { index, hashed, text };
  });
}
