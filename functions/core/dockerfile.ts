/**
 * The Dockerfile and build context of an inspection: a pure function of the (validated,
 * normalized) specification and the run harness.
 *
 * Injection is impossible by construction, not by escaping content:
 * - No user text is ever pasted into a RUN line. Files, the script, the Pipfile and its lock,
 *   package lists and requirement files travel as files of the build context (under `amun/`) and
 *   are copied with COPY in its JSON form; RUN lines are constant text that names only our paths.
 * - What does reach the Dockerfile is checked here again, whatever the schema says: the base
 *   image reference and the COPY destinations against strict patterns (no quote, space, `$`,
 *   backslash or control character can pass), environment names against `^[A-Za-z_][A-Za-z0-9_]*$`,
 *   and environment values are written double-quoted with `\`, `"` and `$` escaped (the only
 *   characters BuildKit's double-quote lexer interprets), after refusing every control character
 *   but tab. Every instruction is one line; there are no line continuations.
 *
 * Layers go from the least to the most often changing, for the build cache: base and
 * environment, native packages, files, the Python stack, then the harness and the script. Files
 * come before the Python stack, as in the original (its dockerfile.py create_dockerfile wrote them
 * before the Pipfile install), so a user's pip configuration (/etc/pip.conf, $HOME/.config/pip/pip.conf,
 * a PIP_CONFIG_FILE named in environment) applies to every pip install of the build.
 *
 * Context layout (image path in brackets):
 *   amun/build/native/install-packages.sh, packages.txt   [/opt/amun/build/native/]
 *   amun/files/<n>                                        [spec.files[n].path; relative: under /home/amun]
 *   amun/build/constraints.txt                            [/opt/amun/build/constraints.txt]
 *   amun/python-packages.txt                              [/opt/amun/build/python-packages.txt]
 *   amun/Pipfile, amun/Pipfile.lock                       [/home/amun/]
 *   amun/build/python/install-python.sh, requirements-lock-NNN.txt |
 *     requirements-nohash-NNN.txt | requirements-pipfile-NNN.txt  [/opt/amun/build/python/]
 *   amun/harness/<path>                                   [/opt/amun/harness/<path>]
 *   amun/script (mode 0755)                               [/home/amun/script]
 *   amun/build/run-user.sh                                [/opt/amun/build/run-user.sh]
 *
 * The runs' user, uid 1042, has an account in the image (run-user.sh adds it to /etc/passwd and
 * /etc/group as the last build step) and HOME=/home/amun, which it owns: the runtime's HOME,
 * getpwuid() and `~/.cache` (pip, matplotlib, torch hub) agree under every executor, and under an
 * arbitrary UID (OpenShift) the ENV HOME and group 0 keep /home/amun writable.
 */
import { createHash } from 'node:crypto';
import { SpecificationError, type Problem } from './errors.js';
import type { InspectionSpecification } from './generated/types.js';
import type { ContextFile } from './ports.js';
import { lockOf, pythonStack } from './specification.js';
import {
  hasLoneSurrogate,
  lockToRequirements,
  pipfileLockToJson,
  pipfileToRequirements,
  pipfileToToml,
  type RequirementsFile,
} from './pipfile.js';

export interface GeneratedBuild {
  dockerfile: string;
  context: ContextFile[];
  /** sha256 (hex) of the Dockerfile and every context file: equal stacks have equal digests. */
  stackDigest: string;
}

/** Where things live in the image. */
export const IMAGE_PATHS = {
  home: '/home/amun',
  venv: '/home/amun/venv',
  script: '/home/amun/script',
  output: '/home/amun/output',
  harness: '/opt/amun/harness',
  entrypoint: '/opt/amun/harness/entrypoint.py',
  build: '/opt/amun/build',
} as const;

/**
 * How the executors start the harness in an image: `-I -S`, since the harness is standard library
 * only and the site, user site and PYTHON* variables are the script's business (it runs with the
 * stack's interpreter, site and environment as they are); skipping them takes about half of the
 * interpreter's start-up off every run. The image's ENTRYPOINT keeps the plain form of images
 * built before, so that a stack digest, and the reuse of every image built, does not change with it.
 */
