#!/usr/bin/env python3
"""Hardware of the node that runs an inspection item, with the standard library only.

Keeps the top-level keys of the original Amun hwinfo (`cpu_info`, `cpu_features`, `cpu_type`,
`platform`; the original collected them with py-cpuinfo and numpy.distutils' cpuinfo) and adds
`memory` and `gpus`. Reads /proc and /sys on Linux, asks `nvidia-smi` for GPUs when it is on PATH.
Never raises: whatever cannot be learnt is null (or an empty list).

Every run collects it, so a CPU-only Linux node costs no child process and no regular
expression: the original's predicates are string tests with the same answers, the platform
string comes from uname(2) and the C library (as the platform module builds it), and what only
GPU nodes, other systems or older Pythons need (subprocess, csv, re, platform) is imported there.

Runs on Python 3.6 and later. `python3 hwinfo.py` prints the JSON document.
"""

import os
import sys

# The version of this collector; it stands where the original put py-cpuinfo's version.
HWINFO_VERSION = (1, 0, 0)
SUBPROCESS_TIMEOUT = 10


def _read(path):
    """Text of a file, None when it cannot be read."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except Exception:
        return None


def _start(argv):
    """A started command whose stdout _finish reads; None when it cannot start."""
    try:
        import subprocess

        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            universal_newlines=True,
        )
    except Exception:
        return None


def _run(argv):
    """stdout of a command that exited 0 within the timeout, else None."""
    return _finish(_start(argv))


def _finish(proc):
    """stdout of a started command once it exited 0 within the timeout, else None."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    except Exception:
        try:
            proc.kill()
            proc.communicate()
        except Exception:
            pass
        return None
    if proc.returncode != 0:
        return None
    return out


def _which(name):
    """shutil.which(name): the first executable file of that name on PATH, None without one."""
    path = os.environ.get("PATH")
    if path is None:
        try:
            path = os.confstr("CS_PATH")
        except Exception:
            path = os.defpath
    for directory in (path or "").split(os.pathsep):
        path = os.path.join(directory, name)
        if os.path.exists(path) and os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def _digits(text):
    """True for a non-empty string of ASCII digits (a regular expression's [0-9]+)."""
    return bool(text) and all("0" <= c <= "9" for c in text)


def _leading_digits(text, start=0):
    """The end of the run of ASCII digits that starts at `start`."""
    end = start
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return end


def _word(c):
    """A character regular expressions count as part of a word (\\w)."""
    return c.isalnum() or c == "_"


def _found(text, literal, start=0, word_start=False):
    """re.search(literal + r"\\b", text[start:]) is not None, for a literal whose last character
    is a word character (and r"\\b" before it too with word_start, its first one being one)."""
    i = text.find(literal, start)
    while i >= 0:
        end = i + len(literal)
        if (end == len(text) or not _word(text[end])) and (not word_start or i == 0 or not _word(text[i - 1])):
            return True
        i = text.find(literal, i + 1)
    return False


def _found_after(text, first, literals):
    """re.search(first + ".*?(" + "|".join(literals) + r")\\b", text) is not None (no newlines)."""
    i = text.find(first)
    return i >= 0 and any(_found(text, literal, i + len(first)) for literal in literals)


def _lower(text):
    """Each character lower-cased on its own, as re.IGNORECASE compares them (lengths kept)."""
    return "".join(c.lower()[0] for c in text)


def _int(value, base=10):
    try:
        return int(str(value).strip(), base)
    except Exception:
        return None


def _proc_cpuinfo():
    """(processors, header): one dict per `processor` block, plus the key/values of lines outside them."""
    text = _read("/proc/cpuinfo") or ""
    processors = []
    header = {}
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                if "processor" in current:
                    processors.append(current)
                else:
                    header.update(current)
                current = {}
            continue
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    if current:
        if "processor" in current:
            processors.append(current)
        else:
            header.update(current)
    return processors, header


