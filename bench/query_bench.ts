/**
 * `deno task bench query`: latency of the query API over archives of 100,000
 * and 1,000,000 synthetic alerts spread over the sky, each with a `classify`
 * result (built once and reused from `<tmp>/fink_bench_query/`), while the
 * archive ingests beside it: 1,000 alerts/s are archived into another
 * topic of the same root, as committed batches, in a child process, so the
 * engine's index takes in new files all along. Requests go through the API
 * routes (JSON encoding included): objectId lookups, 1° and 5° cones, p50/p99
 * in milliseconds, with this process's CPU time per request (the engine's
 * background refresh included, the ingest not) and the load average. Goals: objectId p99
 * < 50 ms, 1° cone p50 < 100 ms, 5° cone < 1 s, 1° cone at 1M < 2× at 100k.
 */
import { join } from "node:path";
import { cpuUsage } from "node:process";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { Hono } from "hono";
import { registerQueryRoutes } from "../core/api/query_routes.ts";
import { listArchivedFiles } from "../core/archive/reader.ts";
import { QueryEngine } from "../core/query/engine.ts";
import { LocalStorage } from "../core/storage/mod.ts";
import { type SkyAlert, skyAlerts, writeSkyArchive } from "../tests/support/sky_archive.ts";

const CACHE = join(Deno.env.get("TMPDIR") ?? "/tmp", "fink_bench_query");
/** Marks a complete archive; a new name when what the archive holds changes. */
const COMPLETE = "_bench_complete_v2";
const INGEST_FLAG = "--ingest";
const INGEST_TOPIC = "live";
const INGEST_BATCH = 500;
const INGEST_EVERY_MS = 500;
const CLASSES = ["SN candidate", "Early SN Ia candidate", "Solar System MPC", "Unknown"];

async function archiveOf(alerts: number): Promise<{ root: string; sample: SkyAlert[] }> {
  const root = join(CACHE, String(alerts));
  const sample = skyAlerts(alerts, { seed: 11 });
  try {
    await Deno.stat(join(root, COMPLETE));
    return { root, sample };
  } catch {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  console.error(`building an archive of ${alerts} alerts under ${root} (once)…`);
  await writeSkyArchive(root, sample, { perFile: 20_000 });
  await writeClassifyResults(root, sample);
  await Deno.writeTextFile(join(root, COMPLETE), new Date().toISOString());
  return { root, sample };
}

/** One `classify` result per alert, one file per archive file, as the plugin host writes them. */
async function writeClassifyResults(root: string, sample: SkyAlert[]): Promise<void> {
  const byCandid = new Map(sample.map((a, i) => [a.candid, i]));
  for (const f of await listArchivedFiles(new LocalStorage(root), "sky")) {
    const first = byCandid.get(BigInt(1_000_000_000) + f.startOffset)!;
    const rows = sample.slice(first, first + Number(f.endOffset - f.startOffset) + 1);
    const table = new arrow.Table({
      id: arrow.vectorFromArray(rows.map((a) => a.candid), new arrow.Int64()),
      class: arrow.vectorFromArray(rows.map((_, i) => CLASSES[i % CLASSES.length])),
    });
    const path = join(
      root,
      "_science",
      "classify",
      f.hourDir.slice("sky/".length),
      f.path.split("/").pop()!,
    );
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeFile(
      path,
      pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"))),
    );
  }
}

/**
 * Starts archiving alerts into the `live` topic of `root` in a child process (so the CPU time
 * measured here is the query side's); resolves its stop with what it archived.
 */
function startIngest(root: string): { stop(): Promise<{ alerts: number; seconds: number }> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, INGEST_FLAG, root],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let stopped: Promise<{ alerts: number; seconds: number }> | undefined;
  return {
    stop: () =>
      stopped ??= (async () => {
        await child.stdin.close();
        const { stdout } = await child.output();
        return JSON.parse(new TextDecoder().decode(stdout));
      })(),
  };
}

