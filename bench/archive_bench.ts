/**
 * Archive benchmark: real ZTF alerts from Kafka to durable Parquet, in three
 * shapes, each judged against the disk it runs on.
 *
 * - `night`: one night of 8 hours in time order (each partition's batches
 *   hold one hour, two at its turns); then a live stream at a steady rate,
 *   for the broker-to-durable latency;
 * - `interleaved`: the same alerts and hours, interleaved (alert after alert
 *   from another hour, as when a backlog of several nights is read at once);
 * - `backlog`: three past nights, one topic each (`kafka.topics` a pattern),
 *   drained while tonight's topic streams live beside them.
 *
 * For each shape, a broker process (the embedded one, on disk) is filled with
 * the shaped alerts (see shaped_alerts.ts), the disk's own fsync'd bandwidth
 * is measured in the archive's folder (disk_bandwidth.ts), and then an
 * archive process drains the topics. Printed: alerts/s and MB/s (the Avro in,
 * the bytes written to disk), the archive's share of the disk's bandwidth,
 * files per hour and partition, peak memory (VmHWM, Workers included), the
 * time per stage per 1,000 alerts (from the archive's status: fetch, decode,
 * encode, write, fsync, rename, commit, ...), the CPU per kind of thread,
 * and the load average, which says how far a shared machine's figures are
 * from an idle one's.
 *
 * The Python peer (fastavro + pyarrow, Fink's stack) cannot run here (no
 * pyarrow): its figure is the one issue 16 measured, quoted as `peer`.
 */
import { join } from "node:path";
import type { ArchiveSnapshot } from "../core/archive/service.ts";
import { type Stage, STAGES } from "../core/archive/stage_times.ts";
import {
  archiveStatus,
  openLivePage,
  peakMemoryMB,
  SHARED,
  spawnFink,
  stopAll,
  until,
} from "./fink_children.ts";
import { spawnBenchBroker } from "./bench_broker.ts";
import { type DiskBandwidth, measureDiskBandwidth } from "./disk_bandwidth.ts";
import { AlertVariants, createTopics, produce, type StreamPlan } from "./shaped_alerts.ts";
import { cpuBetween, loadAverage, readThreadCpu, type ThreadCpu } from "./thread_cpu.ts";

/** The shapes, in the order they run. */
export const SHAPES = ["night", "interleaved", "backlog"] as const;

/** One shape of stream. */
export type ShapeName = typeof SHAPES[number];

/** Options of {@link runArchiveShape} and {@link runArchiveBench}. */
export interface ArchiveBenchOptions {
  /** Alerts drained per shape (default 100,000: the burst of the memory goal). */
  alerts?: number;
  /** Folder of real alerts, cycled (default the shared 2020-01-01 ZTF night). */
  source?: string;
  /** Hours of event time a night covers (default 8). */
  hours?: number;
  /** Partitions of each topic (default 4). */
  partitions?: number;
  /** Live stream rate in alerts/s (default 1,000). */
  liveRate?: number;
  /** Seconds of live stream after the `night` drain (default 10: 10,000 alerts). */
  liveSeconds?: number;
  /** Keep the dashboard's live page open in headless Chromium during the drain (default false). */
  dashboard?: boolean;
}

/** Broker-to-durable latency of a live stream. */
export interface LiveResult {
  rate: number;
  sent: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
}

