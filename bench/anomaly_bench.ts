/**
 * Outlier detection throughput: real ZTF alerts (with their prv_candidates history) through
 * Fink's light-curve features and the ONNX anomaly model, measured three ways in one run:
 *
 * 1. in this process, one thread: light curves and features alone, then with the scores (what
 *    the plugin's `process` does);
 * 2. through the real plugin host: the alerts, in event-hour order as a night's stream comes,
 *    encoded by the archive's own encoder into archive Parquet files, read back with the
 *    plugin's columns (archive_batches.ts, as the feed does), dispatched as Arrow IPC to the plugin's sandboxed child process, its rows back
 *    and written as Parquet results; the CPU time of this process (the host) and of the plugin's
 *    process (/proc/<pid>/stat) per alert;
 * 3. beside the archive: the archive's own drain of a Kafka backlog of the same alerts
 *    (bench/archive_drain.ts), alone and then with the anomaly plugin running in the archive
 *    process, with the CPU time per alert of the archive process and of the plugin's process.
 *
 * Goal: the plugin keeps up with the archive at full speed, at least 5,000 alerts/s on 2 cores.
 * On a shared machine wall-clock rates depend on the load (printed at the start and the end);
 * CPU time per alert does not: `coresAtGoal` is what archive and plugin need at 5,000 alerts/s.
 *
 * Run directly to print JSON: `deno run -A bench/anomaly_bench.ts [--alerts=500] [--batches=40]
 * [--archive-alerts=20000]` (alerts per batch, batches, the archive drains' backlog; 0 skips them).
 */
import * as arrow from "apache-arrow";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runArchiveDrain } from "./archive_drain.ts";
import type { WrittenFile } from "../core/archive/batch_writer.ts";
import type { ArchivedBatch } from "../core/archive/consumers.ts";
import { decodeToTables, encodeBatch, type RawMessage } from "../core/archive/encoder.ts";
import { archiveFilePath } from "../core/archive/file_names.ts";
import { liveBatches } from "../core/plugins/archive_batches.ts";
import { createPluginHost } from "../core/plugins/host.ts";
import { createParquetSink } from "../core/plugins/results.ts";
import { openStorage } from "../core/storage/mod.ts";
import type { Storage } from "../core/storage/storage.ts";
import plugin, { scoreBatch } from "../plugins/anomaly.ts";
import { alertPoints } from "../plugins/anomaly/alert_points.ts";
import { bandFeatures } from "../plugins/anomaly/features.ts";
import { alertCurves } from "../plugins/anomaly/light_curve.ts";
import { sharedData } from "../tests/shared_data.ts";
import { processCpuMs } from "../core/plugins/process.ts";
import { pluginProcesses } from "../tests/support/processes.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const GOAL_ALERTS_PER_SECOND = 5000;
const TOPIC = "ztf";

/** Options of {@link runAnomalyBench}. */
export interface AnomalyBenchOptions {
  /**
   * Alerts per batch (the real alerts cycled). Default 500, `batch.max_alerts`: what the
   * archive commits, and so what the plugin gets, when it drains a backlog at full speed.
   */
  alerts?: number;
  /** Measured batches. Default 40. */
  batches?: number;
  /** Folder of ZTF alerts under the shared data. Default the 139 alerts of 2023-10-18. */
  folder?: string;
  /** Backlog of the archive drains (alone, then with the plugin); 0 skips them. Default 20,000. */
  archiveAlerts?: number;
}

/** CPU time per alert in microseconds, and what one CPU-second gets through. */
export interface CpuCost {
  usPerAlert: number;
  alertsPerCpuSecond: number;
}

