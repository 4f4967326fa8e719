/**
 * Checks of the harness's `usage` (getrusage of the script's process tree) against workloads
 * whose true figures are known independently of it, bounded from both sides.
 *
 * One script, run twice through whatever is under test (the harness itself, an executor):
 * - item 0 is the baseline: it does nothing and reports its own figures;
 * - any other item is the workload: it burns 1 s of user CPU in pure Python, then 0.5 s of
 *   system time reading /dev/zero into a reused buffer, writes every byte of a 150 MiB block and
 *   sleeps 300 times for 2 ms (each sleep blocks once: one voluntary context switch).
 * Each run prints what the script measured on itself, by means other than getrusage: user and
 * system time from times(2) (`os.times()`, 10 ms ticks), the high-water mark of its resident set
 * and its voluntary context switches from /proc/self/status. The harness's figures must lie
 * between that measurement (less a tick or a counter's rounding) and that measurement plus what
 * the script's interpreter does after it printed (its teardown), which is small: a few
 * hundredths of a second, a couple of context switches.
 *
 * The tolerances are CPU time, not wall time, so a loaded machine stretches the run but not the
 * figures; they are wide enough for noise and far narrower than the errors they are there to
 * catch (a harness reporting ru_utime*10+7, ru_stime+3 or ru_maxrss=1 fails each of them).
 */
import type { RunReport } from '../../functions/core/generated/types.js';

export const CPU_SECONDS = 1.0;
export const SYSTEM_SECONDS = 0.5;
export const BLOCK_MIB = 150;
export const SLEEPS = 300;

/** times(2) counts in 10 ms ticks and rounds down; getrusage counts in microseconds. */
const TICK_SECONDS = 0.02;
/** CPU time the interpreter may spend after the script printed its measurement (teardown, freeing 150 MiB). */
const TEARDOWN_CPU_SECONDS = 0.25;
/** RSS counters are per-CPU and read approximately: the two readings may differ by a little. */
const RSS_ROUNDING_KIB = 4 * 1024;
/** What the resident set may grow by after the script's own reading. */
const RSS_TEARDOWN_KIB = 16 * 1024;
/** An empty script's high-water mark, or the harness's own where its child shares it until exec. */
const BASELINE_RSS_CAP_KIB = 64 * 1024;
/** Voluntary context switches after the script's own reading (its exit, a page of output). */
const NVCSW_SLACK = 30;

export const RUSAGE_SCRIPT = `import json, os, re, time

def own():
    times = os.times()
    with open("/proc/self/status") as handle:
        status = handle.read()
    def field(name):
        return int(re.search(r"^%s:\\s+(\\d+)" % name, status, re.M).group(1))
    return {"user": times.user, "system": times.system, "hwm_kib": field("VmHWM"), "nvcsw": field("voluntary_ctxt_switches")}

block = b""
if os.environ.get("AMUN_ITEM", "0") != "0":
    # user CPU: pure Python until times(2) says ${CPU_SECONDS} s
    x = 0
    while os.times().user < ${CPU_SECONDS}:
        for i in range(20000):
            x += i
    # system time: the kernel fills a reused 64 KiB buffer from /dev/zero
    fd = os.open("/dev/zero", os.O_RDONLY)
    buffer = bytearray(1 << 16)
    start = os.times().system
    while os.times().system - start < ${SYSTEM_SECONDS}:
        for _ in range(200):
            os.readv(fd, [buffer])
    os.close(fd)
    # resident memory: every byte of the block is written
    block = b"\\x01" * (${BLOCK_MIB} << 20)
    # voluntary context switches: each sleep blocks once
    for _ in range(${SLEEPS}):
        time.sleep(0.002)
print(json.dumps({"own": own(), "block": len(block)}))
`;

export interface OwnMeasure {
  user: number;
  system: number;
  hwm_kib: number;
  nvcsw: number;
}

const CHECKED = ['ru_utime', 'ru_stime', 'ru_maxrss', 'ru_nvcsw'] as const;
export type Usage = Record<(typeof CHECKED)[number], number>;

export interface Measured {
  report: RunReport;
  own: OwnMeasure;
  usage: Usage;
}

/** The report's usage beside the script's own measurement; fails when the script did not run through. */
export function measured(report: RunReport): Measured {
  expect({ exit_code: report.exit_code, reason: report.reason, stderr: report.stderr }).toEqual({ exit_code: 0, reason: null, stderr: '' });
  const stdout = report.stdout as { own: OwnMeasure; block: number };
  expect(Object.keys(stdout.own).sort()).toEqual(['hwm_kib', 'nvcsw', 'system', 'user']);
  for (const field of CHECKED) expect({ field, type: typeof report.usage[field] }).toEqual({ field, type: 'number' });
  return { report, own: stdout.own, usage: report.usage as Usage };
}

