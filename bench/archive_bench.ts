/**
 * Archive benchmark: real ZTF alerts from Kafka to durable Parquet.
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
import { TopicPartitionMap } from "../core/source/topic_partition.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { replay } from "../simulator/replayer/mod.ts";
import { processCpuMs } from "../core/plugins/process.ts";
import { ProgressStore } from "../core/plugins/progress.ts";
import { readProcessState } from "../core/process/state_file.ts";
import { openStorage } from "../core/storage/mod.ts";
import { launch } from "../tests/support/chromium.ts";
import { freePort } from "../tests/support/fink_process.ts";
import { pluginProcesses } from "../tests/support/processes.ts";

/** Options of {@link runArchiveBench}. */
export interface ArchiveBenchOptions {
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

/** The plugin of {@link ArchiveBenchOptions.plugin} during the drain. */
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

/** What {@link runArchiveBench} measured. */
export interface ArchiveBenchResult {
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

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = Deno.env.get("FINK_SHARED_DATA") ??
  fileURLToPath(new URL("../../shared/data", import.meta.url));

function spawnFink(args: string[], stateDir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      ...args,
      `--set=process.state_dir=${stateDir}`,
      "--set=ui.port=0",
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function statusOf(stateDir: string): Promise<Record<string, any> | null> {
  const state = await readProcessState(stateDir);
  if (state === null) return null;
  try {
    return await (await fetch(`${state.url}/api/status`)).json();
  } catch {
    return null;
  }
}

async function until<T>(
  what: string,
  probe: () => Promise<T | null>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`Benchmark gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function peakMemoryMB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024);
}

/** Opens `live.html` of the process in headless Chromium, as an operator would leave it. */
async function openLivePage(stateDir: string): Promise<{ close(): Promise<void> }> {
  const state = await until("the archive's API", () => readProcessState(stateDir), 60_000);
  const browser = await launch();
  const tab = await browser.context.newPage();
  await tab.goto(`${state.url}/live.html`);
  return browser;
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
    const doc = await statusOf(plugin.stateDir);
    const status = doc?.services?.find((s: { name: string }) => s.name === plugin.name);
    if (status?.state === "failed") {
      throw new Error(`Plugin ${plugin.name} failed: ${status.error}`);
    }
    return status?.details?.rows >= plugin.alerts
      ? { t: performance.now(), batches: status.details.batches as number }
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
export async function runArchiveBench(
  options: ArchiveBenchOptions = {},
): Promise<ArchiveBenchResult> {
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
      const doc = await statusOf(join(dir, "sim"));
      const replayed = doc?.services?.find((s: { name: string }) => s.name === "simulator")?.details
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
      const doc = await statusOf(join(dir, "archive-state"));
      return doc !== null && doc.totals?.received > 0
        ? { t: performance.now(), doc, cpuMs: processCpuMs(archive.pid) ?? 0 }
        : null;
    }, 120_000);
    const pluginPids = options.plugin === undefined ? [] : pluginProcesses(archive.pid);
    const pluginCpuAtFirst = pluginPids.reduce((ms, pid) => ms + (processCpuMs(pid) ?? 0), 0);
    const last = await until("the backlog to be archived", async () => {
      const doc = await statusOf(join(dir, "archive-state"));
      return doc !== null && doc.totals?.archived >= alerts
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
    const bytesIn = (doc: Record<string, any>) =>
      doc.partitions.reduce((n: number, p: { bytesIn: number }) => n + p.bytesIn, 0);
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
      const doc = await statusOf(join(dir, "archive-state"));
      return doc?.totals?.archived >= target ? doc : null;
    }, 120_000);
    const latency = settled.services.find((s: { name: string }) =>
      s.name === "archive"
    ).details.latencyMs;
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
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const alerts = Number(Deno.args.find((a) => a.startsWith("--alerts="))?.slice(9) ?? 100_000);
  const dashboard = Deno.args.includes("--dashboard");
  console.log(JSON.stringify(await runArchiveBench({ alerts, dashboard }), null, 2));
}