export const HARNESS_COMMAND: ReadonlyArray<string> = ['python3', '-I', '-S', IMAGE_PATHS.entrypoint];

/** Where things live in the build context. */
export const CONTEXT_PATHS = {
  nativeDir: 'amun/build/native/',
  installPackages: 'amun/build/native/install-packages.sh',
  packageList: 'amun/build/native/packages.txt',
  pythonPackages: 'amun/python-packages.txt',
  /** pip constraints (python.constraints), honoured by every pip install through PIP_CONSTRAINT. */
  constraints: 'amun/build/constraints.txt',
  pipfile: 'amun/Pipfile',
  pipfileLock: 'amun/Pipfile.lock',
  pythonDir: 'amun/build/python/',
  installPython: 'amun/build/python/install-python.sh',
  /** Hash-pinned requirement files from the lock: `<prefix>NNN.txt`, one per index group. */
  lockRequirementsPrefix: 'amun/build/python/requirements-lock-',
  /** Lock entries without hashes (or VCS, path): `<prefix>NNN.txt`, installed with --no-deps only. */
  unhashedRequirementsPrefix: 'amun/build/python/requirements-nohash-',
  /** Requirement files from a Pipfile without a lock (micropipenv only): `<prefix>NNN.txt`. */
  pipfileRequirementsPrefix: 'amun/build/python/requirements-pipfile-',
  filesDir: 'amun/files/',
  harnessDir: 'amun/harness/',
  script: 'amun/script',
  runUser: 'amun/build/run-user.sh',
} as const;

/** The generator's own scripts: constant text, the same in every inspection of a version. */
const UNCHANGING_SCRIPTS: ReadonlySet<string> = new Set([CONTEXT_PATHS.installPackages, CONTEXT_PATHS.installPython, CONTEXT_PATHS.runUser]);

/**
 * Whether a context file is one every inspection of a version shares: the harness and the
 * generator's own scripts (never anything from the specification). Such files are stored once,
 * named by their digest (core/context.ts), not copied into each inspection's context.
 */
export function isUnchangingContextPath(path: string): boolean {
  return path.startsWith(CONTEXT_PATHS.harnessDir) || UNCHANGING_SCRIPTS.has(path);
}

/** Where the constraints file is in the image (PIP_CONSTRAINT names it). */
export const CONSTRAINTS_PATH = '/opt/amun/build/constraints.txt';

/**
 * Where a file of `files[]` lands in the image: an absolute path as given, a relative one under
 * the working directory /home/amun (where the script runs).
 */
export function imagePath(path: string): string {
  return path.startsWith('/') ? path : `${IMAGE_PATHS.home}/${path}`;
}

/** The unprivileged user the runs use (group 0, as OpenShift's arbitrary UIDs expect). */
export const RUN_USER = 1042;
/** Its name in the image's /etc/passwd (and of its group, gid RUN_USER). */
export const RUN_USER_NAME = 'amun';

const HEADER = "# Generated by Amun's Dockerfile generator from an inspection specification.\n# User content travels in the build context under amun/ and is copied, never pasted into RUN lines.\n";

/**
 * Installs native packages with the package manager the base image has. Package names come from
 * a list file (one per line) and are passed as separate arguments: never evaluated by a shell.
 */
export const INSTALL_PACKAGES_SH = `#!/bin/sh
# Generated by Amun: installs native packages with the image's package manager.
# Usage: install-packages.sh [--update] PACKAGE_LIST_FILE
# dnf, yum, microdnf or apt-get, detected in this order; exits 1 when none exists.
set -eu

update=no
if [ "\${1:-}" = "--update" ]; then
  update=yes
  shift
fi
list="\${1:-}"

set --
if [ -n "$list" ]; then
  while IFS= read -r pkg || [ -n "$pkg" ]; do
    if [ -n "$pkg" ]; then
      set -- "$@" "$pkg"
    fi
  done < "$list"
fi

if command -v dnf >/dev/null 2>&1; then
  if [ "$update" = yes ]; then dnf -y upgrade; fi
  if [ "$#" -gt 0 ]; then dnf -y install "$@"; fi
  dnf clean all
elif command -v yum >/dev/null 2>&1; then
  if [ "$update" = yes ]; then yum -y update; fi
  # yum exits 0 for unknown names unless told otherwise.
  if [ "$#" -gt 0 ]; then yum -y --setopt=skip_missing_names_on_install=False install "$@"; fi
  yum clean all
elif command -v microdnf >/dev/null 2>&1; then
  if [ "$update" = yes ]; then microdnf -y update; fi
  if [ "$#" -gt 0 ]; then microdnf -y install "$@"; fi
  microdnf clean all
elif command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  if [ "$update" = yes ]; then apt-get -y upgrade; fi
  if [ "$#" -gt 0 ]; then apt-get install -y --no-install-recommends "$@"; fi
  rm -rf /var/lib/apt/lists/*
else
  echo "amun: the base image has no supported package manager (dnf, yum, microdnf or apt-get)" >&2
  exit 1
fi
`;