/** What one shape measured. */
export interface ShapeResult {
  shape: ShapeName;
  alerts: number;
  topics: number;
  partitions: number;
  hours: number;
  drainSeconds: number;
  alertsPerSecond: number;
  /** Avro bytes consumed per second. */
  inputMBps: number;
  /** Bytes the archive wrote to disk per second (Parquet files and ledger). */
  writtenMBps: number;
  /** Bytes compaction rewrote per second meanwhile (hours of past nights are closed at once). */
  compactionMBps: number;
  /** The disk measured just before the drain. */
  disk: DiskBandwidth;
  /** writtenMBps / disk.sequentialMBps: the goal's figure. */
  diskShare: number;
  /** inputMBps / disk.sequentialMBps (the figure issue 16 quoted). */
  inputDiskShare: number;
  files: number;
  /** Parquet files per (hour, topic-partition) written. */
  filesPerHourPartition: number;
  peakMemoryMB: number;
  /** Load average (1, 5, 15 min) before and after the drain. */
  load: { before: number[] | null; after: number[] | null };
  /** CPU of the archive process over the drain, per kind of thread. */
  cpu: (ThreadCpu & { msPerThousandAlerts: number }) | null;
  /** CPU time (user + system, every thread) of the archive process per alert drained. */
  cpuUsPerAlert: number;
  /** Alerts drained per second of the archive process's CPU time (all its threads). */
  alertsPerCpuSecond: number;
  /** Time summed per stage over the drain, ms per 1,000 alerts (stages overlap). */
  stageMsPerThousandAlerts: Record<Stage, number>;
  /** Calls per stage over the drain. */
  stageCalls: Record<Stage, number>;
  /** Alerts/s over the Python peer's best figure, for the 8-hour shapes. */
  timesPeer?: number;
  /** `night`: a live stream alone after the drain; `backlog`: the live topic during it. */
  live?: LiveResult;
  dashboardOpen?: boolean;
}

/** The Python peer's figure (issue 16), which this machine cannot reproduce. */
export const PEER = {
  alertsPerSecond: [470, 494],
  what: "fastavro + pyarrow (Fink's stack), 20,000 alerts of 8 hours, time-ordered and " +
    "interleaved, one Parquet file per event hour per 4,000 alerts, snappy, no fsync",
  source: "issue 16, measured on a 2-core machine of this kind; not re-run: no pyarrow here",
};

const LIVE_TOPIC = "ztf_live";

