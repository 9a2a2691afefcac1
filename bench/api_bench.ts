/**
 * `/api/status` under load: the API app (with its once-a-second recorder) is
 * served in this process over an archive of many partitions and two weeks of
 * hour folders plus a few plugins, fed with the real alerts and classes of
 * Fink's science test set; a SECOND process (`deno run` of this file with
 * `--load`) requests it from several connections for ~10 s and reports the
 * latencies. Goal: p99 < 50 ms. Run directly to print the result as JSON.
 */
import type { ArchiveSnapshot } from "../core/archive/service.ts";
import { ArchiveStats } from "../core/archive/stats.ts";
import { Histogram, SHORT_SECONDS } from "../core/histogram.ts";
import { figureSourcesOf, type PluginFigureSource } from "../core/metrics/figures.ts";
import { createApiApp } from "../core/api/app.ts";
import { loadConfig } from "../core/config/mod.ts";
import { MetricsRecorder } from "../core/metrics/recorder.ts";
import { SummaryAccumulator } from "../core/plugins/summary.ts";
import { ServiceManager } from "../core/services/manager.ts";
import type { Service } from "../core/services/service.ts";
import { sharedData } from "../tests/shared_data.ts";

/** Options of {@link runApiBench}. */
export interface ApiBenchOptions {
  /** Seconds of load. Default 10. */
  durationS?: number;
  /** Concurrent connections of the load process. Default 16. */
  connections?: number;
  /** Path requested. Default `/api/status`. */
  path?: string;
  /** Topic-partitions of the archive. Default 16. */
  partitions?: number;
  /** Hour folders the archive has written. Default 336 (two weeks). */
  hours?: number;
  /** Plugin services. Default 3. */
  plugins?: number;
  /** Alerts per second the archive counts while the load runs. Default 2000. */
  alertsPerSecond?: number;
}

/** What {@link runApiBench} measures. */
export interface ApiBenchResult {
  path: string;
  durationS: number;
  connections: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  responseBytes: number;
  goalP99Ms: number;
  goalMet: boolean;
}

interface LoadReport {
  requests: number;
  errors: number;
  elapsedMs: number;
  latencies: number[];
}

const GOAL_P99_MS = 50;

interface RealAlert {
  candid: bigint;
  jd: number;
  cls: string;
}

async function realAlerts(): Promise<RealAlert[]> {
  const text = await Deno.readTextFile(
    sharedData("expected/fink-outputs/ztf_fink-science-datatest-20211122.csv"),
  );
  const [header, ...rows] = text.trim().split("\n");
  const col = header.split(",");
  return rows.map((row) => {
    const f = row.split(",");
    return {
      candid: BigInt(f[col.indexOf("candid")]),
      jd: Number(f[col.indexOf("jd")]),
      cls: f[col.indexOf("cdsxmatch")],
    };
  });
}