/**
 * Installs the Pipfile / Pipfile.lock stack into the venv the harness runs the script with.
 * Arguments are constant words chosen by the generator.
 */
export const INSTALL_PYTHON_SH = `#!/bin/sh
# Generated by Amun: installs the Python stack into the virtual environment /home/amun/venv.
# Usage: install-python.sh micropipenv|pipenv lock|pipfile upgrade-pip|keep-pip
# Run in /home/amun, where Pipfile (and Pipfile.lock) are.
#
# micropipenv + lock: \`micropipenv install --deploy\` when micropipenv is in the image; otherwise
#   the lock is installed as micropipenv would install it: entries with hashes from the
#   hash-pinned requirement files generated from it (requirements-lock-*.txt, one per index group)
#   with \`pip install --require-hashes --no-deps\`, so a tampered artifact fails the build; then
#   entries without hashes, VCS (git) and path entries (requirements-nohash-*.txt) with
#   \`pip install --no-deps\`: nothing to check those against.
#   (The --deploy checks of the Pipfile hash and Python version are micropipenv's own.)
# micropipenv + pipfile: micropipenv installs only from a lock file, so without one the Pipfile's
#   packages (requirements-pipfile-*.txt, generated from it) are resolved and installed by pip.
#   Such a stack is not reproducible: send a Pipfile.lock to pin it.
# pipenv: \`pipenv install --deploy\` (or \`pipenv install\` without a lock) into the venv; pipenv
#   is installed into its own venv (/opt/amun/pipenv) first when the image lacks it.
set -eu

manager="$1"
mode="$2"
pip_mode="$3"
venv=/home/amun/venv
here=/opt/amun/build/python

cd /home/amun
python3 -m venv "$venv"
if [ "$pip_mode" = upgrade-pip ]; then
  "$venv/bin/python3" -m pip install --disable-pip-version-check --upgrade pip
fi

case "$manager" in
micropipenv)
  if [ "$mode" = lock ] && command -v micropipenv >/dev/null 2>&1; then
    echo "amun: installing Pipfile.lock with micropipenv install --deploy"
    PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" MICROPIPENV_PIP_BIN="$venv/bin/pip" micropipenv install --deploy
  elif [ "$mode" = lock ]; then
    echo "amun: micropipenv is not in the image; installing the hash-pinned requirements generated from Pipfile.lock"
    for requirements in "$here"/requirements-lock-*.txt; do
      [ -e "$requirements" ] || continue
      "$venv/bin/python3" -m pip install --disable-pip-version-check --require-hashes --no-deps -r "$requirements"
    done
    for requirements in "$here"/requirements-nohash-*.txt; do
      [ -e "$requirements" ] || continue
      echo "amun: installing Pipfile.lock entries that carry no hashes (not hash-checked): $requirements"
      "$venv/bin/python3" -m pip install --disable-pip-version-check --no-deps -r "$requirements"
    done
  else
    echo "amun: no Pipfile.lock; installing the Pipfile's packages with pip (resolved now, not pinned)"
    for requirements in "$here"/requirements-pipfile-*.txt; do
      [ -e "$requirements" ] || continue
      "$venv/bin/python3" -m pip install --disable-pip-version-check -r "$requirements"
    done
  fi
  ;;
pipenv)
  if command -v pipenv >/dev/null 2>&1; then
    pipenv=pipenv
  else
    echo "amun: pipenv is not in the image; installing it into /opt/amun/pipenv"
    python3 -m venv /opt/amun/pipenv
    # pipenv is Amun's tool, not part of the stack: the stack's constraints do not apply to it.
    env -u PIP_CONSTRAINT /opt/amun/pipenv/bin/python3 -m pip install --disable-pip-version-check pipenv
    pipenv=/opt/amun/pipenv/bin/pipenv
  fi
  if [ "$mode" = lock ]; then
    PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" PIPENV_IGNORE_VIRTUALENVS=0 PIPENV_YES=1 "$pipenv" install --deploy
  else
    PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" PIPENV_IGNORE_VIRTUALENVS=0 PIPENV_YES=1 "$pipenv" install
  fi
  ;;
*)
  echo "amun: unknown Python package manager: $manager" >&2
  exit 1
  ;;
esac

# The run user's, in this layer: changing owners in a later one would store the venv twice.
chown -R ${RUN_USER}:0 "$venv"
chmod -R g=u "$venv"
`;

