/**
 * Plugin host benchmarks, `deno task bench plugins`:
 *
 * - the round trip of a batch of 1,000 real ZTF alerts from `dispatch` to the
 *   trivial plugin's results written as Parquet (Arrow IPC serialisation, the
 *   pipe to the plugin process, decode, process, row check, the pipe back,
 *   Parquet write and rename). Goal: p99 under 20 ms;
 * - the real `classify` plugin's throughput (plugins/classify.ts, its catalogs
 *   in plugins/data/), wall-clock and per CPU-second of its process, beside the
 *   archive's drain rate measured in the same run (bench/archive_drain.ts, a
 *   smaller backlog than the README's) and the README's figure: classify must
 *   keep up with the archive.
 *
 * Run directly to print JSON: `deno run -A bench/plugin_bench.ts`.
 */
import { fileURLToPath } from "node:url";
import { runArchiveDrain } from "./archive_drain.ts";
import { createPluginHost } from "../core/plugins/host.ts";
import { createParquetSink } from "../core/plugins/results.ts";
import { processCpuMs } from "../core/plugins/process.ts";
import { EventLog, installPlugin, tempRoot } from "../tests/fixtures/plugins/install.ts";
import { pluginProcesses } from "../tests/support/processes.ts";
import {
  eventHour,
  readZtfAlerts,
  type ZtfAlert,
  ztfBatch,
} from "../tests/fixtures/plugins/ztf_batch.ts";
import { sharedData } from "../tests/shared_data.ts";

/** Options of {@link runPluginBench}. */
export interface PluginBenchOptions {
  /** Alerts per batch (real alerts repeated to reach it). Default 1,000. */
  alerts?: number;
  /** Measured batches. Default 200 (so the p99 is not the single slowest batch). */
  iterations?: number;
  /** Unmeasured batches first. Default 5. */
  warmup?: number;
  /** Keep the three cutouts in the dispatched table (the plugin's `columns` drops them). Default true. */
  cutouts?: boolean;
  /**
   * Alert folders under `ztf/alerts/` of the shared data. Default: one night (2020-01-01, so one
   * result file per batch); the three folders of {@link SPREAD_FOLDERS} span 20 event hours.
   */
  folders?: string[];
}

/** What {@link runPluginBench} measured, in milliseconds. */
export interface PluginBenchResult {
  alerts: number;
  iterations: number;
  cutouts: boolean;
  /** Distinct event hours in a batch = Parquet files written per batch. */
  eventHours: number;
  /** dispatch → results written. */
  roundTripMs: { p50: number; p99: number; mean: number; max: number };
  /** The synchronous `dispatch` call alone (projection + IPC serialisation + enqueue). */
  dispatchMs: { p50: number; p99: number };
  /**
   * Batch sent to the plugin process → its rows back and checked (the `batch` event's `ms`):
   * the round trip without the fsync'd result write, whose tail is the disk's.
   */
  processMs: { p50: number; p99: number };
  goalMs: number;
  withinGoal: boolean;
}

