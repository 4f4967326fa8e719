"""Amun run harness: runs one inspection item's script and records what happened.

Runs inside the built image (container and kubernetes executors) and on the host (process
executor), started through entrypoint.py. Standard library only, Python 3.6 and later.

Writes to the output directory:
  log     the script's stdout, then its stderr
  hwinfo  the node's hardware (hwinfo.py), JSON
  result  the run report (schemas/result.json), JSON, written last and atomically: its
          appearance is what triggers indexing

Every process the script starts ends with the run: the harness is the init of a PID namespace
(containers, pods, the process executor where `unshare` works) or a child subreaper (Linux
prctl), so orphans and daemons that left the script's session are re-parented to it, and it
kills whatever is still running once the script has exited or its deadline passed. The report
lists what had to be killed. Without either mechanism it refuses to run the script when asked to
(`--require-containment`) rather than leave processes behind.

Outputs of any size are recorded, never lost: stdout and stderr go to files, and the log and the
report keep the head and the tail of each stream within configurable limits, saying what was left
out (`truncated`, `output_bytes`).

Exits 0 whenever it wrote a result, whatever the script's exit code; non-zero only when no
result could be written at all.

Start-up is part of every run's cost, so the harness imports next to nothing: executors start
it with `python3 -I -S` (no site, no user site, no PYTHON* variables: those are the script's,
which runs with the stack's interpreter and environment as they are) through entrypoint.py, a
launcher, so that this module comes byte-compiled (the image compiles it at build time;
compiling it from source took 12 ms of every run); it reads its options
without argparse unless asked for help, starts the script with os.posix_spawn (Python 3.8 and
later; subprocess before), writes and reads JSON with CPython's C accelerator directly and takes
signals from the C module (json and signal would load re, enum, functools and collections, which
took longer than the rest of the harness), and imports what only rare paths need (subprocess,
traceback, ctypes, argparse) where they need it. Each falls back to the public module.
"""

import os
import sys
import time
import _thread

try:
    import _signal as signal  # the C module: its constants are ints
except ImportError:
    import signal

try:
    from _json import encode_basestring as _json_string, make_scanner as _json_scanner
except ImportError:  # an interpreter without CPython's accelerator: the json module
    _json_string = _json_scanner = None

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

try:
    import hwinfo as _hwinfo
except Exception:  # the report says hwinfo null rather than failing the run
    _hwinfo = None

EXECUTORS = ("process", "container", "kubernetes")
KILL_GRACE_SECONDS = 5.0
LEFTOVER_GRACE_SECONDS = 2.0
SUBPROCESS_TIMEOUT = 10
USAGE_FIELDS = (
    "ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss", "ru_minflt", "ru_majflt",
    "ru_nswap", "ru_inblock", "ru_oublock", "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw",
)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DEFAULT_OUTPUT_LIMIT = 8 * 1024 * 1024
DEFAULT_RESULT_OUTPUT_LIMIT = 1024 * 1024
MAX_KILLED_LISTED = 100
PR_SET_CHILD_SUBREAPER = 36
COPY_CHUNK = 1024 * 1024


class HarnessError(Exception):
    """The harness could not run the script (missing file, exec failure)."""


def _warn(text):
    try:
        sys.stderr.write("amun-harness: %s\n" % text)
        sys.stderr.flush()
    except Exception:
        pass


def _env(*names):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value != "":
            return value
    return None


# The options: (flag, attribute, environment variables, default, help). Each falls back to the
# first of its variables that is set and not empty, then to the default.
OPTIONS = (
    ("--script", "script", ("AMUN_SCRIPT",), "/home/amun/script", None),
    ("--output", "output", ("AMUN_OUTPUT_DIR",), "/home/amun/output", None),
    ("--item", "item", ("AMUN_ITEM", "JOB_COMPLETION_INDEX"), "0", None),
    ("--inspection-id", "inspection_id", ("AMUN_INSPECTION_ID",), None, None),
    ("--executor", "executor", ("AMUN_EXECUTOR_KIND",), "container", None),
    ("--deadline", "deadline", ("AMUN_DEADLINE_SECONDS",), None,
     "seconds the script may run before it is terminated"),
    ("--venv", "venv", ("AMUN_VENV",), "/home/amun/venv", None),
    ("--workdir", "workdir", ("AMUN_WORKDIR",), None,
     "directory the script runs in (default: the script's directory)"),
    ("--output-limit", "output_limit", ("AMUN_OUTPUT_LIMIT_BYTES",), None,
     "bytes of each of stdout and stderr kept in the log (head and tail)"),
    ("--result-output-limit", "result_output_limit", ("AMUN_RESULT_OUTPUT_LIMIT_BYTES",), None,
     "bytes of each of stdout and stderr kept in the report, as encoded JSON"),
    ("--interrupted-exit", "interrupted_exit", ("AMUN_INTERRUPTED_EXIT_CODE",), None,
     "when SIGTERM cuts the run short, record no result and exit with this code, "
     "so that the run is run again (Kubernetes: a drained, preempted or evicted pod)"),
)
REQUIRE_CONTAINMENT = ("--require-containment", "require_containment", ("AMUN_REQUIRE_CONTAINMENT",),
                       "refuse to run the script when its processes cannot be made to end with the run")