/** The baseline run (item 0, an empty script): every figure between its own measurement and that plus teardown. */
export function expectEmptyScriptFigures({ own, usage }: Measured): void {
  expect(usage.ru_utime).toBeGreaterThanOrEqual(own.user - TICK_SECONDS);
  expect(usage.ru_utime).toBeLessThanOrEqual(own.user + TEARDOWN_CPU_SECONDS);
  expect(usage.ru_stime).toBeGreaterThanOrEqual(own.system - TICK_SECONDS);
  expect(usage.ru_stime).toBeLessThanOrEqual(own.system + TEARDOWN_CPU_SECONDS);
  expect(usage.ru_maxrss).toBeGreaterThanOrEqual(own.hwm_kib - RSS_ROUNDING_KIB);
  expect(usage.ru_maxrss).toBeLessThanOrEqual(BASELINE_RSS_CAP_KIB);
  expect(usage.ru_nvcsw).toBeGreaterThanOrEqual(own.nvcsw);
  expect(usage.ru_nvcsw).toBeLessThanOrEqual(own.nvcsw + NVCSW_SLACK);
}

/**
 * The usage suite for one way of running a script: `runs()` gives the baseline (item 0) and the
 * workload (item 1) reports of RUSAGE_SCRIPT, once for all the tests.
 */
export function describeUsageChecks(runs: () => { baseline: Measured; workload: Measured }): void {
  it('reports an empty script as small as it measured itself', () => {
    expectEmptyScriptFigures(runs().baseline);
  });

  it(`ru_utime: the ${CPU_SECONDS} s CPU burn, within a tick below and ${TEARDOWN_CPU_SECONDS} s above the script's own user time`, () => {
    const { own, usage } = runs().workload;
    expect(own.user).toBeGreaterThanOrEqual(CPU_SECONDS);
    expect(usage.ru_utime).toBeGreaterThanOrEqual(CPU_SECONDS - TICK_SECONDS);
    expect(usage.ru_utime).toBeGreaterThanOrEqual(own.user - TICK_SECONDS);
    expect(usage.ru_utime).toBeLessThanOrEqual(own.user + TEARDOWN_CPU_SECONDS);
  });

  it(`ru_stime: the ${SYSTEM_SECONDS} s of /dev/zero reads, within a tick below and ${TEARDOWN_CPU_SECONDS} s above the script's own system time`, () => {
    const { own, usage } = runs().workload;
    expect(own.system).toBeGreaterThanOrEqual(SYSTEM_SECONDS);
    expect(usage.ru_stime).toBeGreaterThanOrEqual(SYSTEM_SECONDS - TICK_SECONDS);
    expect(usage.ru_stime).toBeGreaterThanOrEqual(own.system - TICK_SECONDS);
    expect(usage.ru_stime).toBeLessThanOrEqual(own.system + TEARDOWN_CPU_SECONDS);
  });

  it(`ru_maxrss: the ${BLOCK_MIB} MiB block, at least its size and at most the script's own high-water mark plus a little`, () => {
    const { baseline, workload } = runs();
    const { own, usage } = workload;
    expect(usage.ru_maxrss).toBeGreaterThanOrEqual(BLOCK_MIB * 1024);
    expect(usage.ru_maxrss).toBeGreaterThanOrEqual(own.hwm_kib - RSS_ROUNDING_KIB);
    expect(usage.ru_maxrss).toBeLessThanOrEqual(own.hwm_kib + RSS_TEARDOWN_KIB);
    // the block on top of an empty interpreter, no more
    expect(usage.ru_maxrss).toBeLessThanOrEqual(BLOCK_MIB * 1024 + Math.min(baseline.usage.ru_maxrss, BASELINE_RSS_CAP_KIB) + RSS_TEARDOWN_KIB);
  });

  it(`ru_nvcsw: the ${SLEEPS} sleeps, at least one switch each and at most ${NVCSW_SLACK} more than the script counted`, () => {
    const { baseline, workload } = runs();
    const { own, usage } = workload;
    expect(own.nvcsw).toBeGreaterThanOrEqual(SLEEPS);
    expect(usage.ru_nvcsw).toBeGreaterThanOrEqual(SLEEPS);
    expect(usage.ru_nvcsw).toBeGreaterThanOrEqual(own.nvcsw);
    expect(usage.ru_nvcsw).toBeLessThanOrEqual(own.nvcsw + NVCSW_SLACK);
    // the sleeps on top of an empty script, no more
    expect(usage.ru_nvcsw).toBeLessThanOrEqual(SLEEPS + Math.min(baseline.usage.ru_nvcsw, NVCSW_SLACK) + NVCSW_SLACK);
  });
}