/** The topics a shape fills before the drain, with each alert's event-time shift. */
function backlogPlans(
  shape: ShapeName,
  options: { alerts: number; hours: number; partitions: number },
): StreamPlan[] {
  const { alerts, hours, partitions } = options;
  // A night's hours in time order: the i-th of n alerts falls in hour floor(hours * i / n).
  const inOrder = (n: number, day: number) => (i: number) => day * 24 + Math.floor(hours * i / n);
  if (shape === "night") {
    return [{ topic: "ztf_night", count: alerts, partitions, hourOf: inOrder(alerts, 0) }];
  }
  if (shape === "interleaved") {
    // Each partition receives the hours in turn, one alert each (alert i goes to partition i % p).
    const hourOf = (i: number) => Math.floor(i / partitions) % hours;
    return [{ topic: "ztf_interleaved", count: alerts, partitions, hourOf }];
  }
  const nights = 3;
  return Array.from({ length: nights }, (_, k) => {
    const count = Math.floor(alerts / nights) + (k < alerts % nights ? 1 : 0);
    return { topic: `ztf_night${k + 1}`, count, partitions, hourOf: inOrder(count, k) };
  });
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function sumOver(
  details: ArchiveSnapshot,
  topics: Set<string>,
  field: "bytesIn" | "archived",
): number {
  return details.partitions.filter((p) => topics.has(p.topic)).reduce((n, p) => n + p[field], 0);
}

/** Runs one shape; every process it starts is stopped and every file removed before it returns. */
export async function runArchiveShape(
  shape: ShapeName,
  options: ArchiveBenchOptions = {},
): Promise<ShapeResult> {
  const alerts = options.alerts ?? 100_000;
  const hours = options.hours ?? 8;
  const partitions = options.partitions ?? 4;
  const liveRate = options.liveRate ?? 1000;
  const variants = await AlertVariants.load(
    options.source ?? join(SHARED, "ztf/alerts/fink-broker-local-20200101"),
  );
  const dir = await Deno.makeTempDir({ prefix: "fink-bench-" });
  const children: Deno.ChildProcess[] = [];
  const broker = await spawnBenchBroker(join(dir, "broker"));
  const liveStop = new AbortController();
  let liveDone: Promise<{ sent: number }> | null = null;
  try {
    const brokers = [broker.address];
    const plans = backlogPlans(shape, { alerts, hours, partitions });
    const topics = plans.map((p) => p.topic);
    await createTopics(brokers, shape === "backlog" ? [...topics, LIVE_TOPIC] : topics, partitions);
    for (const plan of plans) await produce(brokers, plan, variants);
    await Deno.mkdir(join(dir, "plugins"));
    await Deno.mkdir(join(dir, "archive"));

    const disk = await measureDiskBandwidth(join(dir, "archive"));

    const stateDir = join(dir, "archive-state");
    const archive = spawnFink([
      "start",
      "archive",
      `--set=plugins.dir=${join(dir, "plugins")}`,
      `--set=kafka.brokers=${broker.address}`,
      `--set=kafka.topics=${shape === "backlog" ? "/^ztf_/" : topics[0]}`,
      `--set=archive.root=${join(dir, "archive")}`,
      `--set=science.root=${join(dir, "science")}`,
    ], stateDir);
    children.push(archive);
    const page = options.dashboard ? await openLivePage(stateDir) : null;
    if (shape === "backlog") {
      const hourOf = () => variants.hoursToNow();
      const live = { topic: LIVE_TOPIC, count: Infinity, partitions, hourOf };
      liveDone = produce(brokers, live, variants, { rate: liveRate, signal: liveStop.signal });
    }
    const backlog = new Set(topics);
    const loadBefore = loadAverage();
    const first = await until("the first archived alert", async () => {
      const details = await archiveStatus(stateDir);
      if (details === null || !(details.totals.received > 0)) return null;
      return { t: performance.now(), details, cpu: await readThreadCpu(archive.pid) };
    }, 120_000);
    const last = await until("the backlog to be archived", async () => {
      const details = await archiveStatus(stateDir);
      if (details === null || sumOver(details, backlog, "archived") < alerts) return null;
      return { t: performance.now(), details, cpu: await readThreadCpu(archive.pid) };
    }, 3_600_000);
    const loadAfter = loadAverage();
    const peak = await peakMemoryMB(archive.pid);

    await page?.close();
    liveStop.abort();
    const liveSent = liveDone ? (await liveDone).sent : 0;

    const seconds = (last.t - first.t) / 1000;
    const between = (field: "bytesIn" | "archived") =>
      sumOver(last.details, backlog, field) - sumOver(first.details, backlog, field);
    const archived = between("archived");
    const inBytes = between("bytesIn");
    const written = last.details.diskBytes - first.details.diskBytes;
    const stageMs = {} as Record<Stage, number>;
    const stageCalls = {} as Record<Stage, number>;
    for (const s of STAGES) {
      const ms = (last.details.stages[s].seconds - first.details.stages[s].seconds) * 1000;
      stageMs[s] = round(ms / (archived / 1000));
      stageCalls[s] = last.details.stages[s].count - first.details.stages[s].count;
    }
    const hourFolders = last.details.hours.filter((h) => backlog.has(h.topic));
    const files = hourFolders.reduce((n, h) => n + h.files, 0);
    const writtenMBps = written / 1e6 / seconds;
    const inputMBps = inBytes / 1e6 / seconds;
    const cpu = first.cpu && last.cpu ? cpuBetween(archive.pid, first.cpu, last.cpu) : null;
    const result: ShapeResult = {
      shape,
      alerts,
      topics: topics.length,
      partitions,
      hours: hourFolders.length,
      drainSeconds: round(seconds, 2),
      alertsPerSecond: Math.round(archived / seconds),
      inputMBps: round(inputMBps),
      writtenMBps: round(writtenMBps),
      compactionMBps: round(
        (last.details.compactionBytes - first.details.compactionBytes) / 1e6 / seconds,
      ),
      disk,
      diskShare: round(writtenMBps / disk.sequentialMBps, 2),
      inputDiskShare: round(inputMBps / disk.sequentialMBps, 2),
      files,
      filesPerHourPartition: round(files / (hourFolders.length * partitions), 1),
      peakMemoryMB: peak,
      load: { before: loadBefore, after: loadAfter },
      cpu: cpu && { ...cpu, msPerThousandAlerts: round(cpu.totalSeconds * 1e6 / archived, 0) },
      cpuUsPerAlert: cpu ? Math.round(cpu.totalSeconds * 1e6 / archived) : 0,
      alertsPerCpuSecond: cpu ? Math.round(archived / cpu.totalSeconds) : 0,
      stageMsPerThousandAlerts: stageMs,
      stageCalls,
    };
    if (shape !== "backlog") {
      result.timesPeer = round(result.alertsPerSecond / Math.max(...PEER.alertsPerSecond), 2);
    }
    if (options.dashboard) result.dashboardOpen = page !== null;

    if (shape === "backlog") {
      const live = last.details.topicLatencyMs.find((t) => t.topic === LIVE_TOPIC);
      result.live = {
        rate: liveRate,
        sent: liveSent,
        latencyP50Ms: live?.p50 ?? null,
        latencyP99Ms: live?.p99 ?? null,
      };
    } else if (shape === "night") {
      result.live = await liveAfterDrain(brokers, stateDir, {
        variants,
        topic: topics[0],
        partitions,
        rate: liveRate,
        seconds: options.liveSeconds ?? 10,
      });
    }
    return result;
  } finally {
    liveStop.abort();
    await liveDone?.catch(() => {});
    await stopAll(children);
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A live stream alone at a steady rate once the backlog is archived: its latency. */
async function liveAfterDrain(
  brokers: string[],
  stateDir: string,
  live: {
    variants: AlertVariants;
    topic: string;
    partitions: number;
    rate: number;
    seconds: number;
  },
): Promise<LiveResult> {
  const before = await until("the archive's status", () => archiveStatus(stateDir), 60_000);
  const hours = live.variants.hoursToNow();
  const plan = {
    topic: live.topic,
    count: live.rate * live.seconds,
    partitions: live.partitions,
    hourOf: () => hours,
  };
  const sent = await produce(brokers, plan, live.variants, { rate: live.rate });
  const target = before.totals.archived + sent.sent;
  const settled = await until("the live stream to be archived", async () => {
    const details = await archiveStatus(stateDir);
    return details !== null && details.totals.archived >= target ? details : null;
  }, 300_000);
  return {
    rate: live.rate,
    sent: sent.sent,
    latencyP50Ms: settled.latencyMs.p50,
    latencyP99Ms: settled.latencyMs.p99,
  };
}

/** Runs the shapes in turn (default all three). */
export async function runArchiveBench(
  options: ArchiveBenchOptions & { shapes?: readonly ShapeName[] } = {},
): Promise<{ peer: typeof PEER; shapes: ShapeResult[] }> {
  const shapes: ShapeResult[] = [];
  for (const shape of options.shapes ?? SHAPES) {
    console.error(`bench archive: ${shape} ...`);
    shapes.push(await runArchiveShape(shape, options));
  }
  return { peer: PEER, shapes };
}

if (import.meta.main) {
  const arg = (name: string) =>
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const shapes = arg("shapes")?.split(",") as ShapeName[] | undefined;
  const unknown = shapes?.filter((s) => !SHAPES.includes(s)) ?? [];
  if (unknown.length > 0) {
    console.error(`error: unknown shape ${unknown.join(", ")}; shapes are ${SHAPES.join(", ")}`);
    Deno.exit(2);
  }
  const alerts = arg("alerts") === undefined ? undefined : Number(arg("alerts"));
  const dashboard = Deno.args.includes("--dashboard");
  console.log(JSON.stringify(await runArchiveBench({ alerts, dashboard, shapes }), null, 2));
}