class Options(object):
    pass


def _parse_arguments(argv):
    """The options, read from the environment and `--flag value` / `--flag=value` arguments;
    argparse (its help, its errors, its abbreviations) for any other command line."""
    options = Options()
    for _flag, attribute, variables, default, _help in OPTIONS:
        setattr(options, attribute, _env(*variables) or default)
    options.require_containment = _env(*REQUIRE_CONTAINMENT[2]) in ("1", "true")
    valued = dict((flag, attribute) for flag, attribute, _v, _d, _h in OPTIONS)
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, equals, value = arg.partition("=")
        if flag in valued and (equals or i + 1 < len(argv)):
            if not equals:
                i += 1
                value = argv[i]
            setattr(options, valued[flag], value)
        elif arg == REQUIRE_CONTAINMENT[0]:
            options.require_containment = True
        else:
            return _argparse(argv, options)
        i += 1
    return options


def _argparse(argv, defaults):
    import argparse

    parser = argparse.ArgumentParser(description="Run an Amun inspection script and record the result.")
    for flag, attribute, _variables, _default, text in OPTIONS:
        parser.add_argument(flag, dest=attribute, default=getattr(defaults, attribute), help=text)
    flag, attribute, _variables, text = REQUIRE_CONTAINMENT
    parser.add_argument(flag, dest=attribute, action="store_true", default=defaults.require_containment, help=text)
    return parser.parse_args(argv)


def parse_options(argv):
    options = _parse_arguments(argv)

    # Bad values must not cost the run its report: fall back and say so on stderr.
    if options.executor not in EXECUTORS:
        _warn("unknown executor %r, recording 'container'" % options.executor)
        options.executor = "container"
    try:
        options.item = int(options.item)
        if options.item < 0:
            raise ValueError(options.item)
    except Exception:
        _warn("item %r is not a non-negative integer, leaving it out" % (options.item,))
        options.item = None
    if options.deadline is not None:
        try:
            options.deadline = float(options.deadline)
            if options.deadline <= 0:
                options.deadline = None
        except Exception:
            _warn("deadline %r is not a number of seconds, running without one" % (options.deadline,))
            options.deadline = None
    if options.interrupted_exit is not None:
        try:
            options.interrupted_exit = int(options.interrupted_exit)
            if not 1 <= options.interrupted_exit <= 255:
                raise ValueError(options.interrupted_exit)
        except Exception:
            _warn("interrupted exit code %r is not 1-255, recording interrupted runs" % (options.interrupted_exit,))
            options.interrupted_exit = None
    options.output_limit = _limit(options.output_limit, DEFAULT_OUTPUT_LIMIT, "output limit")
    options.result_output_limit = _limit(options.result_output_limit, DEFAULT_RESULT_OUTPUT_LIMIT, "result output limit")
    return options


def _limit(value, default, what):
    if value is None:
        return default
    try:
        limit = int(value)
        if limit < 1024:
            raise ValueError(value)
        return limit
    except Exception:
        _warn("%s %r is not a number of bytes of at least 1024, using %d" % (what, value, default))
        return default


def _utc_now():
    """Now, as seconds since the epoch (the system clock, as datetime.now reads it)."""
    return time.time()