/**
 * Gives the run user an account: the passwd entry `amun:x:1042:0:Amun run user:/home/amun:/bin/sh`
 * (primary group 0, as the files of /home/amun are 1042:0 with group = user) and a group amun,
 * gid 1042. Without it the runtime sets HOME=/ for uid 1042 and getpwuid() raises KeyError, so
 * nothing can write `~/.cache`. Plain POSIX sh with no other tool (the base image may lack
 * useradd, awk and grep); the argument names the directory of passwd and group, for the tests.
 */
export const RUN_USER_SH = `#!/bin/sh
# Generated by Amun: gives the run user (uid ${RUN_USER}) an account whose home is ${IMAGE_PATHS.home}.
# Usage: run-user.sh [ETC_DIR]   (default /etc)
# passwd: ${RUN_USER_NAME}:x:${RUN_USER}:0:Amun run user:${IMAGE_PATHS.home}:/bin/sh, replacing any entry of the base
#   image for uid ${RUN_USER} or the name ${RUN_USER_NAME} (each one replaced is named in the build log).
# group: ${RUN_USER_NAME}, gid ${RUN_USER}, unless the image has a group of that name or gid already.
# No other line changes; both files are rewritten in place (owner, mode and SELinux label kept).
set -eu

etc="\${1:-/etc}"
uid=${RUN_USER}
name=${RUN_USER_NAME}
home=${IMAGE_PATHS.home}
next="$etc/.amun-run-user.new"

[ -e "$etc/passwd" ] || : > "$etc/passwd"
[ -e "$etc/group" ] || : > "$etc/group"

# passwd: every line but those of the name or the uid, then ours.
: > "$next"
while IFS= read -r line || [ -n "$line" ]; do
  entry_name="\${line%%:*}"
  rest="\${line#*:}"
  rest="\${rest#*:}"
  entry_id="\${rest%%:*}"
  if [ "$entry_name" = "$name" ] || [ "$entry_id" = "$uid" ]; then
    echo "amun: replacing the base image's passwd entry $line"
    continue
  fi
  printf '%s\\n' "$line" >> "$next"
done < "$etc/passwd"
printf '%s:x:%s:0:Amun run user:%s:/bin/sh\\n' "$name" "$uid" "$home" >> "$next"
cat "$next" > "$etc/passwd"

# group: every line as it is, then ours unless its name or gid is taken.
: > "$next"
taken=no
while IFS= read -r line || [ -n "$line" ]; do
  entry_name="\${line%%:*}"
  rest="\${line#*:}"
  rest="\${rest#*:}"
  entry_id="\${rest%%:*}"
  if [ "$entry_name" = "$name" ] || [ "$entry_id" = "$uid" ]; then taken=yes; fi
  printf '%s\\n' "$line" >> "$next"
done < "$etc/group"
if [ "$taken" = no ]; then printf '%s:x:%s:\\n' "$name" "$uid" >> "$next"; fi
cat "$next" > "$etc/group"
rm -f "$next"
`;