function hourPath(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${
    p(d.getUTCHours())
  }`;
}

/** An archive-shaped service whose counters move at `alertsPerSecond`. */
function loadedArchive(
  options: Required<ApiBenchOptions>,
  alerts: RealAlert[],
  plugins: PluginFeed[],
): Service<ArchiveSnapshot> {
  const stats = new ArchiveStats();
  const firstHour = (alerts[0].jd - 2440587.5) * 86_400_000;
  for (let h = 0; h < options.hours; h++) {
    stats.addFile("ztf-sim", hourPath(firstHour + h * 3_600_000), 4000, 40e6);
  }
  let timers: ReturnType<typeof setInterval>[] = [];
  let next = 0;
  const perTick = Math.max(1, Math.round(options.alertsPerSecond / 10));
  const feed = () => {
    const batch: RealAlert[] = [];
    for (let i = 0; i < perTick; i++) {
      const alert = alerts[next % alerts.length];
      const c = stats.partition({ topic: "ztf-sim", partition: next % options.partitions });
      c.received++;
      c.decoded++;
      c.archived++;
      c.bytesIn += 90_000;
      c.committedOffset = String(Math.floor(next / options.partitions));
      c.lag = 10;
      batch.push(alert);
      next++;
    }
    stats.lastCommit = {
      at: new Date().toISOString(),
      topic: "ztf-sim",
      partition: 0,
      offset: "1",
    };
    for (const p of plugins) p.add(batch);
  };
  return {
    name: "archive",
    kind: "builtin",
    description: "Benchmark archive",
    start() {
      timers = [setInterval(feed, 100), setInterval(() => stats.tick(), 1000)];
      return Promise.resolve();
    },
    stop() {
      for (const t of timers) clearInterval(t);
      return Promise.resolve();
    },
    details: () => ({
      source: "benchmark",
      storage: "/bench/archive",
      connected: true,
      storageProblem: null,
      problems: [],
      ...stats.figures(0),
    }),
  };
}

interface PluginFeed extends Service<PluginFigureSource> {
  add(alerts: RealAlert[]): void;
}

/** A plugin-shaped service with the host's summary of the real classes. */
function loadedPlugin(name: string): PluginFeed {
  const summary = new SummaryAccumulator({ class: "string" }, { recentRows: 20 });
  let batches = 0;
  let rows = 0;
  return {
    name,
    kind: "plugin",
    description: "Benchmark plugin",
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    add(alerts) {
      summary.add(alerts.map((a) => ({ id: a.candid, class: a.cls })));
      batches++;
      rows += alerts.length;
    },
    details: () => ({
      name,
      state: "running",
      permissions: { read: ["../shared/data/catalogs"] },
      batches,
      rows,
      errors: 0,
      lastError: null,
      avgMsPerBatch: 1.2,
      batchSeconds: new Histogram(SHORT_SECONDS).snapshot(),
      restarts: 0,
      summary: summary.snapshot(name),
    }),
  };
}

/** Serves the API over the loaded services and measures it from a second process. */
export async function runApiBench(options: ApiBenchOptions = {}): Promise<ApiBenchResult> {
  const o: Required<ApiBenchOptions> = {
    durationS: 10,
    connections: 16,
    path: "/api/status",
    partitions: 16,
    hours: 336,
    plugins: 3,
    alertsPerSecond: 2000,
    ...options,
  };
  const dir = await Deno.makeTempDir({ prefix: "fink-api-bench-" });
  const alerts = await realAlerts();
  const plugins = Array.from(
    { length: o.plugins },
    (_, i) => loadedPlugin(i === 0 ? "classify" : `plugin${i}`),
  );
  const manager = new ServiceManager();
  const archive = loadedArchive(o, alerts, plugins);
  manager.register(archive);
  for (const p of plugins) manager.register(p);
  for (const name of manager.names()) await manager.start(name);
  const config = await loadConfig({ file: null, env: {}, sets: [`process.state_dir=${dir}`] });
  const metrics = await MetricsRecorder.open({
    dir,
    read: () => figureSourcesOf(manager.statuses(), { archive, plugins }),
  });
  metrics.start();
  const app = createApiApp({
    config,
    manager,
    token: crypto.randomUUID(),
    startedAt: new Date(),
    shutdown: () => {},
    metrics,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}${o.path}`;
  try {
    const responseBytes = (await (await fetch(url)).arrayBuffer()).byteLength;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        new URL(import.meta.url).pathname,
        "--load",
        url,
        String(o.durationS),
        String(o.connections),
      ],
      stdout: "piped",
      stderr: "inherit",
    });
    const out = await child.output();
    if (!out.success) throw new Error(`The load process failed with exit code ${out.code}`);
    const report = JSON.parse(new TextDecoder().decode(out.stdout)) as LoadReport;
    const sorted = report.latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
    const p99 = at(0.99);
    return {
      path: o.path,
      durationS: o.durationS,
      connections: o.connections,
      requests: report.requests,
      errors: report.errors,
      requestsPerSecond: Math.round(report.requests / (report.elapsedMs / 1000)),
      latencyMs: { p50: at(0.5), p90: at(0.9), p99, max: round(sorted.at(-1) ?? NaN) },
      responseBytes,
      goalP99Ms: GOAL_P99_MS,
      goalMet: p99 < GOAL_P99_MS && report.errors === 0,
    };
  } finally {
    await manager.stopAll();
    await metrics.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The load process: `connections` loops requesting `url` until the time is up. */
async function load(url: string, durationS: number, connections: number): Promise<LoadReport> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationS * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.ok) latencies.push(performance.now() - t);
        else errors++;
      } catch {
        errors++;
      }
    }
  }));
  return { requests: latencies.length, errors, elapsedMs: performance.now() - start, latencies };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) {
  if (Deno.args[0] === "--load") {
    const [, url, durationS, connections] = Deno.args;
    console.log(JSON.stringify(await load(url, Number(durationS), Number(connections))));
  } else {
    console.log(JSON.stringify(await runApiBench(), null, 2));
  }
}