def _arch(machine):
    """(arch, bits) named as py-cpuinfo names them."""
    m = (machine or "").lower()
    if m in ("x86_64", "amd64", "x64", "i86pc"):
        return "X86_64", 64
    if (len(m) == 4 and m[0] == "i" and m[1] in "3456" and m[2:] == "86") or m in ("x86", "i86"):
        return "X86_32", 32
    if m in ("aarch64", "arm64") or m.startswith("armv8"):
        return "ARM_8", 64 if ("64" in m or m == "arm64") else 32
    if m.startswith("armv7"):
        return "ARM_7", 32
    if m in ("ppc64", "ppc64le"):
        return "PPC_64", 64
    if m in ("ppc", "ppcle", "ppc32"):
        return "PPC_32", 32
    if m == "s390x":
        return "S390X", 64
    if m == "riscv64":
        return "RISCV_64", 64
    if m == "riscv32":
        return "RISCV_32", 32
    bits = 64 if sys.maxsize > 2 ** 32 else 32
    return (machine or "unknown").upper(), bits


def _friendly_hz(hz):
    """2693672000 -> '2.6937 GHz', as py-cpuinfo writes it."""
    if hz is None:
        return None
    for unit, scale in (("GHz", 10 ** 9), ("MHz", 10 ** 6), ("KHz", 10 ** 3)):
        if hz >= scale:
            return "%.4f %s" % (hz / float(scale), unit)
    return "%.4f Hz" % float(hz)


_HZ_SCALE = {"G": 10 ** 9, "M": 10 ** 6, "K": 10 ** 3}


def _brand_frequency(brand):
    """(number, unit) of the first `<digits>[.<digits>] [GMK]Hz` in a brand string, any case;
    re.search(r"([0-9]+(?:\\.[0-9]+)?)\\s*([GMK])Hz", brand, re.IGNORECASE) without compiling it."""
    for start in range(len(brand)):
        if not "0" <= brand[start] <= "9" or (start > 0 and "0" <= brand[start - 1] <= "9"):
            continue  # a match starts where a run of digits does (a later start would be longer)
        end = _leading_digits(brand, start)
        ends = []
        if end + 1 < len(brand) and brand[end] == "." and "0" <= brand[end + 1] <= "9":
            ends.append(_leading_digits(brand, end + 1))
        ends.append(end)
        for number_end in ends:
            unit = number_end
            while unit < len(brand) and brand[unit].isspace():
                unit += 1
            if brand[unit:unit + 1].upper() in _HZ_SCALE and brand[unit + 1:unit + 3].lower() == "hz":
                return brand[start:number_end], brand[unit].upper()
    return None


def _hz_from_brand(brand):
    """The advertised frequency in a brand string like 'Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz'."""
    if not brand:
        return None
    found = _brand_frequency(brand)
    if not found:
        return None
    return int(round(float(found[0]) * _HZ_SCALE[found[1]]))


def _mhz_to_hz(text):
    try:
        return int(round(float(text) * 10 ** 6))
    except Exception:
        return None


def _khz_file_to_hz(path):
    value = _int(_read(path))
    return value * 1000 if value is not None else None


_SIZE_SCALE = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def _size_to_bytes(text):
    """'48K' -> 49152; '2048 KB' -> 2097152 (r"^\\s*([0-9]+)\\s*([KMG]?)i?B?\\s*$", any case)."""
    if not text:
        return None
    text = text.strip()
    end = _leading_digits(text)
    if end == 0:
        return None
    number, rest = text[:end], text[end:].lstrip().lower()
    unit = rest[:1] if rest[:1] in ("k", "m", "g") else ""
    rest = rest[len(unit):]
    for optional in ("i", "b"):
        if rest.startswith(optional):
            rest = rest[1:]
    if rest.strip():
        return None
    return int(number) * _SIZE_SCALE[unit.upper()]


def _caches():
    """cpu0's caches from sysfs: {(level, type): {size, ways, line}}."""
    out = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        names = sorted(n for n in os.listdir(base) if n.startswith("index"))
    except Exception:
        return out
    for name in names:
        path = os.path.join(base, name)
        level = _int(_read(os.path.join(path, "level")))
        kind = (_read(os.path.join(path, "type")) or "").strip()
        if level is None:
            continue
        out[(level, kind)] = {
            "size": _size_to_bytes(_read(os.path.join(path, "size"))),
            "ways": _int(_read(os.path.join(path, "ways_of_associativity"))),
            "line": _int(_read(os.path.join(path, "coherency_line_size"))),
        }
    return out


def _cache(caches, level, kinds):
    for kind in kinds:
        if (level, kind) in caches:
            return caches[(level, kind)]
    return {}