def _original(moment):
    """The original's timestamps: UTC without a zone, microseconds (datetime, start_datetime, end_datetime)."""
    seconds, micro = divmod(int(round(moment * 1e6)), 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%06d" % micro


def _iso(moment):
    return _original(moment) + "Z"


def _sha256_hex(data):
    """hashlib.sha256(data).hexdigest() without loading OpenSSL where the built-in module exists."""
    try:
        from _sha2 import sha256  # Python 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()


def _hostname():
    return os.uname()[1]


def _format_exc():
    import traceback

    return traceback.format_exc()


def _temporary_directories():
    """Where tempfile.mkdtemp would look: TMPDIR, TEMP, TMP, then the usual directories and the cwd."""
    found = []
    for name in ("TMPDIR", "TEMP", "TMP"):
        value = os.environ.get(name)
        if value:
            found.append(value)
    found.extend(("/tmp", "/var/tmp", "/usr/tmp"))
    try:
        found.append(os.getcwd())
    except Exception:
        pass
    return [os.path.abspath(path) for path in found]


def make_scratch(prefix, directories):
    """A new private directory (mode 0700) in the first of `directories` that takes one."""
    error = None
    for directory in directories:
        for _attempt in range(100):
            path = os.path.join(directory, prefix + _random_name())
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
            except OSError as failure:
                error = failure
                break
    raise error or OSError("no directory for scratch files")


def _random_name():
    return os.urandom(6).hex()


def remove_tree(path):
    """Removes a directory and what is in it, ignoring errors (shutil.rmtree(ignore_errors=True))."""
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files + dirs:
            target = os.path.join(root, name)
            try:
                if name in dirs and not os.path.islink(target):
                    os.rmdir(target)
                else:
                    os.unlink(target)
            except Exception:
                pass
    try:
        os.rmdir(path)
    except Exception:
        pass


def _copy(source, target, left=None):
    """Copies from one file object to another in chunks: all of it, or `left` bytes at most."""
    while left is None or left > 0:
        chunk = source.read(COPY_CHUNK if left is None else min(COPY_CHUNK, left))
        if not chunk:
            return
        target.write(chunk)
        if left is not None:
            left -= len(chunk)


def read_os_release():
    """/etc/os-release as a dict with lower-cased keys and unquoted values; None when missing."""
    text = None
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            break
        except Exception:
            continue
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in ("'", '"'):
            quote = value[0]
            value = value[1:-1]
            if quote == '"':
                for escaped in ("\\\\", '\\"', "\\$", "\\`"):
                    value = value.replace(escaped, escaped[1])
        out[key.strip().lower()] = value
    return out


def usage_of_children():
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return dict((name, getattr(usage, name)) for name in USAGE_FIELDS)


def usage_of(rusage):
    """The fields of a struct rusage (from wait4) as the report has them."""
    return dict((name, getattr(rusage, name)) for name in USAGE_FIELDS)


def _exit_code(status):
    """Popen's convention: the exit status, or minus the signal that ended the process."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return None


def zero_usage():
    return dict((name, 0.0 if name in ("ru_utime", "ru_stime") else 0) for name in USAGE_FIELDS)


def python_for(venv):
    candidate = os.path.join(venv, "bin", "python3") if venv else None
    if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate, True
    return sys.executable or "python3", False


def python_version_of(python):
    """'3.11' of the given interpreter; the harness's own when that cannot be learnt."""
    own = "%d.%d" % sys.version_info[:2]
    if not python or os.path.realpath(python) == os.path.realpath(sys.executable or ""):
        return own
    try:
        import subprocess

        proc = subprocess.Popen(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            universal_newlines=True,
        )
        try:
            out, _ = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return own
        version = (out or "").strip()
        if proc.returncode == 0 and version:
            return version
    except Exception:
        pass
    return own


def _shebang_argv(script, first_line):
    """[interpreter, optional argument, script] from a '#!' line, as the kernel splits it."""
    line = first_line[2:].decode("utf-8", "replace").strip()
    if not line:
        raise HarnessError("empty '#!' line in %s" % script)
    parts = line.split(None, 1)
    return parts + [script]


def _is_python_name(word):
    """python, python3 or python3.X (a path to one, too)."""
    name = os.path.basename(word)
    if name == "python" or name == "python3":
        return True
    return name.startswith("python3.") and name[len("python3."):].isdigit()


def _python_shebang(first_line):
    """The interpreter options of a '#!' line that names a Python (python, python3, python3.X,
    directly or through env), as a list; None when it names anything else."""
    words = first_line[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        rest = words[1:]
        if rest and rest[0] in ("-S", "--split-string"):
            rest = rest[1:]
        # env with other options or NAME=VALUE assignments runs as written: PATH finds the venv's
        # python first anyway (child_environment).
        if not rest or rest[0].startswith("-") or "=" in rest[0] or not _is_python_name(rest[0]):
            return None
        return rest[1:]
    if not _is_python_name(words[0]):
        return None
    return words[1:]


def command_for(script, content, python):
    """(argv, description) to run the script with.

    A Python script (no '#!' line, or one naming python, python3 or python3.X, by path or through
    env) runs with the stack's interpreter, `python` (the venv's when there is one), keeping the
    options its '#!' line gives: as the original, which ran every script with the venv's python3.
    A '#!' line naming anything else (bash, perl, python2...) runs the script directly."""
    if content.startswith(b"#!"):
        first_line = content.split(b"\n", 1)[0]
        options = _python_shebang(first_line)
        if options is not None:
            named = first_line[2:].decode("utf-8", "replace").strip()
            return [python] + options + [script], "with %s (its '#!' line names %s)" % (python, named)
        if not os.access(script, os.X_OK):
            try:
                mode = os.stat(script).st_mode
                os.chmod(script, mode | 0o111)
            except Exception:
                pass  # read-only mount: run the interpreter named in the '#!' line instead
        if os.access(script, os.X_OK):
            return [script], "directly"
        return _shebang_argv(script, first_line), "through its '#!' interpreter"
    return [python, script], "with %s" % python


def child_environment(venv, has_venv):
    env = dict(os.environ)
    if has_venv:
        # Scripts and their children that call `python3` or `pip` should find the venv's.
        env["VIRTUAL_ENV"] = venv
        env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", os.defpath)
        env.pop("PYTHONHOME", None)
    return env


def _killpg(pgid, signum):
    try:
        os.killpg(pgid, signum)
        return True
    except Exception:
        return False


# ---------------------------------------------------------------- containment


def setup_containment():
    """How the script's processes are kept below the harness: 'pid_namespace' when the harness is
    the init of a PID namespace (a container, a pod, `unshare --pid`), 'subreaper' when the kernel
    made it a child subreaper (orphans are re-parented to it instead of to init), else None."""
    if os.getpid() == 1:
        return "pid_namespace"
    if sys.platform.startswith("linux"):
        try:
            import ctypes  # only here: most runs are in a PID namespace and never need it

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
                return "subreaper"
        except Exception:
            pass
    return None


def _proc_is_ours():
    """True when /proc shows this process under its own pid (the proc mount of our PID
    namespace): only then may the process table be used to find our descendants."""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except Exception:
        return False


def _process_table():
    """{pid: (ppid, state)} of every process /proc shows."""
    table = {}
    try:
        names = os.listdir("/proc")
    except Exception:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as handle:
                data = handle.read()
            fields = data[data.rfind(b")") + 2:].split()
            table[int(name)] = (int(fields[1]), fields[0].decode("ascii", "replace"))
        except Exception:
            continue
    return table


def _descendants(root):
    """Live (not zombie) descendants of root, parents before children."""
    table = _process_table()
    children = {}
    for pid, (ppid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = []
    queue = list(children.get(root, ()))
    while queue:
        pid = queue.pop(0)
        if pid == root or pid in found:
            continue
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return [pid for pid in found if table.get(pid, (0, "Z"))[1] not in ("Z", "X")]


def _command(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            text = handle.read().replace(b"\0", b" ").strip().decode("utf-8", "replace")
        if text:
            return text[:300]
        with open("/proc/%d/comm" % pid, "rb") as handle:
            return "[%s]" % handle.read().strip().decode("utf-8", "replace")
    except Exception:
        return ""


def _unnamed(command):
    """Whether a recorded command is no command line: empty, or the '[comm]' stand-in."""
    return not command or command.startswith("[")


def _reap():
    """Collects every exited child (our own, and orphans re-parented to us)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except Exception:
            return
        if pid == 0:
            return


def _signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except Exception:
            pass


class Leftovers(object):
    """What the script left running, and ending it."""

    def __init__(self, containment):
        self.enabled = containment is not None and _proc_is_ours()
        self.seen = {}

    def note(self):
        """Records the live descendants (their command lines, while they still have them)."""
        if not self.enabled:
            return []
        pids = _descendants(os.getpid())
        for pid in pids:
            known = self.seen.get(pid)
            if known is None or _unnamed(known):
                self.seen[pid] = _command(pid) or known or ""
        return pids

    def end(self, grace):
        """SIGTERM to every descendant, up to `grace` seconds for them to go, then SIGSTOP until no
        new one appears (a stopped process cannot fork) and SIGKILL. Returns what was killed."""
        if not self.enabled:
            return []
        pids = self.note()
        # A process in the middle of execve has no command line for a moment (its new one is not
        # set up yet): look again, briefly, before the first signal, which may be its last.
        for _look in range(10):
            if not any(_unnamed(self.seen.get(pid)) for pid in pids):
                break
            time.sleep(0.005)
            pids = self.note()
        if pids:
            _signal_all(pids, signal.SIGTERM)
            until = time.monotonic() + grace
            while pids and time.monotonic() < until:
                time.sleep(0.05)
                _reap()
                pids = self.note()
        for _round in range(100):
            pids = self.note()
            if not pids:
                break
            stopped = set()
            while True:
                fresh = [pid for pid in self.note() if pid not in stopped]
                if not fresh or len(stopped) > 100000:
                    break
                _signal_all(fresh, signal.SIGSTOP)
                stopped.update(fresh)
            _signal_all(stopped, signal.SIGKILL)
            time.sleep(0.01)
            _reap()
        _reap()
        return [{"pid": pid, "command": command} for pid, command in sorted(self.seen.items())]


class _Ended(object):
    """threading.Event's set, is_set and wait, on a bare lock (threading costs its import)."""

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._set = False

    def set(self):
        self._set = True
        self._lock.release()

    def is_set(self):
        return self._set

    def wait(self, timeout=None):
        if self._set:
            return True
        # Interrupted by a signal, the acquire runs the handler and goes on waiting.
        if self._lock.acquire(True, -1 if timeout is None else max(timeout, 0)):
            self._lock.release()
        return self._set


def _spawnable(executable, env):
    """The paths execve is given for argv[0]: itself when it names a directory, else each
    directory of the child's PATH in turn (as subprocess searches it)."""
    if os.path.dirname(executable):
        return [executable]
    return [os.path.join(directory, executable) for directory in os.get_exec_path(env)]


def _inheritable_fds():
    """This process's open descriptors above 2 that a child would inherit (close_fds closes them)."""
    try:
        names = os.listdir("/proc/self/fd")
    except Exception:
        return []
    found = []
    for name in names:
        try:
            fd = int(name)
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except Exception:
            continue  # the listing's own descriptor, closed by now
    return found


def spawn(argv, cwd, env, stdout, stderr):
    """Starts argv in a new session, stdin from /dev/null, stdout and stderr to the given files,
    with SIGPIPE and SIGXFSZ at their defaults: what subprocess.Popen(start_new_session=True,
    close_fds=True) does, and as it does it (vfork where it can, so that the child's usage is the
    script's), through os.posix_spawn. Returns the pid, and the Popen object where subprocess
    started it (it must not reap the pid itself); raises OSError when argv cannot start.

    Files the harness opened are close-on-exec (Python opens every file so), and those it inherited
    open for its children are closed in the child: the script gets its three streams only.
    posix_spawn has no working directory of its own, so the harness's is the script's around it
    (every path the harness uses is absolute)."""
    if not hasattr(os, "posix_spawn"):
        import subprocess  # Python before 3.8

        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            start_new_session=True, close_fds=True,
        )
        return proc.pid, proc
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
        (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
    ]
    actions.extend((os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds())
    defaults = [getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)]
    try:
        here = os.open(".", os.O_RDONLY)
    except Exception:
        here = None
    try:
        os.chdir(cwd)
        first, last = None, None
        for path in _spawnable(argv[0], env):
            try:
                return os.posix_spawn(path, argv, env, file_actions=actions, setsid=True, setsigdef=defaults), None
            except OSError as failure:
                # As subprocess: every directory of PATH is tried; the first error other than
                # "not there" (ENOENT, ENOTDIR) is the one reported, else the last.
                last = failure
                if first is None and failure.errno not in (2, 20):
                    first = failure
        raise first or last or OSError(2, "No such file or directory", argv[0])
    finally:
        if here is not None:
            try:
                os.fchdir(here)
            except Exception:
                pass
            os.close(here)


class Run(object):
    """Starts the script in its own session and waits for it under the deadline.

    The script is reaped with wait4(), which gives the resource usage of the script and of the
    descendants it waited for: that is the usage reported. getrusage(RUSAGE_CHILDREN) would add
    whatever the harness's own launcher ran before it exec'd the harness (a shell wrapper around
    python3, a pyenv shim), since a process keeps those totals across exec. A thread blocks in
    wait4() so that the script's end is seen at once, also while a deadline is being waited for.
    """

    def __init__(self, argv, cwd, env, stdout, stderr, deadline):
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.stdout = stdout
        self.stderr = stderr
        self.deadline = deadline
        self.pid = None
        self._popen = None
        self.returncode = None
        self.reason = None
        self.message = None
        self.signalled = None
        self.usage = None
        self._ended = _Ended()

    def start(self):
        self.pid, self._popen = spawn(self.argv, self.cwd, self.env, self.stdout, self.stderr)
        _thread.start_new_thread(self._reap, ())
        return self.pid

    def _reap(self):
        status = None
        try:
            _pid, status, rusage = os.wait4(self.pid, 0)
            self.usage = usage_of(rusage)
        except Exception:
            pass
        self.returncode = _exit_code(status) if status is not None else -1
        if self._popen is not None:
            # Set before the event: Popen then never waits for the pid itself (it is gone).
            self._popen.returncode = self.returncode
        self._ended.set()

    def _wait(self, timeout=None):
        """The exit code; None when the timeout passed first."""
        if not self._ended.wait(timeout):
            return None
        return self.returncode

    def forward(self, signum, _frame):
        """The harness was asked to stop: pass it on to the script's process group."""
        self.signalled = signum
        if self.pid is not None and self.returncode is None:
            _killpg(self.pid, signum)

    def wait(self, started):
        if self.deadline is None:
            return self._wait()
        remaining = self.deadline - (time.monotonic() - started)
        if self._wait(timeout=max(remaining, 0)) is not None:
            return self.returncode
        self.reason = "deadline"
        self.message = "deadline of %g s exceeded: sent SIGTERM to the script's process group" % self.deadline
        _killpg(self.pid, signal.SIGTERM)
        if self._wait(timeout=KILL_GRACE_SECONDS) is not None:
            return self.returncode
        self.message += ", then SIGKILL after %g s" % KILL_GRACE_SECONDS
        _killpg(self.pid, signal.SIGKILL)
        return self._wait()

    def cleanup(self):
        """Whatever the script left running in its process group goes with it."""
        if self.pid is not None:
            _killpg(self.pid, signal.SIGKILL)
            if not self._ended.is_set():
                self._ended.wait(KILL_GRACE_SECONDS)


def _read_bytes(path, limit=None):
    try:
        with open(path, "rb") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except Exception:
        return b""


def _size(path):
    try:
        return os.path.getsize(path)
    except Exception:
        return 0


def _reject_constant(name):
    raise ValueError("not JSON: %s" % name)


class _Decoding(object):
    """What json.JSONDecoder gives the C scanner: json.loads's defaults, but constants refused."""

    def __init__(self):
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _reject_constant
        self.memo = {}


def _skip_whitespace(text, index):
    while index < len(text) and text[index] in " \t\n\r":
        index += 1
    return index


def json_loads(text):
    """json.loads(text, parse_constant=_reject_constant): the same scanner, the same answers."""
    if _json_scanner is None:
        import json

        return json.loads(text, parse_constant=_reject_constant)
    if text.startswith("\ufeff"):
        raise ValueError("Unexpected UTF-8 BOM")
    start = _skip_whitespace(text, 0)
    try:
        value, end = _json_scanner(_Decoding())(text, start)
    except StopIteration:
        raise ValueError("Expecting value at %d" % start)
    if _skip_whitespace(text, end) != len(text):
        raise ValueError("Extra data at %d" % end)
    return value


def _encode(value, out, newline):
    """json's encoder with sort_keys, indent=2, allow_nan=False, ensure_ascii=False (its
    pure-Python path, which it takes whenever there is an indent), appending to `out`."""
    if isinstance(value, str):
        out.append(_json_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_json_float(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        out.append("[")
        for index, item in enumerate(value):
            out.append(inner if index == 0 else "," + inner)
            _encode(item, out, inner)
        out.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        out.append("{")
        for index, (key, item) in enumerate(sorted(value.items())):
            if isinstance(key, str):
                pass
            elif isinstance(key, float):
                key = _json_float(key)
            elif key is True or key is False or key is None:
                key = {True: "true", False: "false", None: "null"}[key]
            elif isinstance(key, int):
                key = int.__repr__(key)
            else:
                raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)
            out.append((inner if index == 0 else "," + inner) + _json_string(key) + ": ")
            _encode(item, out, inner)
        out.append(newline + "}")
    else:
        raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _json_float(value):
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("Out of range float values are not JSON compliant: %r" % value)
    return float.__repr__(value)


def parse_stdout(text):
    """The original's rule: JSON when the whole stdout is JSON, {} when empty, else the text."""
    if not text.strip():
        return {}
    try:
        # NaN and Infinity would make the report invalid JSON for other readers: keep the text.
        return json_loads(text)
    except Exception:
        return text


def _marker(stream, omitted, size):
    return "\n[amun: %d bytes of %s left out here; the stream had %d bytes]\n" % (omitted, stream, size)


def _head_and_tail(path, size, keep):
    """The first and the last bytes of a file, `keep` in all."""
    head_bytes = keep // 2
    with open(path, "rb") as handle:
        head = handle.read(head_bytes)
        handle.seek(max(size - (keep - head_bytes), len(head)))
        tail = handle.read(keep - head_bytes)
    return head, tail


def copy_bounded(path, size, limit, stream, target):
    """Appends the stream to the log: whole within the limit, else its head, a marker and its
    tail, copied in chunks (an output of any size costs no more memory than a chunk).
    Returns True when something was left out."""
    with open(path, "rb") as source:
        if size <= limit:
            _copy(source, target)
            return False
        head_bytes = limit // 2
        _copy(source, target, head_bytes)
        tail_start = size - (limit - head_bytes)
        target.write(_marker(stream, tail_start - head_bytes, size).encode("utf-8"))
        source.seek(tail_start)
        _copy(source, target)
        return True


def _encoded_size(text):
    """len(json.dumps(text, ensure_ascii=False).encode("utf-8")) of a string."""
    if _json_string is None:
        import json

        return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))
    return len(_json_string(text).encode("utf-8"))


def report_text(path, size, limit, stream):
    """(value, truncated) of a stream for the report. Within the limit: the whole text (stdout
    parsed as JSON when it is JSON). Else, and whenever its JSON encoding would exceed the limit,
    its head and tail around a marker, sized so that the encoded text stays within the limit."""
    if size <= limit:
        text = _read_bytes(path).decode("utf-8", "replace")
        value = parse_stdout(text) if stream == "stdout" else text
        if not isinstance(value, str) or _encoded_size(value) <= limit:
            return value, False
    keep = min(size, limit)
    text = ""
    for _attempt in range(12):
        head, tail = _head_and_tail(path, size, keep)
        omitted = size - len(head) - len(tail)
        text = head.decode("utf-8", "replace") + _marker(stream, omitted, size) + tail.decode("utf-8", "replace")
        encoded = _encoded_size(text)
        if encoded <= limit:
            return text, True
        keep = max(0, int(keep * limit / encoded * 0.9))
    return _marker(stream, size, size), True


def _dump(value):
    """json.dumps(value, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)."""
    if _json_string is None:
        import json

        return json.dumps(value, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    out = []
    _encode(value, out, "\n")
    return "".join(out)


def write_atomically(directory, name, text):
    data = text.encode("utf-8", "backslashreplace")
    while True:
        tmp = os.path.join(directory, "." + name + "." + _random_name() + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            # No fsync: the reader is on this machine and reads right after us; the rename below
            # is what makes the file appear whole.
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, name))
    except Exception:
        try:
            os.unlink(tmp)
        except Exception:
            pass
        raise


def base_result(options):
    now = _utc_now()
    result = {
        "datetime": _original(now),
        "start_datetime": _original(now),
        "end_datetime": _original(now),
        "started_at": _iso(now),
        "finished_at": _iso(now),
        "wall_time": 0.0,
        "exit_code": None,
        "reason": None,
        "message": None,
        "hostname": _safe(_hostname, ""),
        "hwinfo": None,
        "os_release": None,
        "runtime_environment": {
            "cuda_version": None,
            "hardware": {"cpu_family": None, "cpu_model": None},
            "operating_system": {"name": None, "version": None},
            "python_version": "%d.%d" % sys.version_info[:2],
        },
        "script_sha256": EMPTY_SHA256,
        "stdout": {},
        "stderr": "",
        "usage": zero_usage(),
        "executor": getattr(options, "executor", None) or "container",
    }
    if getattr(options, "inspection_id", None):
        result["inspection_id"] = options.inspection_id
    if getattr(options, "item", None) is not None:
        result["item"] = options.item
    return result


def _safe(fn, default):
    try:
        return fn()
    except Exception:
        return default


def describe_environment(result, python):
    """hwinfo, os_release and runtime_environment; each part that fails stays null."""
    hw = None
    if _hwinfo is not None:
        hw = _safe(_hwinfo.collect, None)
    result["hwinfo"] = hw
    os_release = _safe(read_os_release, None)
    result["os_release"] = os_release
    runtime = result["runtime_environment"]
    if _hwinfo is not None:
        runtime["cuda_version"] = _safe(_hwinfo.cuda_version, None)
    if isinstance(hw, dict):
        cpu = hw.get("cpu_info") or {}
        for key, source in (("cpu_family", "family"), ("cpu_model", "model")):
            value = cpu.get(source)
            runtime["hardware"][key] = value if isinstance(value, int) else None
    if os_release:
        runtime["operating_system"] = {"name": os_release.get("id"), "version": os_release.get("version_id")}
    runtime["python_version"] = python_version_of(python)


def run(options, result, scratch):
    """Runs the script and fills in result; raises HarnessError when it could not run it."""
    script = os.path.abspath(options.script)
    python, has_venv = python_for(options.venv)
    result["_python"] = python
    try:
        with open(script, "rb") as handle:
            content = handle.read()
    except Exception as error:
        raise HarnessError("cannot read the script %s: %s" % (script, error))
    result["script_sha256"] = _sha256_hex(content)
    argv, how = command_for(script, content, python)
    cwd = os.path.abspath(options.workdir) if options.workdir else os.path.dirname(script)

    stdout_path = os.path.join(scratch, "stdout")
    stderr_path = os.path.join(scratch, "stderr")
    leftovers = Leftovers(options.containment)
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        runner = Run(argv, cwd, child_environment(options.venv, has_venv), out, err, options.deadline)
        started_wall = _utc_now()
        started = time.monotonic()
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[signum] = _safe(lambda s=signum: signal.signal(s, runner.forward), None)
        try:
            try:
                runner.start()
            except Exception as error:
                if how != "directly":
                    raise HarnessError("cannot start the script %s (%s): %s" % (script, how, error))
                # Executable bit set but exec refused (noexec mount, odd '#!' line): name the interpreter.
                runner.argv = _shebang_argv(script, content.split(b"\n", 1)[0])
                try:
                    runner.start()
                except Exception as second:
                    raise HarnessError("cannot start the script %s: %s; through its '#!' interpreter: %s"
                                       % (script, error, second))
            returncode = runner.wait(started)
            wall = time.monotonic() - started
            finished_wall = _utc_now()
            result["usage"] = runner.usage if runner.usage is not None else usage_of_children()
        finally:
            # Everything still running below the harness (the script's group, and what left it).
            killed = leftovers.end(LEFTOVER_GRACE_SECONDS)
            runner.cleanup()
            for signum, handler in previous.items():
                if handler is not None:
                    _safe(lambda s=signum, h=handler: signal.signal(s, h), None)

    result["exit_code"] = returncode
    result["started_at"] = _iso(started_wall)
    result["finished_at"] = _iso(finished_wall)
    result["datetime"] = _original(finished_wall)
    result["start_datetime"] = _original(started_wall)
    result["end_datetime"] = _original(finished_wall)
    result["wall_time"] = round(max(wall, 0.0), 6)
    if runner.reason:
        result["reason"] = runner.reason
        result["message"] = runner.message
    elif runner.signalled is not None:
        result["message"] = "the harness received signal %d and passed it on to the script" % runner.signalled
        if runner.signalled == signal.SIGTERM:
            result["_interrupted"] = True
    if killed:
        result["killed_processes"] = killed[:MAX_KILLED_LISTED]
        note = "%d process%s the script left running %s killed when it ended" % (
            len(killed), "" if len(killed) == 1 else "es", "was" if len(killed) == 1 else "were")
        if len(killed) > MAX_KILLED_LISTED:
            note += " (the first %d are listed)" % MAX_KILLED_LISTED
        result["message"] = note if not result.get("message") else result["message"] + "; " + note
    record_output(options, result, stdout_path, stderr_path)


def record_output(options, result, stdout_path, stderr_path):
    """Writes the log (stdout, then stderr, each within the output limit) and puts both streams
    into the report within the report's limit, with their sizes and whether anything was cut."""
    sizes = {"stdout": _size(stdout_path), "stderr": _size(stderr_path)}
    cut = False
    try:
        with open(os.path.join(os.path.abspath(options.output), "log"), "wb") as log:
            for stream, path in (("stdout", stdout_path), ("stderr", stderr_path)):
                cut = copy_bounded(path, sizes[stream], options.output_limit, stream, log) or cut
    except Exception as error:
        _warn("cannot write the log: %s" % error)
    result["stdout"], stdout_cut = report_text(stdout_path, sizes["stdout"], options.result_output_limit, "stdout")
    result["stderr"], stderr_cut = report_text(stderr_path, sizes["stderr"], options.result_output_limit, "stderr")
    result["output_bytes"] = sizes
    result["truncated"] = cut or stdout_cut or stderr_cut


def write_outputs(output, result):
    result.pop("_python", None)
    if not os.path.exists(os.path.join(output, "log")):
        try:
            open(os.path.join(output, "log"), "wb").close()
        except Exception as error:
            _warn("cannot write the log: %s" % error)
    if result.get("hwinfo") is not None:
        try:
            write_atomically(output, "hwinfo", _dump(result["hwinfo"]) + "\n")
        except Exception as error:
            _warn("cannot write hwinfo: %s" % error)
    write_atomically(output, "result", _dump(result) + "\n")


def _fail(result, reason, message):
    if result.get("reason") is None or reason == "harness_error":
        result["reason"] = reason
    result["message"] = message if not result.get("message") else result["message"] + "\n" + message
    finished = _utc_now()
    if result.get("exit_code") is None:
        result["finished_at"] = _iso(finished)
        result["datetime"] = _original(finished)
        result["end_datetime"] = _original(finished)


def main(argv=None):
    options = parse_options(sys.argv[1:] if argv is None else argv)
    output = os.path.abspath(options.output)
    try:
        if not os.path.isdir(output):
            os.makedirs(output)
    except Exception as error:
        _warn("cannot create the output directory %s: %s" % (output, error))
        return 2

    result = base_result(options)
    scratch = None
    try:
        try:
            try:
                scratch = make_scratch("amun-harness-", _temporary_directories())
            except Exception:  # read-only /tmp: keep the captured streams beside the outputs until the end
                scratch = make_scratch(".amun-harness-", [output])
            options.containment = setup_containment()
            result["containment"] = options.containment or "process_group"
            if options.containment is None and options.require_containment:
                raise HarnessError(
                    "cannot make the script's processes end with the run here: no PID namespace and no "
                    "child subreaper (Linux prctl); use the container executor")
            run(options, result, scratch)
        except HarnessError as error:
            _fail(result, "harness_error", str(error))
        except Exception:
            _fail(result, "harness_error", "the harness failed:\n" + _format_exc())
        try:
            describe_environment(result, result.get("_python") or sys.executable)
        except Exception:
            _fail(result, "harness_error", "the harness failed describing the node:\n" + _format_exc())
    finally:
        if scratch:
            remove_tree(scratch)

    if result.pop("_interrupted", False) and options.interrupted_exit is not None:
        # A run cut short from outside (its pod drained, preempted, evicted) measures nothing: no
        # result, so that it runs again; the log stays for whoever looks at this attempt.
        _warn("the run was cut short by SIGTERM; no result is recorded, so that it runs again (exit %d)"
              % options.interrupted_exit)
        return options.interrupted_exit
    try:
        write_outputs(output, result)
        return 0
    except Exception:
        detail = _format_exc()
        _warn("cannot write the result:\n" + detail)
    # Last resort: the smallest valid report.
    try:
        fallback = base_result(options)
        fallback["reason"] = "harness_error"
        fallback["message"] = "the harness could not write its report:\n" + detail
        fallback["exit_code"] = result.get("exit_code") if isinstance(result.get("exit_code"), int) else None
        write_atomically(output, "result", _dump(fallback) + "\n")
        return 0
    except Exception:
        _warn("cannot write even a minimal result:\n" + _format_exc())
        return 1


if __name__ == "__main__":
    sys.exit(main())