/** What {@link runAnomalyBench} measured. */
export interface AnomalyBenchResult {
  /** 1-, 5- and 15-minute load averages at the start and at the end. */
  load: { start: number[]; end: number[] };
  realAlerts: number;
  meanHistoryPoints: number;
  alertsPerBatch: number;
  batches: number;
  /** Archive Parquet files the batches were written to (one per event hour and batch). */
  archiveFiles: number;
  scoredPercent: number;
  /** One thread, this process. */
  inProcess: {
    featuresAlertsPerSecond: number;
    scoresAlertsPerSecond: number;
    features: CpuCost;
    /** Light curves, features and scores: the plugin's `process`. */
    scores: CpuCost;
  };
  /** Archive Parquet read back → plugin process → results written, pipelined. */
  host: {
    alertsPerSecond: number;
    /** This process: the read-back, IPC both ways, checks, the results' Parquet. */
    hostCpu: CpuCost;
    /** Of which the read-back of the plugin's columns from the archive's Parquet. */
    readBackCpu: CpuCost;
    /** The plugin's own process. */
    pluginCpu: CpuCost;
  };
  /** Null when `archiveAlerts` is 0. */
  archive: {
    alerts: number;
    alone: { alertsPerSecond: number; cpu: CpuCost };
    withAnomaly: {
      alertsPerSecond: number;
      /** Until the plugin has results for the whole backlog. */
      anomalyAlertsPerSecond: number;
      /** Mean alerts per batch the plugin got from the archive. */
      alertsPerBatch: number;
      /** The archive process, the plugin host included. */
      archiveCpu: CpuCost;
      pluginCpu: CpuCost;
    };
    /** Cores the archive and the plugin need together at the goal's rate. */
    coresAtGoal: number;
  } | null;
  goalAlertsPerSecond: number;
}

function loadAverage(): number[] {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
}

function rate(alerts: number, ms: number): number {
  return Math.round(alerts / (ms / 1000));
}

function cost(alerts: number, cpuMs: number): CpuCost {
  return {
    usPerAlert: Math.round(cpuMs * 1000 / alerts * 10) / 10,
    alertsPerCpuSecond: rate(alerts, cpuMs),
  };
}

/** CPU milliseconds (user + system, every thread of this process) since `since`. */
function cpuMs(since: ReturnType<typeof process.cpuUsage>): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** One alert file of the stream: its path and Avro container bytes. */
interface StreamFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * The folder's alerts cycled to `count`, in event-hour order as a night's stream arrives: a
 * batch then holds one or two hours, one archive file each, as live batches do (cycled in file
 * order, every batch would hold every hour of the sample, one small file each).
 */
async function alertStream(folder: string, count: number): Promise<StreamFile[]> {
  const files: (StreamFile & { hour: string })[] = [];
  for (const entry of [...Deno.readDirSync(folder)].sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!entry.name.endsWith(".avro")) continue;
    const path = join(folder, entry.name);
    const bytes = await Deno.readFile(path);
    const message = { topic: TOPIC, partition: 0, offset: 0n, timestamp: 0, value: bytes };
    const { tables } = await decodeToTables([message]);
    files.push({ path, bytes, hour: tables[0]?.hour ?? "" });
  }
  const cycled = Array.from({ length: count }, (_, i) => files[i % files.length]);
  return cycled.sort((a, b) => a.hour < b.hour ? -1 : a.hour > b.hour ? 1 : 0);
}

/** A batch of the stream as the archive stores it: its Parquet files, encoded and written. */
async function archiveBatch(
  storage: Storage,
  stream: StreamFile[],
  range: { from: number; to: number },
): Promise<ArchivedBatch> {
  const messages: RawMessage[] = stream.slice(range.from, range.to).map((file, i) => ({
    topic: TOPIC,
    partition: 0,
    offset: BigInt(range.from + i),
    timestamp: 0,
    value: file.bytes,
  }));
  const encoded = await encodeBatch(messages);
  const files: WrittenFile[] = [];
  for (const file of encoded.files) {
    const path = archiveFilePath(file.hour, {
      tp: { topic: TOPIC, partition: 0 },
      start: file.startOffset,
      end: file.endOffset,
    });
    await storage.writeFile(path, file.bytes);
    // As the archive hands them over: with the bytes it has just written.
    files.push({
      path,
      hour: file.hour,
      rows: file.rows,
      size: file.bytes.byteLength,
      bytes: file.bytes,
    });
  }
  return {
    topic: TOPIC,
    partition: 0,
    startOffset: BigInt(range.from),
    endOffset: BigInt(range.to - 1),
    files,
  };
}