def _physical_cpus(processors):
    pairs = set()
    for proc in processors:
        if "physical id" in proc and "core id" in proc:
            pairs.add((proc["physical id"], proc["core id"]))
    if pairs:
        return len(pairs)
    # Without those fields (ARM, some VMs) ask sysfs for distinct (package, core) pairs.
    try:
        cpus = [n for n in os.listdir("/sys/devices/system/cpu") if n.startswith("cpu") and _digits(n[3:])]
    except Exception:
        return None
    for cpu in cpus:
        topo = os.path.join("/sys/devices/system/cpu", cpu, "topology")
        package = _int(_read(os.path.join(topo, "physical_package_id")))
        core = _int(_read(os.path.join(topo, "core_id")))
        if package is None or core is None:
            continue
        pairs.add((package, core))
    return len(pairs) or None


def _cpu_count(processors):
    try:
        count = os.cpu_count()
    except Exception:
        count = None
    return count or len(processors) or 1


def cpu_info_and_features():
    """The original's `cpu_info` and `cpu_features` sections."""
    processors, header = _proc_cpuinfo()
    first = processors[0] if processors else {}
    merged = dict(header)
    merged.update(first)
    machine = _machine()
    arch, bits = _arch(machine)

    brand = merged.get("model name") or merged.get("cpu model") or merged.get("Processor") or merged.get("cpu")
    vendor = merged.get("vendor_id") or merged.get("vendor") or None
    family = _int(merged.get("cpu family"))
    model = _int(merged.get("model"))
    stepping = _int(merged.get("stepping"))
    if family is None and "CPU architecture" in merged:  # ARM: the architecture number stands in
        architecture = merged.get("CPU architecture", "")
        family = _int(architecture[:_leading_digits(architecture)])
    if model is None and "CPU part" in merged:
        model = _int(merged.get("CPU part"), 16) if merged.get("CPU part", "").startswith("0x") else None
    if stepping is None and "CPU revision" in merged:
        stepping = _int(merged.get("CPU revision"))

    hz_actual = _mhz_to_hz(merged.get("cpu MHz")) if merged.get("cpu MHz") else None
    if hz_actual is None:
        hz_actual = _khz_file_to_hz("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    hz_advertised = _hz_from_brand(brand)
    if hz_advertised is None:
        hz_advertised = _khz_file_to_hz("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency")
    if hz_advertised is None:
        hz_advertised = hz_actual

    caches = _caches()
    l1d = _cache(caches, 1, ("Data",))
    l1i = _cache(caches, 1, ("Instruction",))
    l2 = _cache(caches, 2, ("Unified", "Data"))
    l3 = _cache(caches, 3, ("Unified", "Data"))
    l2_size = l2.get("size")
    if l2_size is None and merged.get("cache size"):  # py-cpuinfo's own fallback
        l2_size = _size_to_bytes(merged.get("cache size"))

    flags_text = merged.get("flags") or merged.get("Features") or ""
    flags = sorted(set(flags_text.split()))

    cpu_info = {
        "arch": arch,
        "arch_string_raw": machine or "",
        "bits": bits,
        "brand_raw": brand,
        "count": _cpu_count(processors),
        "cpuinfo_version": list(HWINFO_VERSION),
        "cpuinfo_version_string": "amun-hwinfo %d.%d.%d" % HWINFO_VERSION,
        "family": family,
        "hz_actual_friendly": _friendly_hz(hz_actual),
        "hz_advertised_friendly": _friendly_hz(hz_advertised),
        "l2_cache_associativity": l2.get("ways"),
        "l2_cache_line_size": l2.get("line"),
        "model": model,
        "stepping": stepping,
        "vendor_id_raw": vendor,
        "physical_cpus": _physical_cpus(processors),
    }
    cpu_features = {
        "flags": flags,
        "hz_actual": [hz_actual, 0] if hz_actual is not None else None,
        # The original's *_raw keys stayed null with py-cpuinfo 7, which dropped them: kept for its readers.
        "hz_actual_raw": None,
        "hz_advertised": [hz_advertised, 0] if hz_advertised is not None else None,
        "hz_advertised_raw": None,
        "l1_data_cache_size": l1d.get("size"),
        "l1_instruction_cache_size": l1i.get("size"),
        "l2_cache_size": l2_size,
        "l3_cache_size": l3.get("size"),
    }
    return cpu_info, cpu_features, processors


def _machine():
    """platform.machine()."""
    try:
        return os.uname()[4]
    except Exception:
        import platform

        return platform.machine()


def _nbits():
    # platform.architecture() would run `file` on the interpreter twice; the pointer size says it
    # (sys.maxsize is the size of a pointer everywhere CPython runs).
    return "64" if sys.maxsize > 2 ** 32 else "32"


def cpu_type(processors):
    """The original's `cpu_type`: numpy.distutils' cpuinfo predicates over /proc/cpuinfo.

    A predicate whose field is missing is null, as it was in the original (its calls raised and
    were swallowed); the key set is the original's."""
    info = processors[0] if processors else {}
    out = {}

    def field(name):
        if name not in info:
            raise KeyError(name)
        return info[name]

    # numpy's predicates were regular expressions matched from the start of a field and began
    # with ".*?": searches. Those below are the same searches as string tests (compiling ~45
    # expressions took longer than everything else here).
    def has(literal, name):  # ".*?LITERAL"
        return literal in field(name)

    def word(literal, name):  # r".*?LITERAL\b"
        return _found(field(name), literal)

    def after(first, literals, name):  # r".*?FIRST.*?(LITERAL|...)\b"
        return _found_after(field(name), first, literals)

    def flag(name):  # r".*?\bNAME\b" over the flags
        return _found(field("flags"), name, word_start=True)

    def is_amd():
        return field("vendor_id") == "AuthenticAMD"

    def is_intel():
        return field("vendor_id") == "GenuineIntel"

    def family_is(*values):
        return field("cpu family") in values

    def is_pentium_iv():
        return after("Pentium", ("IV", "4"), "model name")

    def xeon():  # r".*?XEON\b", re.IGNORECASE
        return _found(_lower(field("model name")), "xeon")

    nbits = _nbits()
    machine = (_machine() or "").lower()
    is_ppc = machine.startswith("ppc")

    def power(version):
        if not is_ppc:
            raise KeyError("cpu")
        if version is None:
            return True
        return _found(_lower(field("cpu")), "power%d" % version)  # r".*?POWER%d\b", re.IGNORECASE

    def altivec():
        if not is_ppc:
            raise KeyError("cpu")
        return "altivec" in field("cpu").lower()

    predicates = {
        "has_3dnow": lambda: flag("3dnow"),
        "has_3dnowext": lambda: flag("3dnowext"),
        "has_Altivec": altivec,
        "has_f00f_bug": lambda: field("f00f_bug") == "yes",
        "has_fdiv_bug": lambda: field("fdiv_bug") == "yes",
        "has_mmx": lambda: flag("mmx"),
        "has_sse": lambda: flag("sse"),
        "has_sse2": lambda: flag("sse2"),
        "has_sse3": lambda: flag("pni"),
        "has_ssse3": lambda: flag("ssse3"),
        "is_32bit": lambda: nbits == "32",
        "is_64bit": lambda: nbits == "64",
        "is_AMD": is_amd,
        "is_AMD64": lambda: is_amd() and family_is("15"),
        "is_Alpha": lambda: field("cpu") == "Alpha",
        "is_Athlon64": lambda: word("Athlon(tm) 64", "model name"),
        "is_AthlonHX": lambda: word("Athlon HX", "model name"),
        "is_AthlonK6": lambda: has("AMD-K6", "model name"),
        "is_AthlonK6_2": lambda: is_amd() and field("model") == "2",
        "is_AthlonK6_3": lambda: is_amd() and field("model") == "3",
        "is_AthlonK7": lambda: has("AMD-K7", "model name"),
        "is_AthlonMP": lambda: word("Athlon(tm) MP", "model name"),
        "is_Celeron": lambda: has("Celeron", "model name"),
        "is_Core2": lambda: nbits == "64" and is_intel() and word("Core(TM)2", "model name"),
        "is_EV4": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV4",
        "is_EV5": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV5",
        "is_EV56": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV56",
        "is_Hammer": lambda: word("Hammer", "model name"),
        "is_Intel": is_intel,
        "is_Itanium": lambda: word("Itanium", "family"),
        "is_Nocona": lambda: (
            is_intel() and family_is("6", "15") and flag("pni") and not flag("ssse3") and flag("lm")
        ),
        "is_Opteron": lambda: word("Opteron", "model name"),
        "is_PCA56": lambda: field("cpu") == "Alpha" and field("cpu model") == "PCA56",
        "is_Pentium": lambda: has("Pentium", "model name"),
        "is_PentiumII": lambda: after("Pentium", ("II",), "model name"),
        "is_PentiumIII": lambda: after("Pentium", ("III",), "model name"),
        "is_PentiumIV": is_pentium_iv,
        "is_PentiumM": lambda: after("Pentium", ("M",), "model name"),
        "is_PentiumMMX": lambda: after("Pentium", ("MMX",), "model name"),
        "is_PentiumPro": lambda: word("PentiumPro", "model name"),
        "is_Power": lambda: power(None),
        "is_Power7": lambda: power(7),
        "is_Power8": lambda: power(8),
        "is_Power9": lambda: power(9),
        "is_Prescott": lambda: is_pentium_iv() and flag("pni"),
        "is_XEON": xeon,
        "is_Xeon": xeon,
        "is_i386": lambda: None,  # never implemented by the original
        "is_i486": lambda: field("cpu") == "i486",
        "is_i586": lambda: is_intel() and family_is("5"),
        "is_i686": lambda: is_intel() and family_is("6"),
        "is_singleCPU": lambda: len(processors) == 1,
    }
    for key, predicate in predicates.items():
        try:
            value = predicate()
            out[key] = None if value is None else bool(value)
        except Exception:
            out[key] = None
    out["nbits"] = nbits
    out["ncpus"] = len(processors) if processors else None
    # Helper methods of the original's cpuinfo object that landed in its output as null.
    out["not_impl"] = None
    out["try_call"] = None
    return out


def _platform_string(*parts):
    """platform._platform: the parts joined by '-', made fit for a file name."""
    text = "-".join(x.strip() for x in parts if len(x))
    for obstacle in (" ", "/", "\\", ":", ";", '"', "(", ")"):
        text = text.replace(obstacle, "_" if obstacle == " " else "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")


def _linux_platform():
    """platform_info() as the platform module of Python 3.9 and later has it on Linux with glibc,
    from uname(2) and confstr(3); None elsewhere. `uname -p`, which the module runs for the
    processor, answers `unknown` (GNU coreutils, busybox) or the machine (Fedora's coreutils): both
    leave the processor out of the platform string and make it the machine here."""
    if sys.version_info < (3, 9) or not sys.platform.startswith("linux"):
        return None
    try:
        uname = os.uname()
        libc = os.confstr("CS_GNU_LIBC_VERSION").split(None, 1)
    except Exception:
        return None
    if uname[0] != "Linux" or len(libc) != 2:
        return None
    machine = uname[4] or ""
    return {
        "architecture": [_nbits() + "bit", ""],
        "machine": machine,
        "node": uname[1] or "",
        "platform": _platform_string("Linux", uname[2], machine, "", "with", libc[0] + libc[1]),
        "processor": machine,
        "release": uname[2] or "",
        "version": uname[3] or "",
    }


def platform_info():
    fast = _linux_platform()
    if fast is not None:
        return fast
    import platform
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uname = platform.uname()
        # As platform.architecture() reports it where `file` is absent (most images): no linkage.
        architecture = [_nbits() + "bit", ""]
        try:
            plat = platform.platform()
        except Exception:
            plat = ""
        try:
            processor = platform.processor() or ""
        except Exception:
            processor = ""
    machine = uname[4] or ""
    return {
        "architecture": architecture,
        "machine": machine,
        "node": uname[1] or "",
        "platform": plat or "",
        "processor": processor or machine,
        "release": uname[2] or "",
        "version": uname[3] or "",
    }


def memory():
    out = {"total_bytes": None, "available_bytes": None, "cgroup_limit_bytes": None}
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if not parts:
            continue
        amount = _int(parts[0])
        if amount is None:
            continue
        if len(parts) > 1 and parts[1].lower() == "kb":
            amount *= 1024
        if key == "MemTotal":
            out["total_bytes"] = amount
        elif key == "MemAvailable":
            out["available_bytes"] = amount
    limit = None
    raw = _read("/sys/fs/cgroup/memory.max")  # cgroup v2
    if raw is None:
        raw = _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1
    if raw is not None:
        limit = _int(raw)  # "max" (v2) is unlimited: None
        # v1 reports "unlimited" as a page-rounded huge number.
        if limit is not None and (limit <= 0 or limit >= 2 ** 60):
            limit = None
    out["cgroup_limit_bytes"] = limit
    return out


def _na(value):
    value = (value or "").strip()
    if not value or value.startswith("[") or value.upper() in ("N/A", "NOT SUPPORTED"):
        return None
    return value


_nvidia_smi_cache = {}


def _cuda_in_header(out):
    import re

    match = re.search(r"CUDA Version:\s*([0-9]+(?:\.[0-9]+)*)", out or "")
    return match.group(1) if match else None


def nvidia_smi_cuda_version(header=None):
    """The CUDA version in `nvidia-smi`'s header (the driver's), None without nvidia-smi.
    `header`: an `nvidia-smi` already started (gpus() starts it beside its query)."""
    if "cuda" not in _nvidia_smi_cache:
        version = None
        if header is not None or _which("nvidia-smi"):
            version = _cuda_in_header(_finish(header if header is not None else _start(["nvidia-smi"])))
        _nvidia_smi_cache["cuda"] = version
    return _nvidia_smi_cache["cuda"]


def gpus():
    """GPUs as nvidia-smi lists them; [] without nvidia-smi or when it fails."""
    if not _which("nvidia-smi"):
        return []
    fields = ["index", "name", "uuid", "memory.total", "driver_version", "compute_cap"]
    query = _start(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"])
    # The header (the CUDA version) at the same time: nvidia-smi takes its time to start.
    header = _start(["nvidia-smi"]) if "cuda" not in _nvidia_smi_cache else None
    out = _finish(query)
    if out is None:  # drivers before 510 do not know compute_cap
        fields = fields[:-1]
        out = _run(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"])
    cuda = nvidia_smi_cuda_version(header)
    if out is None:
        return []
    result = []
    try:
        import csv

        rows = list(csv.reader(out.splitlines(), skipinitialspace=True))
    except Exception:
        return []
    for row in rows:
        if not row or not any(cell.strip() for cell in row):
            continue
        values = dict(zip(fields, row))
        name = _na(values.get("name"))
        if name is None:
            continue
        memory_mib = _na(values.get("memory.total"))
        result.append({
            "index": _int(values.get("index")),
            "name": name,
            "uuid": _na(values.get("uuid")),
            "memory_total_mib": _int(memory_mib) if memory_mib is not None else None,
            "driver_version": _na(values.get("driver_version")),
            "cuda_version": cuda,
            "compute_capability": _na(values.get("compute_cap")),
        })
    return result


def _major_minor(version):
    import re

    match = re.match(r"^\s*([0-9]+)\.([0-9]+)", version or "")
    return "%s.%s" % (match.group(1), match.group(2)) if match else None


def cuda_version():
    """CUDA version of the node: nvidia-smi's, else the toolkit's (version.json, version.txt, nvcc)."""
    try:
        version = nvidia_smi_cuda_version()
        if version:
            return _major_minor(version) or version
        text = _read("/usr/local/cuda/version.json")
        if text:
            try:
                import json

                version = _major_minor(json.loads(text).get("cuda", {}).get("version"))
            except Exception:
                version = None
            if version:
                return version
        text = _read("/usr/local/cuda/version.txt")
        if text:
            import re

            match = re.search(r"CUDA Version\s+([0-9]+\.[0-9]+)", text)
            if match:
                return match.group(1)
        if _which("nvcc"):
            import re

            match = re.search(r"release\s+([0-9]+\.[0-9]+)", _run(["nvcc", "--version"]) or "")
            if match:
                return match.group(1)
    except Exception:
        pass
    return None


def collect():
    """The hwinfo document. Never raises."""
    processors = []
    try:
        cpu_info, cpu_features, processors = cpu_info_and_features()
    except Exception:
        arch, bits = _arch(_machine())
        cpu_info = {"arch": arch, "bits": bits, "count": os.cpu_count() or 1, "family": None, "model": None}
        cpu_features = {"flags": []}
    try:
        types = cpu_type(processors)
    except Exception:
        types = {}
    try:
        plat = platform_info()
    except Exception:
        plat = {"architecture": [], "machine": "", "node": "", "platform": "", "processor": "",
                "release": "", "version": ""}
    try:
        mem = memory()
    except Exception:
        mem = None
    try:
        gpu_list = gpus()
    except Exception:
        gpu_list = []
    return {
        "cpu_info": cpu_info,
        "cpu_features": cpu_features,
        "cpu_type": types,
        "platform": plat,
        "memory": mem,
        "gpus": gpu_list,
    }


def main():
    import json

    sys.stdout.write(json.dumps(collect(), sort_keys=True, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
