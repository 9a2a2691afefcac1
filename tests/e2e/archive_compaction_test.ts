/**
 * Hours archived before a start are compacted by that start: a files job
 * writes one hour in many small files, a second run over the same folder
 * finds nothing new to archive but merges them, keeping every alert once.
 */
import assert from "node:assert/strict";
import { parquetName } from "../../core/archive/file_names.ts";
import { sharedData } from "../shared_data.ts";
import { query } from "../support/duckdb.ts";
import { fink, isolatedSettings } from "../support/fink_process.ts";

const NIGHT = sharedData("ztf", "alerts", "fink-broker-local-20200101");

Deno.test("a start compacts the closed hours archived before it, exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_compact_" });
  try {
    const job = (...sets: string[]) =>
      fink([
        "start",
        "archive",
        `--source=files:${NIGHT}`,
        "--set=batch.max_alerts=10",
        ...sets,
        ...isolatedSettings(dir),
      ], {});
    const files = async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir(`${dir}/archive/files/2020/01/01/13`)) names.push(e.name);
      return names.sort();
    };
    const rows = () =>
      query(
        `select count(*)::int n, count(distinct candid)::int ids
         from read_parquet('${dir}/archive/files/**/*.parquet')`,
      );
    const first = await job();
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await files()).length, 5, "five batches of ten alerts, one file each");
    assert.deepEqual(await rows(), [{ n: 50, ids: 50 }]);

    // No grace: the merged inputs are deleted by the same sweep, before the job ends.
    const second = await job("--set=archive.compact_grace_minutes=0");
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /hour compacted/);
    assert.match(second.stderr, /deleted merged files past their grace/);
    assert.deepEqual(await files(), [parquetName({ topic: "files", partition: 0 }, 0n, 49n)]);
    assert.deepEqual(await rows(), [{ n: 50, ids: 50 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
