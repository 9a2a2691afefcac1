/**
 * CPU time of the calling thread (`/proc/thread-self/schedstat`, in
 * nanoseconds), so that each stage of the distribution can be charged what
 * it costs whatever else runs on the machine; 0 where /proc is missing.
 */

/** CPU milliseconds the calling thread has used. */
export function threadCpuMs(): number {
  try {
    const text = Deno.readTextFileSync("/proc/thread-self/schedstat");
    return Number(text.slice(0, text.indexOf(" "))) / 1e6;
  } catch {
    return 0;
  }
}