/** The stream as a folder the simulator replays in its order (links named in sequence). */
async function streamFolder(stream: StreamFile[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fink_anomaly_bench_stream_" });
  for (const [i, file] of stream.entries()) {
    await Deno.symlink(file.path, join(dir, `${String(i).padStart(7, "0")}.avro`));
  }
  return dir;
}

/** The anomaly plugin's files in a plugin folder of their own inside the project. */
async function installAnomaly(): Promise<string> {
  // Inside the project so its relative imports and its model path resolve as in plugins/.
  const dir = await Deno.makeTempDir({ dir: ROOT, prefix: ".bench_anomaly_" });
  await Deno.copyFile(join(ROOT, "plugins", "anomaly.ts"), join(dir, "anomaly.ts"));
  await Deno.mkdir(join(dir, "anomaly"));
  for (const entry of Deno.readDirSync(join(ROOT, "plugins", "anomaly"))) {
    if (!entry.name.endsWith(".ts")) continue;
    await Deno.copyFile(
      join(ROOT, "plugins", "anomaly", entry.name),
      join(dir, "anomaly", entry.name),
    );
  }
  return dir;
}

/** Features, then features and scores, of every table (the stream's batches as read back). */
async function inProcess(tables: arrow.Table[]) {
  const count = tables.reduce((n, t) => n + t.numRows, 0);
  await plugin.setup!({ name: "anomaly", config: {}, log: () => {} });
  await scoreBatch(tables[0]);
  let started = performance.now();
  let cpu = process.cpuUsage();
  for (const table of tables) {
    const { points, starts } = alertPoints(table, table.getChild("candidate")!);
    for (let i = 0; i < table.numRows; i++) {
      const curves = alertCurves(points, starts[i], starts[i + 1]);
      if (curves.g) bandFeatures(curves.g);
      if (curves.r) bandFeatures(curves.r);
    }
  }
  const featuresMs = performance.now() - started;
  const featuresCpuMs = cpuMs(cpu);
  let scored = 0;
  started = performance.now();
  cpu = process.cpuUsage();
  for (const table of tables) {
    const rows = await scoreBatch(table);
    scored += rows.filter((r) => r.anomaly_score !== null).length;
  }
  const scoresMs = performance.now() - started;
  const scoresCpuMs = cpuMs(cpu);
  return {
    scoredPercent: Math.round(scored / count * 1000) / 10,
    result: {
      featuresAlertsPerSecond: rate(count, featuresMs),
      scoresAlertsPerSecond: rate(count, scoresMs),
      features: cost(count, featuresCpuMs),
      scores: cost(count, scoresCpuMs),
    },
  };
}

/** The host path, pipelined as the feed runs it: the next batch is read while one is processed. */
async function throughHost(storage: Storage, archived: ArchivedBatch[]) {
  const count = archived.reduce((n, b) => n + Number(b.endOffset - b.startOffset + 1n), 0);
  const columns = plugin.columns;
  let cpu = process.cpuUsage();
  for (const batch of archived) await liveBatches(storage, batch, columns);
  const readBack = cost(count, cpuMs(cpu));

  const pluginDir = await installAnomaly();
  const science = await Deno.makeTempDir({ prefix: "fink_anomaly_bench_science_" });
  const host = await createPluginHost({
    root: ROOT,
    dir: pluginDir,
    watch: false,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: () => {},
  });
  try {
    const status = host.list()[0];
    if (status?.state !== "running") {
      throw new Error(`The anomaly plugin did not start: ${status?.lastError}`);
    }
    const [child] = pluginProcesses(Deno.pid);
    if (child === undefined) throw new Error("The anomaly plugin's process was not found");
    const feed = async (batch: ArchivedBatch) => {
      for (const pluginBatch of await liveBatches(storage, batch, columns)) {
        await host.ready("anomaly");
        host.dispatch(pluginBatch);
      }
    };
    await feed(archived[0]);
    await host.idle();
    const started = performance.now();
    cpu = process.cpuUsage();
    const childAtStart = processCpuMs(child) ?? 0;
    for (const batch of archived) await feed(batch);
    await host.idle();
    const ms = performance.now() - started;
    const hostCpu = cost(count, cpuMs(cpu));
    const pluginCpu = cost(count, (processCpuMs(child) ?? childAtStart) - childAtStart);
    const after = host.list()[0];
    if (after.errors > 0 || after.dropped > 0) {
      throw new Error(`The anomaly plugin failed or dropped batches: ${after.lastError}`);
    }
    return { alertsPerSecond: rate(count, ms), hostCpu, readBackCpu: readBack, pluginCpu };
  } finally {
    await host.close();
    await Deno.remove(pluginDir, { recursive: true });
    await Deno.remove(science, { recursive: true });
  }
}

/** The archive's drain of the stream, alone and then with the plugin in the archive process. */
async function besideArchive(stream: StreamFile[]) {
  const alerts = stream.length;
  const source = await streamFolder(stream);
  const dir = await installAnomaly();
  try {
    const alone = await runArchiveDrain({ alerts, source, liveSeconds: 1 });
    const withAnomaly = await runArchiveDrain({
      alerts,
      source,
      liveSeconds: 1,
      plugin: { dir, name: "anomaly" },
    });
    const drained = withAnomaly.plugin!;
    const perAlertUs = withAnomaly.cpuUsPerAlert + drained.cpuUsPerAlert;
    return {
      alerts,
      alone: {
        alertsPerSecond: alone.alertsPerSecond,
        cpu: cost(alerts, alone.cpuUsPerAlert * alerts / 1000),
      },
      withAnomaly: {
        alertsPerSecond: withAnomaly.alertsPerSecond,
        anomalyAlertsPerSecond: drained.alertsPerSecond,
        alertsPerBatch: drained.alertsPerBatch,
        archiveCpu: cost(alerts, withAnomaly.cpuUsPerAlert * alerts / 1000),
        pluginCpu: cost(alerts, drained.cpuUsPerAlert * alerts / 1000),
      },
      coresAtGoal: Math.round(perAlertUs * GOAL_ALERTS_PER_SECOND / 1e6 * 100) / 100,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(source, { recursive: true });
  }
}

/** Runs the three measurements; see the module documentation. */
export async function runAnomalyBench(
  options: AnomalyBenchOptions = {},
): Promise<AnomalyBenchResult> {
  const start = loadAverage();
  const count = options.alerts ?? 500;
  const batches = options.batches ?? 40;
  const folder = options.folder ??
    sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");
  const archiveDir = await Deno.makeTempDir({ prefix: "fink_anomaly_bench_archive_" });
  try {
    const storage = openStorage(archiveDir);
    const stream = await alertStream(folder, count * batches);
    const archived: ArchivedBatch[] = [];
    for (let b = 0; b < batches; b++) {
      archived.push(await archiveBatch(storage, stream, { from: b * count, to: (b + 1) * count }));
    }
    const tables: arrow.Table[] = [];
    for (const batch of archived) {
      tables.push(...(await liveBatches(storage, batch, plugin.columns)).map((b) => b.table));
    }
    const ids = new Set<bigint>();
    let history = 0;
    for (const table of tables) {
      const prv = table.getChild("prv_candidates");
      for (let i = 0; i < table.numRows; i++) {
        ids.add(table.getChild("candid")!.get(i));
        history += prv?.get(i)?.length ?? 0;
      }
    }
    const local = await inProcess(tables);
    const host = await throughHost(storage, archived);
    const archiveAlerts = options.archiveAlerts ?? 20_000;
    const archive = archiveAlerts > 0
      ? await besideArchive(await alertStream(folder, archiveAlerts))
      : null;
    return {
      load: { start, end: loadAverage() },
      realAlerts: ids.size,
      meanHistoryPoints: Math.round(history / (count * batches) * 10) / 10,
      alertsPerBatch: count,
      batches,
      archiveFiles: archived.reduce((n, b) => n + b.files.length, 0),
      scoredPercent: local.scoredPercent,
      inProcess: local.result,
      host,
      archive,
      goalAlertsPerSecond: GOAL_ALERTS_PER_SECOND,
    };
  } finally {
    await Deno.remove(archiveDir, { recursive: true });
  }
}

if (import.meta.main) {
  const flag = (name: string) => {
    const value = Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
    return value === undefined ? undefined : Number(value);
  };
  const options = {
    alerts: flag("alerts"),
    batches: flag("batches"),
    archiveAlerts: flag("archive-alerts"),
  };
  console.log(JSON.stringify(await runAnomalyBench(options), null, 2));
  Deno.exit(0);
}
