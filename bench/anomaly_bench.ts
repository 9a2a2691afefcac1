/**
 * Outlier detection throughput: real ZTF alerts (with their prv_candidates history) through
 * Fink's light-curve features and the ONNX anomaly model. Measured twice: in this process on
 * one thread (features and scoring apart), and through the plugin host, the plugin in its
 * sandboxed Worker with read access to its model folder only (Arrow IPC to the Worker, the
 * work, rows back, Parquet written). Goal: 5,000 alerts/s, the archive's drain rate, which is
 * measured in the same run for comparison.
 *
 * Run directly to print JSON: `deno run -A bench/anomaly_bench.ts`.
 */
import type * as arrow from "apache-arrow";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runArchiveBench } from "./archive_bench.ts";
import { createPluginHost } from "../core/plugins/host.ts";
import { createParquetSink } from "../core/plugins/results.ts";
import plugin, { scoreBatch } from "../plugins/anomaly.ts";
import { alertPoints } from "../plugins/anomaly/alert_points.ts";
import { bandFeatures } from "../plugins/anomaly/features.ts";
import { alertCurves } from "../plugins/anomaly/light_curve.ts";
import { alertTables } from "../tests/plugins/anomaly_alerts.ts";
import { sharedData } from "../tests/shared_data.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Options of {@link runAnomalyBench}. */
export interface AnomalyBenchOptions {
  /** Alerts per batch (the real alerts repeated). Default 5,000 (`plugins.chunk_alerts`). */
  alerts?: number;
  /** Measured batches. Default 6. */
  batches?: number;
  /** Folder of ZTF alerts under the shared data. Default the 139 alerts of 2023-10-18. */
  folder?: string;
  /** Alerts of the archive drain measured in the same run, for comparison (0: none). Default 20,000. */
  archiveAlerts?: number;
}

/** What {@link runAnomalyBench} measured. */
export interface AnomalyBenchResult {
  realAlerts: number;
  meanHistoryPoints: number;
  alertsPerBatch: number;
  batches: number;
  /** One thread, this process: light curves and features only. */
  featuresAlertsPerSecond: number;
  /** One thread, this process: features and scores (what `process` does). */
  inProcessAlertsPerSecond: number;
  /** Through the host: dispatch → results written, the plugin in its Worker. */
  hostAlertsPerSecond: number;
  /**
   * The same three per second of CPU time used by this process (all its threads): what the
   * work costs, less dependent than wall time on other processes sharing the cores.
   */
  perCpuSecond: { features: number; inProcess: number; host: number };
  scoredPercent: number;
  /** The archive's drain rate (Kafka → durable Parquet) measured in the same run, null when skipped. */
  archiveAlertsPerSecond: number | null;
  goalAlertsPerSecond: number;
}

/** One table of `count` alerts: the folder's alerts of its most common schema, repeated. */
async function benchTable(folder: string, count: number): Promise<arrow.Table> {
  const files = [...Deno.readDirSync(folder)].map((e) => join(folder, e.name))
    .filter((p) => p.endsWith(".avro")).sort();
  const tables = (await alertTables(files)).map((t) => t.table);
  const real = tables.sort((a, b) => b.numRows - a.numRows)[0];
  let table = real;
  while (table.numRows < count) table = table.concat(real);
  return table.slice(0, count);
}

function rate(alerts: number, ms: number): number {
  return Math.round(alerts / (ms / 1000));
}

/** CPU milliseconds (user + system, every thread of the process) since `since`. */
function cpuMs(since: ReturnType<typeof process.cpuUsage>): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** Measures features and scoring in this process and through the sandboxed plugin host. */
export async function runAnomalyBench(
  options: AnomalyBenchOptions = {},
): Promise<AnomalyBenchResult> {
  const count = options.alerts ?? 5000;
  const batches = options.batches ?? 6;
  const folder = options.folder ??
    sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");
  const table = await benchTable(folder, count);
  const prv = table.getChild("prv_candidates");
  let history = 0;
  for (let i = 0; i < table.numRows; i++) history += prv?.get(i)?.length ?? 0;

  const context = { name: "anomaly", config: {}, log: () => {} };
  await plugin.setup!(context);
  await scoreBatch(table);
  let started = performance.now();
  let cpu = process.cpuUsage();
  for (let b = 0; b < batches; b++) {
    for (const points of alertPoints(table, table.getChild("candidate")!)) {
      const curves = alertCurves(points);
      if (curves.g) bandFeatures(curves.g);
      if (curves.r) bandFeatures(curves.r);
    }
  }
  const featuresMs = performance.now() - started;
  const featuresCpuMs = cpuMs(cpu);
  let scored = 0;
  started = performance.now();
  cpu = process.cpuUsage();
  for (let b = 0; b < batches; b++) {
    const rows = await scoreBatch(table);
    scored = rows.filter((r) => r.anomaly_score !== null).length;
  }
  const inProcessMs = performance.now() - started;
  const inProcessCpuMs = cpuMs(cpu);

  const dir = await Deno.makeTempDir({ prefix: "fink_anomaly_bench_" });
  await Deno.mkdir(join(dir, "plugins"));
  await Deno.writeTextFile(
    join(dir, "plugins", "anomaly.ts"),
    `export { default } from "${new URL("../plugins/anomaly.ts", import.meta.url).href}";\n`,
  );
  const host = await createPluginHost({
    root: ROOT,
    dir: join(dir, "plugins"),
    watch: false,
    budgetMs: 60_000,
    queueLimit: batches + 1,
    sink: createParquetSink({ scienceRoot: join(dir, "science") }),
    onEvent: () => {},
  });
  let hostMs: number;
  let hostCpuMs: number;
  try {
    const status = host.list()[0];
    if (status?.state !== "running") {
      throw new Error(`The anomaly plugin did not start: ${status?.lastError}`);
    }
    const ids = table.getChild("candid")!.toArray() as BigInt64Array;
    const batch = (i: number) => ({
      table,
      topic: "ztf",
      partition: 0,
      startOffset: i * count,
      endOffset: (i + 1) * count - 1,
      ids,
      eventHours: new Array(count).fill(470_000),
    });
    host.dispatch(batch(0));
    await host.idle();
    started = performance.now();
    cpu = process.cpuUsage();
    for (let b = 1; b <= batches; b++) host.dispatch(batch(b));
    await host.idle();
    hostMs = performance.now() - started;
    hostCpuMs = cpuMs(cpu);
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
  const archiveAlerts = options.archiveAlerts ?? 20_000;
  const archive = archiveAlerts > 0
    ? await runArchiveBench({ alerts: archiveAlerts, liveSeconds: 1 })
    : null;
  return {
    realAlerts: new Set(table.getChild("candid")!.toArray()).size,
    meanHistoryPoints: Math.round(history / table.numRows * 10) / 10,
    alertsPerBatch: count,
    batches,
    featuresAlertsPerSecond: rate(count * batches, featuresMs),
    inProcessAlertsPerSecond: rate(count * batches, inProcessMs),
    hostAlertsPerSecond: rate(count * batches, hostMs),
    perCpuSecond: {
      features: rate(count * batches, featuresCpuMs),
      inProcess: rate(count * batches, inProcessCpuMs),
      host: rate(count * batches, hostCpuMs),
    },
    scoredPercent: Math.round(scored / count * 1000) / 10,
    archiveAlertsPerSecond: archive?.alertsPerSecond ?? null,
    goalAlertsPerSecond: 5000,
  };
}

if (import.meta.main) {
  console.log(JSON.stringify(await runAnomalyBench(), null, 2));
  Deno.exit(0);
}
