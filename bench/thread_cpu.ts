/**
 * CPU time of a process per thread, from `/proc/<pid>/task/<tid>/stat`
 * (Linux), grouped by what the thread does in a Deno process: the main
 * thread, Workers (`worker-N`), the blocking pool that runs file system calls
 * and fsyncs (`tokio-runtime-w`), V8's own threads (GC, compiler) and others.
 * Threads that ended between two readings are counted from the process's own
 * total, as `exited`.
 */

/** The threads' CPU ticks at one moment. */
export interface CpuReading {
  at: number;
  /** utime + stime of the whole process, ticks (includes threads that ended). */
  processTicks: number;
  threads: Map<number, { name: string; ticks: number }>;
}

/** CPU seconds between two readings, per kind of thread. */
export interface ThreadCpu {
  /** Every thread, in CPU seconds. */
  totalSeconds: number;
  /** CPU seconds per second of wall time (2 = both cores of a 2-core machine). */
  cores: number;
  main: number;
  workers: number;
  /** The blocking pool: file writes, fsyncs, renames. */
  io: number;
  v8: number;
  other: number;
  /** Threads that ended between the readings. */
  exited: number;
}

/** Clock ticks per second of /proc figures (USER_HZ, 100 on Linux). */
const TICKS = 100;

function ticksOf(stat: string): number {
  // Fields after the parenthesised name, which may hold spaces: utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Reads every thread's CPU ticks; null when /proc is not there (not Linux) or the process ended. */
export async function readThreadCpu(pid: number): Promise<CpuReading | null> {
  try {
    const threads = new Map<number, { name: string; ticks: number }>();
    for await (const entry of Deno.readDir(`/proc/${pid}/task`)) {
      const tid = Number(entry.name);
      try {
        const name = (await Deno.readTextFile(`/proc/${pid}/task/${tid}/comm`)).trim();
        const ticks = ticksOf(await Deno.readTextFile(`/proc/${pid}/task/${tid}/stat`));
        threads.set(tid, { name, ticks });
      } catch {
        // The thread ended while we listed: the process total still holds its time.
      }
    }
    const processTicks = ticksOf(await Deno.readTextFile(`/proc/${pid}/stat`));
    return { at: performance.now(), processTicks, threads };
  } catch {
    return null;
  }
}

function kindOf(tid: number, pid: number, name: string): keyof Omit<ThreadCpu, "totalSeconds"> {
  if (tid === pid) return "main";
  if (name.startsWith("worker-")) return "workers";
  if (name.startsWith("tokio-runtime")) return "io";
  if (name.startsWith("V8 ")) return "v8";
  return "other";
}

/** CPU seconds per kind of thread between two readings of process `pid`. */
export function cpuBetween(pid: number, before: CpuReading, after: CpuReading): ThreadCpu {
  const out: ThreadCpu = {
    totalSeconds: 0,
    cores: 0,
    main: 0,
    workers: 0,
    io: 0,
    v8: 0,
    other: 0,
    exited: 0,
  };
  let seen = 0;
  for (const [tid, t] of after.threads) {
    const ticks = t.ticks - (before.threads.get(tid)?.ticks ?? 0);
    out[kindOf(tid, pid, t.name)] += ticks / TICKS;
    seen += ticks;
  }
  const total = after.processTicks - before.processTicks;
  out.exited = Math.max(0, total - seen) / TICKS;
  out.totalSeconds = total / TICKS;
  out.cores = out.totalSeconds / ((after.at - before.at) / 1000);
  for (const key of Object.keys(out) as (keyof ThreadCpu)[]) {
    out[key] = Math.round(out[key] * 100) / 100;
  }
  return out;
}

/** The load average over the last minute, 5 and 15 minutes (`/proc/loadavg`), or null. */
export function loadAverage(): [number, number, number] | null {
  try {
    const [a, b, c] = Deno.readTextFileSync("/proc/loadavg").split(" ").map(Number);
    return [a, b, c];
  } catch {
    return null;
  }
}
