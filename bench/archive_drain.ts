/**
 * Archive drain: real ZTF alerts from Kafka to durable Parquet, the backlog
 * replayed by the simulator; the drain rate the plugin, anomaly and
 * dashboard benchmarks compare themselves with (`bench/archive_bench.ts`
 * judges the archive against the disk, in three shapes of stream).
 *
 * A simulator process fills the embedded broker (on disk) with a backlog of
 * real alerts; an archive process then drains it. Measured: alerts/s and MB/s
 * of the drain, the CPU time the archive process spent on it (every thread:
 * Workers, plugins' hosts; from /proc, a figure a loaded machine does not
 * inflate as it does wall-clock time), its peak memory (VmHWM, Workers
 * included), and the broker-to-durable latency p50/p99 of a live stream sent
 * at a steady rate while the archive runs. Optionally a stream plugin runs in
 * the archive process during the drain: then also how long until it has
 * results for the whole backlog, and the CPU time of its own process per alert.
 */
import { join } from "node:path";
import { TopicPartitionMap } from "../core/source/topic_partition.ts";
import { replay } from "../simulator/replayer/mod.ts";
import { processCpuMs } from "../core/plugins/process.ts";
import { ProgressStore } from "../core/plugins/progress.ts";
import { openStorage } from "../core/storage/mod.ts";
import { freePort } from "../tests/support/fink_process.ts";
import { pluginProcesses } from "../tests/support/processes.ts";
import type { ArchiveSnapshot } from "../core/archive/service.ts";
import {
  archiveStatus,
  openLivePage,
  peakMemoryMB,
  services,
  SHARED,
  spawnFink,
  stopAll,
  until,
} from "./fink_children.ts";

/** Options of {@link runArchiveDrain}. */
export interface ArchiveDrainOptions {
  /** Alerts in the backlog, the burst (default 100,000, as issue 3's memory goal says). */
  alerts?: number;
  /** Folder of real alerts, cycled (default the shared 2020-01-01 ZTF night). */
  source?: string;
  /** Live stream rate in alerts/s for the latency phase (default 1,000; with the default 10 s it fills the latency sample). */
  liveRate?: number;
  /** Seconds of live stream (default 10). */
  liveSeconds?: number;
  /** Keep the dashboard's live page open in headless Chromium during the drain (default false). */
  dashboard?: boolean;
  /**
   * A stream plugin the archive process runs during the drain, from its own plugin folder
   * (inside the project, so that its imports resolve); it reads the backlog from its first
   * alert. Default none (an empty plugin folder).
   */
  plugin?: { dir: string; name: string };
}

/** The plugin of {@link ArchiveDrainOptions.plugin} during the drain. */
export interface PluginDrainResult {
  name: string;
  /** From the first archived alert until the plugin has returned rows for the whole backlog. */
  doneSeconds: number;
  alertsPerSecond: number;
  /** CPU time (user + system) of the plugin's own process per alert. */
  cpuUsPerAlert: number;
  /** Mean alerts per batch the plugin got (the archive's batches, or catch-up reads). */
  alertsPerBatch: number;
}

/** What {@link runArchiveDrain} measured. */
export interface ArchiveDrainResult {
  alerts: number;
  drainSeconds: number;
  alertsPerSecond: number;
  megabytesPerSecond: number;
  /** CPU time (user + system, every thread) of the archive process per alert drained. */
  cpuUsPerAlert: number;
  peakMemoryMB: number;
  /** CPU seconds (user + system, every thread) the archive process spent during the drain. */
  drainCpuSeconds: number;
  /** The same per 1,000 alerts archived. */
  cpuMsPerThousandAlerts: number;
  /** Alerts drained per second of the archive process's CPU time (all its threads). */
  alertsPerCpuSecond: number;
  dashboardOpen: boolean;
  live: { rate: number; sent: number; latencyP50Ms: number | null; latencyP99Ms: number | null };
  /** Present when a plugin ran during the drain. */
  plugin?: PluginDrainResult;
}

/** Waits until the plugin has returned rows for the whole backlog; its rate and CPU per alert. */
async function pluginDone(
  plugin: { name: string; stateDir: string; alerts: number; pids: number[] },
  from: { t: number; cpuMs: number },
): Promise<PluginDrainResult> {
  if (plugin.pids.length === 0) {
    throw new Error(`Benchmark found no process of plugin ${plugin.name} once the drain began`);
  }
  const done = await until(`plugin ${plugin.name} to process the backlog`, async () => {
    const status = (await services(plugin.stateDir))?.find((s) => s.name === plugin.name);
    if (status?.state === "failed") {
      throw new Error(`Plugin ${plugin.name} failed: ${status.error}`);
    }
    const details = status?.details as { rows: number; batches: number } | undefined;
    return details !== undefined && details.rows >= plugin.alerts
      ? { t: performance.now(), batches: details.batches }
      : null;
  }, 1_800_000);
  const cpuMs = plugin.pids.reduce((ms, pid) => ms + (processCpuMs(pid) ?? 0), 0) - from.cpuMs;
  const seconds = (done.t - from.t) / 1000;
  return {
    name: plugin.name,
    doneSeconds: Math.round(seconds * 100) / 100,
    alertsPerSecond: Math.round(plugin.alerts / seconds),
    cpuUsPerAlert: Math.round(cpuMs * 1000 / plugin.alerts),
    alertsPerBatch: Math.round(plugin.alerts / done.batches),
  };
}

