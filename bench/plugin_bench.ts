/**
 * Plugin host round trip: how long a batch of 1,000 real ZTF alerts takes from
 * `dispatch` to the trivial plugin's results written as Parquet (Arrow IPC
 * serialisation, transfer to the Worker, decode, process, row check, transfer
 * back, Parquet write and rename). Goal: p99 under 20 ms. Also the real `classify` plugin's
 * throughput, which must keep up with the archive's drain rate.
 *
 * Run directly to print JSON: `deno run -A bench/plugin_bench.ts`.
 */
import { join } from "node:path";
import { createPluginHost } from "../core/plugins/host.ts";
import { createParquetSink } from "../core/plugins/results.ts";
import { EventLog, installPlugin, tempRoot } from "../tests/fixtures/plugins/install.ts";
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
  /** Measured batches. Default 50. */
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

/** Measures the host → Worker → results-written round trip for the trivial plugin. */
export async function runPluginBench(options: PluginBenchOptions = {}): Promise<PluginBenchResult> {
  const count = options.alerts ?? 1000;
  const iterations = options.iterations ?? 50;
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
  try {
    if (host.list()[0]?.state !== "running") {
      throw new Error(`The trivial plugin did not start: ${host.list()[0]?.lastError}`);
    }
    for (let i = 0; i < warmup + iterations; i++) {
      const batch = ztfBatch(alerts, { startOffset: i * count, cutouts });
      const written = log.next((e) =>
        e.event === "batch" && e.startOffset === String(batch.startOffset)
      );
      const started = performance.now();
      host.dispatch(batch);
      const dispatched = performance.now();
      await written;
      const done = performance.now();
      if (i >= warmup) {
        roundTrips.push(done - started);
        dispatches.push(dispatched - started);
      }
    }
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
  roundTrips.sort((a, b) => a - b);
  dispatches.sort((a, b) => a - b);
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
  /** The archive's documented full drain rate (README), which classify must keep up with. */
  archiveDrainAlertsPerSecond: number;
  keepsUp: boolean;
}

const ARCHIVE_DRAIN_ALERTS_PER_SECOND = 5_420;

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
  const project = new URL("../", import.meta.url).pathname;
  // Inside the project so classify's relative imports and its catalog paths resolve as in plugins/.
  const dir = await Deno.makeTempDir({ dir: project, prefix: ".bench_plugins_" });
  const science = await Deno.makeTempDir({ prefix: "fink_classify_bench_" });
  await Deno.copyFile(new URL("../plugins/classify.ts", import.meta.url), join(dir, "classify.ts"));
  const batches = Math.ceil(count / batchAlerts);
  const log = new EventLog();
  const host = await createPluginHost({
    root: project,
    dir,
    watch: false,
    queueLimit: batches + 1,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    if (host.list()[0]?.state !== "running") {
      throw new Error(`classify did not start: ${host.list()[0]?.lastError}`);
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
    const started = performance.now();
    for (const batch of tables) host.dispatch(batch);
    await last;
    const seconds = (performance.now() - started) / 1000;
    const alertsPerSecond = Math.round((batches * batchAlerts) / seconds);
    return {
      alerts: batches * batchAlerts,
      batchAlerts,
      seconds: round(seconds),
      alertsPerSecond,
      archiveDrainAlertsPerSecond: ARCHIVE_DRAIN_ALERTS_PER_SECOND,
      keepsUp: alertsPerSecond >= ARCHIVE_DRAIN_ALERTS_PER_SECOND,
    };
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(science, { recursive: true });
  }
}

if (import.meta.main) {
  const oneNight = await runPluginBench();
  const threeNights = await runPluginBench({ folders: [...SPREAD_FOLDERS] });
  const classify = await runClassifyBench();
  console.log(JSON.stringify({ oneNight, threeNights, classify }, null, 2));
}