/** Three nights of real alerts (2018, 2020, 2023): 20 event hours in a batch of 1,000. */
export const SPREAD_FOLDERS: readonly string[] = [
  "fink-broker-local-20200101",
  "fink-broker-all-distribute-20231018",
  "fink-alert-simulator-v3.1-20181129",
];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Measures the host → plugin process → results-written round trip for the trivial plugin. */
export async function runPluginBench(options: PluginBenchOptions = {}): Promise<PluginBenchResult> {
  const count = options.alerts ?? 1000;
  const iterations = options.iterations ?? 200;
  const warmup = options.warmup ?? 5;
  const cutouts = options.cutouts ?? true;
  const real: ZtfAlert[] = [];
  for (const folder of options.folders ?? ["fink-broker-local-20200101"]) {
    real.push(...await readZtfAlerts(sharedData("ztf", "alerts", folder)));
  }
  const alerts = Array.from({ length: count }, (_, i) => real[i % real.length]);

  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "trivial");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    watch: false,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  const roundTrips: number[] = [];
  const dispatches: number[] = [];
  const processing: number[] = [];
  // One input table for every batch: rebuilding 1,000 alerts with cutouts (60 MB) each time
  // made the benchmark's own garbage collections the tail of the figure it measures.
  const template = ztfBatch(alerts, { cutouts });
  try {
    if (host.list()[0]?.state !== "running") {
      throw new Error(`The trivial plugin did not start: ${host.list()[0]?.lastError}`);
    }
    for (let i = 0; i < warmup + iterations; i++) {
      const batch = { ...template, startOffset: i * count, endOffset: i * count + count - 1 };
      const written = log.next((e) =>
        e.event === "batch" && e.startOffset === String(batch.startOffset)
      );
      const started = performance.now();
      host.dispatch(batch);
      const dispatched = performance.now();
      const event = await written;
      const done = performance.now();
      if (i >= warmup) {
        roundTrips.push(done - started);
        dispatches.push(dispatched - started);
        processing.push(Number(event.ms));
      }
    }
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
  roundTrips.sort((a, b) => a - b);
  dispatches.sort((a, b) => a - b);
  processing.sort((a, b) => a - b);
  const p50 = percentile(roundTrips, 50);
  return {
    alerts: count,
    iterations,
    cutouts,
    eventHours: new Set(alerts.map(eventHour)).size,
    roundTripMs: {
      p50: round(p50),
      p99: round(percentile(roundTrips, 99)),
      mean: round(roundTrips.reduce((a, b) => a + b, 0) / roundTrips.length),
      max: round(roundTrips.at(-1)!),
    },
    dispatchMs: { p50: round(percentile(dispatches, 50)), p99: round(percentile(dispatches, 99)) },
    processMs: { p50: round(percentile(processing, 50)), p99: round(percentile(processing, 99)) },
    goalMs: 20,
    withinGoal: percentile(roundTrips, 99) < 20,
  };
}

/** Options of {@link runClassifyBench}. */
export interface ClassifyBenchOptions {
  /** Alerts in all (real alerts repeated). Default 20,000. */
  alerts?: number;
  /** Alerts per batch, as the archive's catch-up reads them (`plugins.chunk_alerts`). Default 5,000. */
  batchAlerts?: number;
}

/** What {@link runClassifyBench} measured. */
export interface ClassifyBenchResult {
  alerts: number;
  batchAlerts: number;
  seconds: number;
  alertsPerSecond: number;
  /**
   * CPU seconds the run took in the plugin process and in the host (IPC, row checks, Parquet):
   * figures the machine's load changes little.
   */
  cpuSeconds: { plugin: number; host: number };
  /** Alerts per CPU second, plugin and host together. */
  alertsPerCpuSecond: number;
}

/** The classify benchmark beside the archive's drain rate (see the module documentation). */
export interface ClassifyVsArchive {
  classify: ClassifyBenchResult;
  archiveDrain: {
    /** Drained in this run, alerts/s, under the same load as classify. */
    measuredAlertsPerSecond: number;
    measuredAlerts: number;
    /** Drained per CPU second of the archive process (load changes it little). */
    measuredAlertsPerCpuSecond: number;
    /** The full drain of 100,000 alerts documented in the README, alerts/s. */
    documentedAlertsPerSecond: number;
  };
  /** Classify is at least as fast as the archive drained in this run. */
  keepsUp: boolean;
  /** Classify is at least as fast as the README's drain figure. */
  keepsUpWithDocumented: boolean;
}

/** The README's archive drain figure (100,000 alerts, 2-core machine; 5,140-5,420 in 4 runs). */
const DOCUMENTED_DRAIN_ALERTS_PER_SECOND = 5_420;
const PROJECT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Throughput of the real `classify` plugin through the host: every batch dispatched at once (the
 * queue holds them all), timed until the last batch's results are written.
 */
