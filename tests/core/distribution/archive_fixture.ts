/**
 * Real archives with science results for the distribution tests: the real
 * process archives a folder of real ZTF alerts of `../shared/data` in batches
 * of 2 and runs the `classify` and `anomaly` plugins over them, once per
 * folder and test run (kept in a temporary folder).
 */
import { join } from "node:path";
import * as arrow from "apache-arrow";
import { sharedData } from "../../shared_data.ts";
import { fink, isolatedSettings, ROOT } from "../../support/fink_process.ts";

/** The shared ZTF night archived by default (50 alerts). */
export const ALERTS = sharedData("ztf", "alerts", "fink-broker-local-20200101");
/** Alerts Fink distributed in 2023 (139), with light-curve histories. */
export const DISTRIBUTED_ALERTS = sharedData(
  "ztf",
  "alerts",
  "fink-broker-all-distribute-20231018",
);

const built = new Map<string, Promise<string>>();

/** Folder holding `archive/` and `science/` (classify, anomaly) of a folder of alerts. */
export function archiveFixture(alerts = ALERTS): Promise<string> {
  let fixture = built.get(alerts);
  if (fixture === undefined) {
    fixture = (async () => {
      const dir = await Deno.makeTempDir({ prefix: "fink_distribution_fixture_" });
      const settings = isolatedSettings(dir, { plugins: join(ROOT, "plugins") });
      const out = await fink([
        "start",
        "archive",
        `--source=files:${alerts}`,
        ...settings,
        "--set=plugins.stop_wait_s=120",
        // Small batches: many archived files, so many distribution transactions.
        "--set=batch.max_alerts=2",
      ], {});
      if (out.code !== 0) throw new Error(`archiving the fixture failed: ${out.stderr}`);
      return dir;
    })();
    built.set(alerts, fixture);
  }
  return fixture;
}

/** The Parquet files under `dir`, bookkeeping folders (`_wal`, `_progress`...) left out. */
export async function* parquetFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory && !e.name.startsWith("_")) yield* parquetFiles(path);
    else if (e.isFile && e.name.endsWith(".parquet")) yield path;
  }
}

/** Arrow values as plain JS: struct rows as objects, vectors as arrays. */
export function plain(value: unknown): any {
  if (value instanceof arrow.Vector) return [...value].map(plain);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const row = value as { toJSON?(): object };
    const json = typeof row.toJSON === "function" ? row.toJSON() : value;
    return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}