// Defence in depth: the schema's patterns, checked again (or tighter) where text reaches the Dockerfile.
const BASE_IMAGE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Control characters other than tab; the schema refuses them too. */
const ENV_VALUE_FORBIDDEN = /[\u0000-\u0008\u000a-\u001f\u007f]/;
/** Absolute, or relative to /home/amun: plain segments, never '.' or '..'. */
const FILE_PATH = /^\/?(?!\.\.?(?:\/|$))[A-Za-z0-9._@+=,-]+(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._@+=,-]+)*$/;
const NATIVE_PACKAGE = /^[A-Za-z0-9][A-Za-z0-9+._:~=-]*$/;
const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const SPEC_ONE = '(?:===|==|!=|<=|>=|~=|<|>) *[A-Za-z0-9.*+!_-]+';
const SPECS = `${SPEC_ONE}(?: *, *${SPEC_ONE})*`;
const VERSIONS = `(?:${SPECS}|\\( *${SPECS} *\\))`;
/** Markers: no token may start with '-' (pip would read it as an option), no '$', '#' or '\\'. */
const MARKERS = ` *; *(?!-)(?:[A-Za-z0-9_.'"<>=!~()*,-]| (?!-))*`;
/**
 * PEP 508 on one line, as the schema's pythonRequirement: name, extras, versions or `@ URL`,
 * markers. Only space separates tokens: nothing can end the line for Python's splitlines().
 */
const PYTHON_REQUIREMENT = new RegExp(
  `^${NAME}(?: *\\[ *${NAME}(?: *, *${NAME})* *\\])?(?: *${VERSIONS}| *@ *(?:https?|git\\+https?|git\\+ssh):\\/\\/[A-Za-z0-9._~:/?#\\[\\]@!&'()*+,;=%-]+(?= |$))?(?:${MARKERS})?$`,
);
/** A pip constraint, as the schema's pythonConstraint: name, versions, markers. */
const PYTHON_CONSTRAINT = new RegExp(`^${NAME}(?: *${VERSIONS})?(?:${MARKERS})?$`);
/** Harness paths are ours, not the caller's: relative, plain segments only. */
const HARNESS_PATH = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

/** A Dockerfile double-quoted string: BuildKit interprets only `\`, `"` and `$` inside one. */
export function quoteEnvValue(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** The JSON (exec) form of COPY/ENTRYPOINT arguments. */
function jsonForm(args: ReadonlyArray<string>): string {
  return `[${args.map((a) => JSON.stringify(a)).join(', ')}]`;
}

function checkSpecification(spec: InspectionSpecification): Problem[] {
  const problems: Problem[] = [];
  if (typeof spec.base !== 'string' || !BASE_IMAGE.test(spec.base) || spec.base.length > 255) {
    problems.push({ path: '/base', message: 'is not an image reference the Dockerfile can carry' });
  }
  (spec.environment ?? []).forEach(({ name, value }, i) => {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) problems.push({ path: `/environment/${i}/name`, message: `must match ${ENV_NAME.source}` });
    if (typeof value !== 'string' || ENV_VALUE_FORBIDDEN.test(value) || hasLoneSurrogate(value)) {
      problems.push({ path: `/environment/${i}/value`, message: 'must be text without control characters other than tab' });
    }
  });
  (spec.packages ?? []).forEach((name, i) => {
    if (typeof name !== 'string' || !NATIVE_PACKAGE.test(name)) problems.push({ path: `/packages/${i}`, message: `must match ${NATIVE_PACKAGE.source}` });
  });
  (spec.python_packages ?? []).forEach((requirement, i) => {
    if (typeof requirement !== 'string' || requirement.length > 1024 || !PYTHON_REQUIREMENT.test(requirement)) {
      problems.push({ path: `/python_packages/${i}`, message: 'is not a PEP 508 requirement pip can read from one line' });
    }
  });
  const constraints: unknown = spec.python?.constraints;
  if (constraints !== undefined && !Array.isArray(constraints)) problems.push({ path: '/python/constraints', message: 'must be an array of constraints' });
  if (Array.isArray(constraints)) {
    constraints.forEach((constraint: unknown, i) => {
      if (typeof constraint !== 'string' || constraint.length > 1024 || !PYTHON_CONSTRAINT.test(constraint)) {
        problems.push({ path: `/python/constraints/${i}`, message: 'is not a pip constraint (name, version specifiers, markers) on one line' });
      }
    });
  }
  const destinations: Array<string | undefined> = [];
  (spec.files ?? []).forEach(({ path, content }, i) => {
    if (typeof path !== 'string' || !FILE_PATH.test(path) || path.length > 1024) {
      problems.push({ path: `/files/${i}/path`, message: 'must be a path of plain segments, absolute or relative to /home/amun' });
      destinations.push(undefined);
    } else {
      destinations.push(imagePath(path));
    }
    if (typeof content !== 'string' || hasLoneSurrogate(content)) problems.push({ path: `/files/${i}/content`, message: 'must be valid Unicode text' });
  });
  // A file cannot also be a directory of another file (the second COPY would fail, or land inside),
  // whether the two paths were given absolute or relative.
  destinations.forEach((path, i) => {
    if (path === undefined) return;
    const j = destinations.findIndex((other) => other !== undefined && other.startsWith(`${path}/`));
    if (j >= 0) problems.push({ path: `/files/${i}/path`, message: `is a file, but /files/${j}/path (${spec.files?.[j]?.path ?? ''}) puts a file under it` });
  });
  if (spec.script !== undefined && (typeof spec.script !== 'string' || hasLoneSurrogate(spec.script))) {
    problems.push({ path: '/script', message: 'must be valid Unicode text' });
  }
  return problems;
}

