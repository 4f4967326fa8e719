"""Checks that the harness's lean replacements answer as what they replace, for
test/harness/lean-harness.test.ts: `python3 lean_checks.py HARNESS_DIR CHECK` prints
{"checked": N, "mismatches": [...]} (at most 20 listed).

  json    runner._dump and runner.json_loads against json.dumps(sort_keys=True, indent=2,
          allow_nan=False, ensure_ascii=False) and json.loads(parse_constant=...) on a corpus of
          values and texts, fixed and random (seeded)
  hwinfo  hwinfo's string tests against the regular expressions they replaced
          (hwinfo_regex_oracle.py): cpu_type on x86 and POWER, _hz_from_brand, _size_to_bytes,
          _arch, and platform_info against the platform module
"""

import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, HERE)

import runner as entrypoint  # noqa: E402
import hwinfo  # noqa: E402
import hwinfo_regex_oracle as oracle  # noqa: E402

mismatches = []
checked = [0]


def same(what, ours, theirs):
    checked[0] += 1
    if ours != theirs and len(mismatches) < 20:
        mismatches.append({"what": what, "ours": repr(ours)[:300], "theirs": repr(theirs)[:300]})


def outcome(fn, *args):
    try:
        return ("ok", repr(fn(*args)))
    except ValueError:  # json.JSONDecodeError too: the harness only tells JSON from text
        return ("error", "ValueError")
    except (TypeError, RecursionError) as error:
        return ("error", type(error).__name__)


# ---------------------------------------------------------------- json

STRINGS = ["", "a", "é", "\u2028", "\"quoted\"", "back\\slash", "new\nline\ttab\r", "\x00\x1f\x7f", "\U0001F600",
           "a\ud800b", "\udfff", "</script>", "caf\u00e9 \u65e5\u672c"]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e-300, 1e300, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3.0, 123456789.123456789]


def random_value(rng, depth=0):
    kind = rng.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return rng.choice(STRINGS) + "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(4)))
    if kind == 1:
        return rng.choice([0, 1, -1, 2 ** 63, -(2 ** 70), rng.randrange(-10 ** 6, 10 ** 6)])
    if kind == 2:
        return rng.choice(FLOATS) * rng.choice([1, -1, 1e10])
    if kind in (3, 4, 5):
        return rng.choice([True, False, None])
    if kind == 6:
        return rng.choice(STRINGS)
    if kind == 7:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 8:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return dict((rng.choice(STRINGS) + str(rng.randrange(50)), random_value(rng, depth + 1)) for _ in range(rng.randrange(5)))