/** The child: committed batches of sky alerts at a steady rate until its stdin closes. */
async function ingest(root: string): Promise<void> {
  let stopping = false;
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* until closed */ }
    stopping = true;
  })();
  const started = performance.now();
  // Objects and ids of their own, so answers about the benchmark's objects stay the same.
  const alerts = skyAlerts(2_000_000, { seed: 99 }).map((a) => ({
    ...a,
    objectId: a.objectId.replace("sky", "liv"),
    candid: a.candid + 5_000_000_000n,
  }));
  let written = 0;
  while (!stopping && written + INGEST_BATCH <= alerts.length) {
    const next = started + (written / INGEST_BATCH + 1) * INGEST_EVERY_MS;
    await writeSkyArchive(root, alerts.slice(written, written + INGEST_BATCH), {
      topic: INGEST_TOPIC,
      perFile: INGEST_BATCH,
    });
    written += INGEST_BATCH;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  console.log(JSON.stringify({ alerts: written, seconds: (performance.now() - started) / 1000 }));
}

async function removeIngested(root: string): Promise<void> {
  for (const path of [INGEST_TOPIC, `_offsets/${INGEST_TOPIC}+0.json`, `_wal/${INGEST_TOPIC}+0`]) {
    await Deno.remove(join(root, path), { recursive: true }).catch(() => {});
  }
}

async function timings(runs: number, fn: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  const cpu = cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  const used = cpuUsage(cpu);
  ms.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] * 10) / 10;
  const cpuMs = Math.round((used.user + used.system) / 1000 / runs * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), runs, cpuMsPerRequest: cpuMs };
}

async function measure(alerts: number, runs: number) {
  const { root, sample } = await archiveOf(alerts);
  await removeIngested(root);
  const engine = await QueryEngine.open({ archiveRoot: root, scienceRoot: join(root, "_science") });
  const app = new Hono();
  registerQueryRoutes(app, () => Promise.resolve(engine));
  const get = async (path: string) => {
    const response = await app.request(path);
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return await response.json();
  };
  const pick = (i: number) => sample[(i * 7919) % sample.length];
  const ingest = startIngest(root);
  try {
    const built = performance.now();
    await engine.refresh();
    const indexMs = Math.round(performance.now() - built);
    const loadBefore = Deno.loadavg();
    const objectId = await timings(runs, async (i) => {
      const rows = await get(`/api/v1/objects?objectId=${pick(i).objectId}`);
      if (rows.length === 0 || rows[0].class === undefined) throw new Error("no object found");
    });
    const cone = (radius: number, n: number) => (i: number) =>
      get(`/api/v1/conesearch?ra=${pick(i).ra}&dec=${pick(i).dec}&radius=${radius}&n=${n}`);
    const cone1deg = await timings(runs, cone(3600, 1000));
    const cone5deg = await timings(Math.ceil(runs / 4), cone(18_000, 10_000));
    const ingested = await ingest.stop();
    return {
      alerts,
      indexBuildMs: indexMs,
      objectId,
      cone1deg,
      cone5deg,
      ingestBeside: {
        alertsPerSecond: Math.round(ingested.alerts / ingested.seconds),
        alerts: ingested.alerts,
      },
      loadAverage: { before: loadBefore, after: Deno.loadavg() },
    };
  } finally {
    await ingest.stop().catch(() => {});
    await engine.close();
    await removeIngested(root);
  }
}

/** Runs the benchmark; returns the figures. */
export async function runQueryBench(options: { runs?: number } = {}) {
  const runs = options.runs ?? 200;
  const small = await measure(100_000, runs);
  const large = await measure(1_000_000, runs);
  return {
    small,
    large,
    cone1degGrowth: Math.round((large.cone1deg.p50 / small.cone1deg.p50) * 100) / 100,
    // CPU time moves less with the load of a shared machine than wall time does.
    cone1degCpuGrowth:
      Math.round((large.cone1deg.cpuMsPerRequest / small.cone1deg.cpuMsPerRequest) * 100) / 100,
    goals: { objectIdP99Ms: 50, cone1degP50Ms: 100, cone5degMs: 1000, cone1degGrowth: 2 },
  };
}

if (import.meta.main && Deno.args[0] === INGEST_FLAG) await ingest(Deno.args[1]);
else if (import.meta.main) console.log(JSON.stringify(await runQueryBench(), null, 2));
