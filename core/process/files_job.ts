/**
 * `--source files:PATH` is a job: it ends when the archive has every file
 * AND every stream plugin has durable results up to the archive's committed
 * offsets, then says what it did. Only status data is read (the archive's
 * counters, each plugin service's status and its progress files), so it does
 * not depend on how the plugin host runs the plugins.
 */
import type { ArchiveStats } from "../archive/stats.ts";
import type { ProgressStore } from "../plugins/progress.ts";
import type { PluginDetails } from "../plugins/bus.ts";
import { TopicPartitionMap } from "../source/topic_partition.ts";
import type { ServiceStatus } from "../services/service.ts";

/** One stream plugin at the end of a files job. */
export interface PluginOutcome {
  name: string;
  /** Result rows it produced in this process. */
  results: number;
  /** Whether its results reach the archive's committed offsets. */
  caughtUp: boolean;
  /** Why it did not finish cleanly (failed, errors), when it did not. */
  failure: string | null;
}

/** What a files job reports when it ends. */
export interface FilesJobSummary {
  source: string;
  archived: number;
  quarantined: number;
  plugins: PluginOutcome[];
}

/** What the job reads of a plugin service's details. */
export type PluginJobDetails = Pick<
  PluginDetails,
  "kind" | "rows" | "errors" | "lastError" | "feed"
>;

/** Where {@link waitForStreamPlugins} reads the figures it needs. */
export interface FilesJobInputs {
  stats: ArchiveStats;
  progress: ProgressStore;
  /** The plugin services' statuses, as `/api/services` lists them. */
  plugins: () => ServiceStatus<PluginJobDetails>[];
}

/** Options of {@link waitForStreamPlugins}. */
export interface WaitOptions {
  /** Ends the wait early (the process is asked to stop). */
  signal?: AbortSignal;
  /** Called about every `reportMs` while plugins are behind, with a one-line description. */
  report?: (line: string) => void;
  reportMs?: number;
  pollMs?: number;
}

const RUNNING = new Set(["running", "starting"]);

/**
 * Resolves once every running stream plugin's durable progress reaches the
 * archive's committed offsets (plugins that failed or were stopped are not
 * waited for: the summary names them), or the signal aborts.
 */
export async function waitForStreamPlugins(
  inputs: FilesJobInputs,
  options: WaitOptions = {},
): Promise<void> {
  const { signal, report, reportMs = 5000, pollMs = 200 } = options;
  let lastReport = Date.now();
  while (!signal?.aborted) {
    const behind: string[] = [];
    for (const plugin of streamPlugins(inputs.plugins())) {
      if (!RUNNING.has(plugin.state)) continue;
      const missing = await behindBy(inputs, plugin);
      if (missing > 0) {
        const error = plugin.error ?? plugin.details?.lastError;
        behind.push(
          `${plugin.name} ${missing} alerts behind${error ? ` (last error: ${error})` : ""}`,
        );
      }
    }
    if (behind.length === 0) return;
    if (report !== undefined && Date.now() - lastReport >= reportMs) {
      lastReport = Date.now();
      report(`waiting for plugins to catch up with the archive: ${behind.join(", ")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** The summary of the job as it stands. */
export async function filesJobSummary(
  source: string,
  inputs: FilesJobInputs,
): Promise<FilesJobSummary> {
  let archived = 0;
  let quarantined = 0;
  for (const p of inputs.stats.partitions.values()) {
    archived += p.archived;
    quarantined += p.quarantined;
  }
  const plugins: PluginOutcome[] = [];
  for (const plugin of streamPlugins(inputs.plugins())) {
    const errors = plugin.details?.errors ?? 0;
    const lastError = plugin.error ?? plugin.details?.lastError ?? null;
    const caughtUp = (await behindBy(inputs, plugin)) === 0;
    const failure = plugin.state === "failed"
      ? `failed: ${lastError ?? "see the log"}`
      : errors > 0
      ? `${errors} failed batches, last: ${lastError ?? "see the log"}`
      : !caughtUp
      ? `stopped before catching up (${plugin.state})`
      : null;
    plugins.push({ name: plugin.name, results: plugin.details?.rows ?? 0, caughtUp, failure });
  }
  return { source, archived, quarantined, plugins };
}

/** The summary as printed at the end of the job, one line per item. */
export function formatSummary(summary: FilesJobSummary): string[] {
  const lines = [
    `${summary.source}: ${summary.archived} alerts archived, ${summary.quarantined} quarantined`,
  ];
  for (const p of summary.plugins) {
    lines.push(`  ${p.name}: ${p.results} results${p.failure === null ? "" : `; ${p.failure}`}`);
  }
  const failed = summary.plugins.filter((p) => p.failure !== null).map((p) => p.name);
  if (failed.length > 0) lines.push(`failures: ${failed.join(", ")}`);
  return lines;
}

function streamPlugins(
  plugins: ServiceStatus<PluginJobDetails>[],
): ServiceStatus<PluginJobDetails>[] {
  return plugins.filter((s) => s.details?.kind === "stream");
}

/**
 * Archived alerts (offsets) whose results from `plugin` are not durable yet:
 * per partition the plugin service's own `feed.behind` figure when it reports
 * one (a plugin new to an archive starts at its end), else its progress file.
 */
async function behindBy(
  inputs: FilesJobInputs,
  plugin: ServiceStatus<PluginJobDetails>,
): Promise<number> {
  const feed = plugin.details?.feed;
  const progress = await inputs.progress.streamProgress(plugin.name) ??
    new TopicPartitionMap<bigint>();
  let behind = 0;
  for (const p of inputs.stats.partitions.values()) {
    if (p.committedOffset === null) continue;
    const reported = feed?.behind.get(p);
    const end = BigInt(p.committedOffset) + 1n;
    const next = progress.get(p) ?? 0n;
    behind += typeof reported === "number"
      ? Math.max(0, reported)
      : next < end
      ? Number(end - next)
      : 0;
  }
  return behind;
}
