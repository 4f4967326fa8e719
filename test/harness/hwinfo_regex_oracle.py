"""The regular expressions hwinfo.py answered with before it did without them (string tests
are faster to start): kept here, unchanged, as the oracle the string tests are checked against
(test/harness/lean-harness.test.ts). `platform_info` is the platform module's answer, which
hwinfo.py now builds from uname(2) and confstr(3) on Linux.
"""

import platform
import re
import struct
import sys
import warnings


def _arch(machine):
    """(arch, bits) named as py-cpuinfo names them."""
    m = (machine or "").lower()
    if m in ("x86_64", "amd64", "x64", "i86pc"):
        return "X86_64", 64
    if re.match(r"^i[3-6]86$", m) or m in ("x86", "i86"):
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


def _hz_from_brand(brand):
    """The advertised frequency in a brand string like 'Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz'."""
    if not brand:
        return None
    match = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*([GMK])Hz", brand, re.IGNORECASE)
    if not match:
        return None
    scale = {"G": 10 ** 9, "M": 10 ** 6, "K": 10 ** 3}[match.group(2).upper()]
    return int(round(float(match.group(1)) * scale))


def _size_to_bytes(text):
    """'48K' -> 49152; '2048 KB' -> 2097152."""
    if not text:
        return None
    match = re.match(r"^\s*([0-9]+)\s*([KMG]?)i?B?\s*$", text.strip(), re.IGNORECASE)
    if not match:
        return None
    scale = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[match.group(2).upper()]
    return int(match.group(1)) * scale


def _nbits():
    # platform.architecture() would run `file` on the interpreter twice; the pointer size says it.
    return str(struct.calcsize("P") * 8)


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

    def match(pattern, name, flags=0):
        return re.match(pattern, field(name), flags) is not None

    def flag(name):
        return re.match(r".*?\b%s\b" % name, field("flags")) is not None

    def is_amd():
        return field("vendor_id") == "AuthenticAMD"

    def is_intel():
        return field("vendor_id") == "GenuineIntel"

    def family_is(*values):
        return field("cpu family") in values

    def is_pentium_iv():
        return match(r".*?Pentium.*?(IV|4)\b", "model name")

    nbits = _nbits()
    machine = (platform.machine() or "").lower()
    is_ppc = machine.startswith("ppc")

    def power(version):
        if not is_ppc:
            raise KeyError("cpu")
        if version is None:
            return True
        return match(r".*?POWER%d\b" % version, "cpu", re.IGNORECASE)

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
        "is_Athlon64": lambda: match(r".*?Athlon\(tm\) 64\b", "model name"),
        "is_AthlonHX": lambda: match(r".*?Athlon HX\b", "model name"),
        "is_AthlonK6": lambda: match(r".*?AMD-K6", "model name"),
        "is_AthlonK6_2": lambda: is_amd() and field("model") == "2",
        "is_AthlonK6_3": lambda: is_amd() and field("model") == "3",
        "is_AthlonK7": lambda: match(r".*?AMD-K7", "model name"),
        "is_AthlonMP": lambda: match(r".*?Athlon\(tm\) MP\b", "model name"),
        "is_Celeron": lambda: match(r".*?Celeron", "model name"),
        "is_Core2": lambda: nbits == "64" and is_intel() and match(r".*?Core\(TM\)2\b", "model name"),
        "is_EV4": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV4",
        "is_EV5": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV5",
        "is_EV56": lambda: field("cpu") == "Alpha" and field("cpu model") == "EV56",
        "is_Hammer": lambda: match(r".*?Hammer\b", "model name"),
        "is_Intel": is_intel,
        "is_Itanium": lambda: match(r".*?Itanium\b", "family"),
        "is_Nocona": lambda: (
            is_intel() and family_is("6", "15") and flag("pni") and not flag("ssse3") and flag("lm")
        ),
        "is_Opteron": lambda: match(r".*?Opteron\b", "model name"),
        "is_PCA56": lambda: field("cpu") == "Alpha" and field("cpu model") == "PCA56",
        "is_Pentium": lambda: match(r".*?Pentium", "model name"),
        "is_PentiumII": lambda: match(r".*?Pentium.*?II\b", "model name"),
        "is_PentiumIII": lambda: match(r".*?Pentium.*?III\b", "model name"),
        "is_PentiumIV": is_pentium_iv,
        "is_PentiumM": lambda: match(r".*?Pentium.*?M\b", "model name"),
        "is_PentiumMMX": lambda: match(r".*?Pentium.*?MMX\b", "model name"),
        "is_PentiumPro": lambda: match(r".*?PentiumPro\b", "model name"),
        "is_Power": lambda: power(None),
        "is_Power7": lambda: power(7),
        "is_Power8": lambda: power(8),
        "is_Power9": lambda: power(9),
        "is_Prescott": lambda: is_pentium_iv() and flag("pni"),
        "is_XEON": lambda: match(r".*?XEON\b", "model name", re.IGNORECASE),
        "is_Xeon": lambda: match(r".*?XEON\b", "model name", re.IGNORECASE),
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


def platform_info():
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
