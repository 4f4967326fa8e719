/** CPU time of one thread, for the benchmarks that split a process's CPU among its threads. */
import { readFileSync } from 'node:fs';

/** CPU time (user + system) of the calling thread in ms, from /proc/thread-self/stat (Linux); NaN elsewhere. */
export function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}
