/**
 * The plugin processes a Fink process has started, as /proc shows them (tests and benchmarks
 * that watch them from outside; their CPU time: `processCpuMs` of core/plugins/process.ts).
 */

/** The fields of `/proc/<pid>/stat` after the command name (in parentheses, may hold spaces). */
function statFields(pid: number | string): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/**
 * The pids of the plugin processes (`core/plugins/child.ts <plugin> run`, not their probes)
 * that `parent` has started, only those of plugin file `<name>.ts` when `name` is given.
 */
export function pluginProcesses(parent: number, name?: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if (Number(statFields(entry.name)[1]) !== parent) continue;
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      const child = args.some((a) => a.endsWith("core/plugins/child.ts")) && args.includes("run");
      if (child && (name === undefined || args.some((a) => a.endsWith(`/${name}.ts`)))) {
        found.push(Number(entry.name));
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  return found;
}