/** Runs each step and collects the SpecificationErrors of all of them, so the caller sees every problem. */
function collect<T>(problems: Problem[], step: () => T): T | undefined {
  try {
    return step();
  } catch (error) {
    if (!(error instanceof SpecificationError)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}

export interface GenerateOptions {
  /**
   * The script's text when `spec.script` is a URL: what was fetched from it at submit time. The
   * specification keeps the URL; the build context carries this text as amun/script.
   */
  scriptText?: string;
}

/**
 * The Dockerfile and build context for a validated, normalized specification.
 * Throws a SpecificationError (every problem, JSON Pointer paths) for what the schema cannot
 * express: a Pipfile TOML cannot carry, a lock entry without an exact version, an index name no
 * source defines, and anything unsafe that should not have passed the schema.
 */
export function generateBuild(
  spec: InspectionSpecification,
  harness: ReadonlyArray<{ path: string; content: string }>,
  options: GenerateOptions = {},
): GeneratedBuild {
  for (const file of harness) {
    if (!HARNESS_PATH.test(file.path) || file.path.split('/').includes('..')) throw new Error(`unsafe harness path: ${file.path}`);
  }
  const problems = checkSpecification(spec);

  const context: ContextFile[] = [];
  const add = (path: string, content: string, mode = 0o644): void => {
    context.push({ path, content, mode });
  };
  const lines: string[] = [];
  const emit = (line: string): void => {
    lines.push(line);
  };

  // Base and environment: the build steps below see the user's environment, as in the original.
  emit(`FROM ${spec.base}`);
  emit('USER root');
  for (const { name, value } of spec.environment ?? []) emit(`ENV ${name}=${quoteEnvValue(value)}`);

  // Native packages.
  const packages = spec.packages ?? [];
  if (spec.update === true || packages.length > 0) {
    add(CONTEXT_PATHS.installPackages, INSTALL_PACKAGES_SH, 0o755);
    add(CONTEXT_PATHS.packageList, packages.map((p) => `${p}\n`).join(''));
    emit(`COPY ${jsonForm([CONTEXT_PATHS.nativeDir, `${IMAGE_PATHS.build}/native/`])}`);
    emit(`RUN sh ${IMAGE_PATHS.build}/native/install-packages.sh${spec.update === true ? ' --update' : ''} ${IMAGE_PATHS.build}/native/packages.txt`);
  }

  // Files, each copied to its path (one COPY each: a later file with the same path wins), before
  // the Python stack: the original's order, so a user's pip configuration applies to its install.
  // (Nothing is emitted from a specification with problems: it is refused below.)
  if (problems.length === 0) {
    (spec.files ?? []).forEach(({ path, content }, i) => {
      const source = `${CONTEXT_PATHS.filesDir}${i}`;
      add(source, content);
      emit(`COPY ${jsonForm([source, imagePath(path)])}`);
    });
  }

  // The Python stack. python_packages go to the image's python3 (as the original's `pip3 install`),
  // before the Pipfile stack, so they can bring tools such as micropipenv; the Pipfile stack goes
  // to the venv. PIP_BREAK_SYSTEM_PACKAGES lets pip install into a distribution's Python (PEP 668);
  // pip versions that do not know it ignore it. python.constraints reach every pip install as
  // PIP_CONSTRAINT (pip reads it from the environment; so do micropipenv's and pipenv's pip runs).
  const pythonPackages = spec.python_packages ?? [];
  const python = pythonStack(spec);
  const constraints = Array.isArray(spec.python?.constraints) ? spec.python.constraints : [];
  const pipEnv = constraints.length > 0 ? `PIP_CONSTRAINT=${CONSTRAINTS_PATH} ` : '';
  const installsPython = spec.upgrade_pip === true || pythonPackages.length > 0 || python !== undefined;
  if (constraints.length > 0 && installsPython) {
    add(CONTEXT_PATHS.constraints, constraints.map((c) => `${c}\n`).join(''));
    emit(`COPY ${jsonForm([CONTEXT_PATHS.constraints, CONSTRAINTS_PATH])}`);
  }
  if (spec.upgrade_pip === true && (python === undefined || pythonPackages.length > 0)) {
    emit(`RUN ${pipEnv}PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --upgrade pip`);
  }
  if (pythonPackages.length > 0) {
    add(CONTEXT_PATHS.pythonPackages, pythonPackages.map((p) => `${p}\n`).join(''));
    emit(`COPY ${jsonForm([CONTEXT_PATHS.pythonPackages, `${IMAGE_PATHS.build}/python-packages.txt`])}`);
    emit(`RUN ${pipEnv}PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r ${IMAGE_PATHS.build}/python-packages.txt`);
  }
  if (python !== undefined) {
    const manager = spec.package_manager ?? 'micropipenv';
    const lock = lockOf(python);
    const pipfile = collect(problems, () => pipfileToToml(python.requirements));
    if (pipfile !== undefined) add(CONTEXT_PATHS.pipfile, pipfile);
    let requirementFiles: RequirementsFile[] = [];
    if (lock !== undefined) {
      add(CONTEXT_PATHS.pipfileLock, pipfileLockToJson(lock));
      if (manager === 'micropipenv') requirementFiles = collect(problems, () => lockToRequirements(lock)) ?? [];
    } else if (manager === 'micropipenv') {
      requirementFiles = collect(problems, () => pipfileToRequirements(python.requirements)) ?? [];
    }
    const prefixOf = (file: RequirementsFile): string =>
      lock === undefined ? CONTEXT_PATHS.pipfileRequirementsPrefix : file.hashed ? CONTEXT_PATHS.lockRequirementsPrefix : CONTEXT_PATHS.unhashedRequirementsPrefix;
    const width = Math.max(3, String(requirementFiles.length).length);
    const numbered = new Map<string, number>();
    for (const file of requirementFiles) {
      const prefix = prefixOf(file);
      const n = numbered.get(prefix) ?? 0;
      numbered.set(prefix, n + 1);
      add(`${prefix}${String(n).padStart(width, '0')}.txt`, file.text);
    }
    add(CONTEXT_PATHS.installPython, INSTALL_PYTHON_SH, 0o755);
    const pipfiles = lock !== undefined ? [CONTEXT_PATHS.pipfile, CONTEXT_PATHS.pipfileLock] : [CONTEXT_PATHS.pipfile];
    emit(`COPY ${jsonForm([...pipfiles, `${IMAGE_PATHS.home}/`])}`);
    emit(`COPY ${jsonForm([CONTEXT_PATHS.pythonDir, `${IMAGE_PATHS.build}/python/`])}`);
    emit(
      `RUN ${pipEnv}sh ${IMAGE_PATHS.build}/python/install-python.sh ${manager === 'pipenv' ? 'pipenv' : 'micropipenv'} ${lock !== undefined ? 'lock' : 'pipfile'} ${spec.upgrade_pip === true ? 'upgrade-pip' : 'keep-pip'}`,
    );
  }

  if (problems.length > 0) throw new SpecificationError('the specification cannot be built', problems);

  // The harness, then the script: the parts that change most often come last.
  if (harness.length > 0) {
    for (const file of harness) add(`${CONTEXT_PATHS.harnessDir}${file.path}`, file.content);
    emit(`COPY ${jsonForm([CONTEXT_PATHS.harnessDir, `${IMAGE_PATHS.harness}/`])}`);
    // Byte-compiled now, since the run user cannot write __pycache__ there: saves every run the
    // compile. Only a speed-up: an image without python3 still builds (its runs say no_python).
    emit(`RUN python3 -m compileall -q ${IMAGE_PATHS.harness} >/dev/null 2>&1 || true`);
  }
  if (spec.script !== undefined) {
    const text = options.scriptText ?? spec.script;
    if (hasLoneSurrogate(text)) throw new SpecificationError('the specification cannot be built', [{ path: '/script', message: 'the fetched script is not valid Unicode text' }]);
    add(CONTEXT_PATHS.script, text, 0o755);
    emit(`COPY ${jsonForm([CONTEXT_PATHS.script, IMAGE_PATHS.script])}`);
    // The mode travels with the context file too; this holds when a builder drops it.
    emit(`RUN chmod 0755 ${IMAGE_PATHS.script}`);
  }
  // HOME explicitly too: it overrides a HOME the base image sets (/root, say) and holds for a UID
  // without an entry (OpenShift's arbitrary UIDs); a HOME the specification sets is left alone.
  const home = (spec.environment ?? []).some(({ name }) => name === 'HOME') ? '' : ` HOME=${IMAGE_PATHS.home}`;
  emit(`ENV AMUN_SCRIPT=${IMAGE_PATHS.script} AMUN_OUTPUT_DIR=${IMAGE_PATHS.output} AMUN_VENV=${IMAGE_PATHS.venv}${home}`);
  add(CONTEXT_PATHS.runUser, RUN_USER_SH, 0o755);
  emit(`COPY ${jsonForm([CONTEXT_PATHS.runUser, `${IMAGE_PATHS.build}/run-user.sh`])}`);
  // Everything under the home but the venv, whose install step gave it to the run user already: a
  // chown of it here would copy every file of the venv into this layer (and push it again with
  // each new script, which comes before this line).
  const notVenv = `find ${IMAGE_PATHS.home} -path ${IMAGE_PATHS.venv} -prune -o`;
  emit(`RUN sh ${IMAGE_PATHS.build}/run-user.sh && mkdir -p ${IMAGE_PATHS.output} && ${notVenv} -exec chown ${RUN_USER}:0 {} + && ${notVenv} -exec chmod g=u {} +`);
  emit(`USER ${RUN_USER}`);
  emit(`WORKDIR ${IMAGE_PATHS.home}`);
  // Run by hand (`podman run IMAGE`); the executors start the harness with HARNESS_COMMAND.
  emit(`ENTRYPOINT ${jsonForm(['python3', IMAGE_PATHS.entrypoint])}`);

  const dockerfile = `${HEADER}\n${lines.join('\n')}\n`;
  // Belt and braces: one instruction per line, whatever reached us.
  if (lines.some((line) => /[\r\n]/.test(line))) throw new Error('internal error: a Dockerfile instruction spans lines');
  for (const file of context) {
    if (file.path.startsWith('/') || file.path.includes('..') || file.path.includes('\\')) throw new Error(`internal error: unsafe context path ${file.path}`);
  }
  context.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { dockerfile, context, stackDigest: digestBuild(dockerfile, context) };
}

/**
 * sha256 over the Dockerfile and the context files in path order, each file framed with its path,
 * mode and byte length. The framing is the one functions/core/pipeline.ts uses to digest a stored
 * build, so both give the same value for the same stack.
 */
export function digestBuild(dockerfile: string, context: ReadonlyArray<ContextFile>): string {
  const hash = createHash('sha256');
  hash.update(`Dockerfile\0${dockerfile.length}\0`).update(dockerfile);
  const sorted = [...context].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of sorted) {
    const bytes = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : file.content;
    hash.update(`\0${file.path}\0${(file.mode ?? 0o644).toString(8)}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}