def check_json():
    def theirs_dump(value):
        return json.dumps(value, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)

    def theirs_load(text):
        return json.loads(text, parse_constant=entrypoint._reject_constant)

    rng = random.Random(14)
    values = [{}, [], (), {"a": {}}, [[[]]], {"usage": entrypoint.zero_usage()}, entrypoint.base_result(None), hwinfo.collect(),
              {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
              float("nan"), [float("inf")], {"x": -float("inf")}, {"o": object()}, {"s": {1, 2}}]
    values += [random_value(rng) for _ in range(2000)]
    for value in values:
        same("dump", outcome(entrypoint._dump, value), outcome(theirs_dump, value))
    texts = ["", " ", "{}", "[]", "  {\"ok\": true}\n", "1", "-0", "1.5e3", "1e999", "-1e999", "NaN", "Infinity", "-Infinity",
             "[NaN]", "{\"a\": Infinity}", "\ufeff{}", "\"\\ud800\"", "\"\\u00e9\"", "hello", "{bad", "{} x", "[1,]", "\t\r\n[1]\n\r\t",
             "{\"a\":1,\"a\":2}", "tru", "nul", "[\"unterminated", "0123", "1.", ".5", "\"a\x00b\"", "{\"k\" 1}", "123 456"]
    for value in values[14:400]:
        for indent in (None, 2):
            text = json.dumps(value, indent=indent)
            texts += [text, text + " ", " " + text, text + "x", text[:-1]]
    for text in texts:
        same("load %r" % text[:60], outcome(entrypoint.json_loads, text), outcome(theirs_load, text))
        same("parse_stdout %r" % text[:60], repr(entrypoint.parse_stdout(text)), repr(parse_stdout_before(text)))


def parse_stdout_before(text):
    if not text.strip():
        return {}
    try:
        return json.loads(text, parse_constant=entrypoint._reject_constant)
    except Exception:
        return text


# ---------------------------------------------------------------- hwinfo

BRANDS = [
    "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "AMD EPYC 7B13",
    "AMD EPYC 7R13 Processor", "Intel(R) Core(TM)2 Duo CPU     E8400  @ 3.00GHz", "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz",
    "Intel(R) Pentium(R) 4 CPU 3.00GHz", "Intel(R) Pentium(R) III CPU - S 1400MHz", "Intel(R) Pentium(R) M processor 1.73GHz",
    "Pentium II (Deschutes)", "Pentium MMX", "Intel(R) Pentium(R) Pro", "PentiumPro", "Intel(R) Celeron(R) CPU 2.80GHz",
    "AMD Athlon(tm) 64 Processor 3200+", "AMD Athlon(tm) MP 2800+", "AMD Athlon HX", "AMD-K6(tm) 3D processor", "AMD-K7(tm) Processor",
    "AMD Opteron(tm) Processor 6272", "Dual Core AMD Opteron(tm) Processor 280", "AMD Hammer Family", "Intel(R) Itanium(R) 2",
    "Genuine Intel(R) CPU 0000 @ 1.80GHz", "QEMU Virtual CPU version 2.5+", "Neoverse-N1", "POWER9 (architected), altivec supported",
    "POWER8NVL", "power7+ (raw)", "xeon", "XEONS", "Xeon_Phi", "Intel Xeon(R) CPU @ 2.2 GHz", "3.5ghz", "@ 2.40 GHz", "1.5.2GHz",
    "12.GHz", "x.5MHz", "800 MHz", "2.0 KHz", "66mhz", "1GHzz", "Pentium 4x", "Pentium IV", "PentiumIIII", "Pentium4", "Pentium_4",
    "Pentium\u00b2 4", "", "   ", "\u0130ntel XEON", "XEON\u00e9",
]
FLAG_SETS = ["fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm pni ssse3",
             "fpu mmx sse sse2 pni lm", "3dnow 3dnowext mmx", "3dnowprefetch sse4_1 sse4_2", "sse2_x mmxext", "", "ssse3", "lm pni",
             "fp asimd evtstrm aes pmull sha1 sha2 crc32"]
VENDORS = ["GenuineIntel", "AuthenticAMD", "CentaurHauls", None]
FAMILIES = ["6", "15", "5", "23", None]


def processor_blocks(rng):
    blocks = [{}]
    for brand in BRANDS:
        for flags in FLAG_SETS[:3]:
            blocks.append({"model name": brand, "flags": flags, "vendor_id": "GenuineIntel", "cpu family": "6", "model": "2"})
    for _ in range(3000):
        block = {}
        for key, choices in (("model name", BRANDS), ("flags", FLAG_SETS), ("vendor_id", VENDORS), ("cpu family", FAMILIES),
                             ("model", ["2", "3", "85", None]), ("cpu", ["Alpha", "i486", "POWER9 altivec", "POWER8", None]),
                             ("cpu model", ["EV4", "EV5", "EV56", "PCA56", None]), ("family", ["Itanium 2", "IA-64", None]),
                             ("f00f_bug", ["yes", "no", None]), ("fdiv_bug", ["yes", "no", None])):
            value = rng.choice(choices)
            if value is not None:
                block[key] = value
        blocks.append(block)
    return blocks


def fuzz(rng, alphabet, count):
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(count)]


def check_hwinfo():
    rng = random.Random(14)
    blocks = processor_blocks(rng)
    real = hwinfo._proc_cpuinfo()[0]
    for machine in ("x86_64", "ppc64le"):
        hwinfo._machine = lambda machine=machine: machine
        oracle.platform.machine = lambda machine=machine: machine
        for block in blocks + real[:1]:
            for count in (1, 2):
                same("cpu_type %s %r" % (machine, block), hwinfo.cpu_type([block] * count), oracle.cpu_type([block] * count))
    for brand in BRANDS + fuzz(rng, "0123456789..GgMmKkHhZz \t@x", 20000):
        same("_hz_from_brand %r" % brand, outcome(hwinfo._hz_from_brand, brand), outcome(oracle._hz_from_brand, brand))
    for size in ["48K", "2048 KB", " 32 kib ", "1M", "3MiB", "12G", "512", "x", "", "K", "10 Q", "10KK", "10 i", "7 B", "8ib", "9\nK",
                 "1.5K", "0"] + fuzz(rng, "0123456789KkMmGgIiBb \t\nx", 20000):
        same("_size_to_bytes %r" % size, outcome(hwinfo._size_to_bytes, size), outcome(oracle._size_to_bytes, size))
    for machine in ["x86_64", "AMD64", "i386", "i486", "i586", "i686", "i786", "i86", "x86", "i86pc", "aarch64", "arm64", "armv8l",
                    "armv7l", "ppc64", "ppc64le", "ppc", "s390x", "riscv64", "riscv32", "mips", "", None, "I686", "ia86"]:
        same("_arch %r" % machine, hwinfo._arch(machine), oracle._arch(machine))


def check_platform():
    same("platform_info", hwinfo.platform_info(), oracle.platform_info())
    same("_nbits", hwinfo._nbits(), oracle._nbits())


checks = {"json": check_json, "hwinfo": lambda: (check_platform(), check_hwinfo())}
checks[sys.argv[2]]()
sys.stdout.write(json.dumps({"checked": checked[0], "mismatches": mismatches}) + "\n")