/** Runs the benchmark; every process it starts is stopped before it returns. */
export async function runArchiveDrain(
  options: ArchiveDrainOptions = {},
): Promise<ArchiveDrainResult> {
  const alerts = options.alerts ?? 100_000;
  const source = options.source ?? join(SHARED, "ztf/alerts/fink-broker-local-20200101");
  const liveRate = options.liveRate ?? 1000;
  const liveSeconds = options.liveSeconds ?? 10;
  const dir = await Deno.makeTempDir({ prefix: "fink-bench-" });
  const port = freePort();
  await Deno.mkdir(join(dir, "plugins"));
  const common = [`--set=plugins.dir=${options.plugin?.dir ?? join(dir, "plugins")}`];
  const children: Deno.ChildProcess[] = [];
  try {
    const sim = spawnFink([
      "start",
      "simulator",
      ...common,
      `--set=simulator.port=${port}`,
      `--set=simulator.data_dir=${join(dir, "broker")}`,
      `--set=simulator.source=${source}`,
      `--set=simulator.observations=${Math.ceil(alerts / 1000)}`,
      "--set=simulator.alerts_per_observation=1000",
      "--set=simulator.interval_s=0",
      "--set=simulator.partitions=4",
    ], join(dir, "sim"));
    children.push(sim);
    if (options.plugin !== undefined) {
      // As if it had run here before: it reads the new topic from its first offset.
      await new ProgressStore(openStorage(join(dir, "science"))).markStarted(
        options.plugin.name,
        new TopicPartitionMap(),
      );
    }
    await until("the backlog to be sent", async () => {
      const simulator = (await services(join(dir, "sim")))?.find((s) => s.name === "simulator");
      const replayed = (simulator?.details as { replay?: { finished: boolean } } | undefined)
        ?.replay;
      return replayed?.finished ? replayed : null;
    }, 600_000);

    const archive = spawnFink([
      "start",
      "archive",
      ...common,
      `--set=kafka.brokers=127.0.0.1:${port}`,
      "--set=kafka.topics=ztf-sim",
      `--set=archive.root=${join(dir, "archive")}`,
      `--set=science.root=${join(dir, "science")}`,
    ], join(dir, "archive-state"));
    children.push(archive);
    const page = options.dashboard ? await openLivePage(join(dir, "archive-state")) : null;
    const first = await until("the first archived alert", async () => {
      const doc = await archiveStatus(join(dir, "archive-state"));
      return doc !== null && doc.totals.received > 0
        ? { t: performance.now(), doc, cpuMs: processCpuMs(archive.pid) ?? 0 }
        : null;
    }, 120_000);
    const pluginPids = options.plugin === undefined ? [] : pluginProcesses(archive.pid);
    const pluginCpuAtFirst = pluginPids.reduce((ms, pid) => ms + (processCpuMs(pid) ?? 0), 0);
    const last = await until("the backlog to be archived", async () => {
      const doc = await archiveStatus(join(dir, "archive-state"));
      return doc !== null && doc.totals.archived >= alerts
        ? { t: performance.now(), doc, cpuMs: processCpuMs(archive.pid) ?? 0 }
        : null;
    }, 1_800_000);
    const drainSeconds = (last.t - first.t) / 1000;
    const drainCpuMs = last.cpuMs - first.cpuMs;
    const archived = last.doc.totals.archived - first.doc.totals.archived;
    const plugin = options.plugin === undefined ? undefined : await pluginDone(
      { ...options.plugin, stateDir: join(dir, "archive-state"), alerts, pids: pluginPids },
      { t: first.t, cpuMs: pluginCpuAtFirst },
    );
    const bytesIn = (doc: ArchiveSnapshot) => doc.partitions.reduce((n, p) => n + p.bytesIn, 0);
    const bytes = bytesIn(last.doc) - bytesIn(first.doc);
    const peak = await peakMemoryMB(archive.pid);
    await page?.close();

    const live = replay({
      brokers: [`127.0.0.1:${port}`],
      topic: "ztf-sim",
      source,
      observations: 1,
      alertsPerObservation: liveRate * liveSeconds,
      rate: liveRate,
    });
    const sent = await live.done;
    const target = alerts + sent.sent;
    const settled = await until("the live stream to be archived", async () => {
      const doc = await archiveStatus(join(dir, "archive-state"));
      return doc !== null && doc.totals.archived >= target ? doc : null;
    }, 120_000);
    const latency = settled.latencyMs;
    return {
      alerts,
      drainSeconds: Math.round(drainSeconds * 100) / 100,
      alertsPerSecond: Math.round(archived / drainSeconds),
      megabytesPerSecond: Math.round(bytes / 1e6 / ((last.t - first.t) / 1000) * 10) / 10,
      cpuUsPerAlert: Math.round((last.cpuMs - first.cpuMs) * 1000 / archived),
      peakMemoryMB: peak,
      drainCpuSeconds: Math.round(drainCpuMs / 10) / 100,
      cpuMsPerThousandAlerts: Math.round(drainCpuMs / archived * 1000),
      alertsPerCpuSecond: Math.round(archived / (drainCpuMs / 1000)),
      dashboardOpen: page !== null,
      live: {
        rate: liveRate,
        sent: sent.sent,
        latencyP50Ms: latency.p50,
        latencyP99Ms: latency.p99,
      },
      ...(plugin === undefined ? {} : { plugin }),
    };
  } finally {
    await stopAll(children);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const alerts = Number(Deno.args.find((a) => a.startsWith("--alerts="))?.slice(9) ?? 100_000);
  const dashboard = Deno.args.includes("--dashboard");
  console.log(JSON.stringify(await runArchiveDrain({ alerts, dashboard }), null, 2));
}
