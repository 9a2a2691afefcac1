/**
 * `deno task bench query`: latency of the query engine over archives of
 * 100,000 and 1,000,000 synthetic alerts spread over the sky (built once and
 * reused from `<tmp>/fink_bench_query/`): objectId lookups, 1° and 5° cones,
 * p50/p99 in milliseconds. Goals: objectId p99 < 50 ms, 1° cone p50 < 100 ms,
 * 5° cone < 1 s, 1° cone at 1M < 2× its time at 100k.
 */
import { join } from "node:path";
import { QueryEngine } from "../core/query/engine.ts";
import { conesearch, objects } from "../core/query/queries.ts";
import { skyAlerts, writeSkyArchive } from "../tests/support/sky_archive.ts";

const CACHE = join(Deno.env.get("TMPDIR") ?? "/tmp", "fink_bench_query");

async function archiveOf(alerts: number): Promise<string> {
  const root = join(CACHE, String(alerts));
  const done = join(root, "_bench_complete");
  try {
    await Deno.stat(done);
    return root;
  } catch {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  console.error(`building an archive of ${alerts} alerts under ${root} (once)…`);
  await writeSkyArchive(root, skyAlerts(alerts, { seed: 11 }), { perFile: 20_000 });
  await Deno.writeTextFile(done, new Date().toISOString());
  return root;
}

async function timings(runs: number, fn: (i: number) => Promise<unknown>) {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), runs };
}

async function measure(alerts: number, runs: number) {
  const root = await archiveOf(alerts);
  const engine = await QueryEngine.open({ archiveRoot: root, scienceRoot: join(root, "_science") });
  const sample = skyAlerts(alerts, { seed: 11 });
  const pick = (i: number) => sample[(i * 7919) % sample.length];
  try {
    await conesearch(engine, { ra: 10, dec: 10, radiusArcsec: 3600, n: 1000 }); // warm
    return {
      alerts,
      objectId: await timings(runs, (i) => objects(engine, { objectIds: [pick(i).objectId] })),
      cone1deg: await timings(
        runs,
        (i) =>
          conesearch(engine, { ra: pick(i).ra, dec: pick(i).dec, radiusArcsec: 3600, n: 1000 }),
      ),
      cone5deg: await timings(
        Math.ceil(runs / 4),
        (i) =>
          conesearch(engine, { ra: pick(i).ra, dec: pick(i).dec, radiusArcsec: 18_000, n: 10_000 }),
      ),
    };
  } finally {
    await engine.close();
  }
}

/** Runs the benchmark; returns the figures. */
export async function runQueryBench(options: { runs?: number } = {}) {
  const runs = options.runs ?? 100;
  const small = await measure(100_000, runs);
  const large = await measure(1_000_000, runs);
  return {
    small,
    large,
    cone1degGrowth: Math.round((large.cone1deg.p50 / small.cone1deg.p50) * 100) / 100,
    goals: { objectIdP99Ms: 50, cone1degP50Ms: 100, cone5degMs: 1000, cone1degGrowth: 2 },
  };
}

if (import.meta.main) console.log(JSON.stringify(await runQueryBench(), null, 2));