export async function runClassifyBench(
  options: ClassifyBenchOptions = {},
): Promise<ClassifyBenchResult> {
  const count = options.alerts ?? 20_000;
  const batchAlerts = options.batchAlerts ?? 5_000;
  const real = await readZtfAlerts(sharedData("ztf", "alerts", "fink-broker-local-20200101"));
  const science = await Deno.makeTempDir({ prefix: "fink_classify_bench_" });
  const batches = Math.ceil(count / batchAlerts);
  const log = new EventLog();
  // The real plugins/ folder: classify finds its catalogs beside it, as in a running process.
  // Nothing starts by itself; only classify is started.
  const host = await createPluginHost({
    root: PROJECT,
    dir: "plugins",
    watch: false,
    autoStart: false,
    queueLimit: batches + 1,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    await host.start("classify");
    const status = host.list().find((p) => p.name === "classify");
    if (status?.state !== "running") {
      throw new Error(`classify did not start: ${status?.lastError ?? status?.state}`);
    }
    const warm = ztfBatch(real.slice(0, 100), { startOffset: -1_000_000, cutouts: false });
    const warmed = log.next((e) => e.event === "batch");
    host.dispatch(warm);
    await warmed;
    const tables = Array.from({ length: batches }, (_, b) =>
      ztfBatch(
        Array.from({ length: batchAlerts }, (_, i) => real[(b * batchAlerts + i) % real.length]),
        { startOffset: b * batchAlerts, cutouts: false },
      ));
    const last = log.next(
      (e) => e.event === "batch" && e.startOffset === String(tables.at(-1)!.startOffset),
      600_000,
    );
    const [pid] = pluginProcesses(Deno.pid, "classify");
    if (pid === undefined) throw new Error("classify runs, but its process was not found");
    const cpuBefore = { plugin: processCpuMs(pid) ?? 0, host: processCpuMs(Deno.pid) ?? 0 };
    const started = performance.now();
    for (const batch of tables) host.dispatch(batch);
    await last;
    const seconds = (performance.now() - started) / 1000;
    const cpuSeconds = {
      plugin: round(((processCpuMs(pid) ?? cpuBefore.plugin) - cpuBefore.plugin) / 1000),
      host: round(((processCpuMs(Deno.pid) ?? cpuBefore.host) - cpuBefore.host) / 1000),
    };
    const alerts = batches * batchAlerts;
    return {
      alerts,
      batchAlerts,
      seconds: round(seconds),
      alertsPerSecond: Math.round(alerts / seconds),
      cpuSeconds,
      alertsPerCpuSecond: Math.round(alerts / (cpuSeconds.plugin + cpuSeconds.host)),
    };
  } finally {
    await host.close();
    await Deno.remove(science, { recursive: true });
  }
}

/** Classify's throughput beside the archive's drain rate, both measured now. */
export async function runClassifyVsArchive(): Promise<ClassifyVsArchive> {
  const classify = await runClassifyBench();
  // A 20,000-alert backlog and a token live phase: the drain rate without the long run.
  const drain = await runArchiveDrain({ alerts: 20_000, liveRate: 100, liveSeconds: 1 });
  return {
    classify,
    archiveDrain: {
      measuredAlertsPerSecond: drain.alertsPerSecond,
      measuredAlerts: drain.alerts,
      measuredAlertsPerCpuSecond: drain.alertsPerCpuSecond,
      documentedAlertsPerSecond: DOCUMENTED_DRAIN_ALERTS_PER_SECOND,
    },
    keepsUp: classify.alertsPerSecond >= drain.alertsPerSecond,
    keepsUpWithDocumented: classify.alertsPerSecond >= DOCUMENTED_DRAIN_ALERTS_PER_SECOND,
  };
}

/** Everything `deno task bench plugins` prints. */
export interface PluginsBenchResult {
  roundTripOneNight: PluginBenchResult;
  roundTripThreeNights: PluginBenchResult;
  classify: ClassifyVsArchive;
}

/** Runs every plugin benchmark in turn. */
export async function runPluginsBench(): Promise<PluginsBenchResult> {
  return {
    roundTripOneNight: await runPluginBench(),
    roundTripThreeNights: await runPluginBench({ folders: [...SPREAD_FOLDERS] }),
    classify: await runClassifyVsArchive(),
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await runPluginsBench(), null, 2));
}
