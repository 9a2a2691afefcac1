import assert from "node:assert/strict";
import { join } from "node:path";
import * as arrow from "apache-arrow";
import {
  alertIds,
  alertObjectIds,
  listArchivedFiles,
  listArchivedHours,
  listTopics,
  readArchivedFile,
  readCommittedOffsets,
} from "../../../core/archive/reader.ts";
import { parquetName } from "../../../core/archive/file_names.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { latestRecord } from "../../../core/storage/fenced_log.ts";
import type { ArchiveState } from "../../../core/archive/ledger.ts";
import { ledgerPath } from "../../../core/archive/file_names.ts";
import { sharedData } from "../../shared_data.ts";
import { query } from "../../support/duckdb.ts";
import { fink, isolatedSettings } from "../../support/fink_process.ts";

const NIGHT = sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");
const HOUR_MS = 3_600_000;

/** Archives the real ZTF alerts of 2023-10-18/19 with the real process, in `layout`. */
async function archive(dir: string, layout: "plain" | "hive"): Promise<string> {
  const root = join(dir, "archive");
  const result = await fink([
    "start",
    "archive",
    `--source=files:${NIGHT}`,
    ...isolatedSettings(dir),
    `--set=archive.layout=${layout}`,
    "--set=batch.max_alerts=40",
  ], {});
  assert.equal(result.code, 0, result.stderr);
  return root;
}

Deno.test("the reader lists topics, hours and files and reads them back projected", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_reader_" });
  try {
    const root = await archive(dir, "plain");
    const storage = new LocalStorage(root);
    // Bookkeeping and files being written are never listed.
    const hours = await listArchivedHours(storage, "files");
    await Deno.writeFile(join(root, hours[0].dir, "files+0+1+2.parquet.tmp"), new Uint8Array(8));
    await Deno.mkdir(join(root, "_quarantine", "files"), { recursive: true });

    assert.deepEqual(await listTopics(storage), ["files"]);
    assert.deepEqual(hours.map((h) => h.dir), [
      ...["02", "03", "04", "05", "07", "08", "09", "10", "11", "12"].map((h) =>
        `files/2023/10/18/${h}`
      ),
      ...["03", "04", "05", "06", "07", "08", "10", "11"].map((h) => `files/2023/10/19/${h}`),
    ]);
    assert.equal(hours[0].hour, Date.UTC(2023, 9, 18, 2) / HOUR_MS);

    const night = {
      from: Date.UTC(2023, 9, 19, 0) / HOUR_MS,
      to: Date.UTC(2023, 9, 19, 5) / HOUR_MS,
    };
    const some = await listArchivedHours(storage, "files", night);
    assert.deepEqual(some.map((h) => h.dir.slice(-13)), [
      "2023/10/19/03",
      "2023/10/19/04",
      "2023/10/19/05",
    ]);

    const files = await listArchivedFiles(storage, "files");
    const onDisk: string[] = [];
    for (const h of hours) {
      for await (const e of Deno.readDir(join(root, h.dir))) {
        if (e.name.endsWith(".parquet")) onDisk.push(`${h.dir}/${e.name}`);
      }
    }
    assert.deepEqual(files.map((f) => f.path).sort(), onDisk.sort());
    for (const f of files) {
      assert.ok(f.startOffset <= f.endOffset);
      assert.equal(f.path, `${f.hourDir}/${parquetName(f, f.startOffset, f.endOffset)}`);
    }

    const [committed] = await readCommittedOffsets(storage);
    const latest = await latestRecord<ArchiveState>(storage, ledgerPath(committed));
    assert.deepEqual(committed, {
      topic: "files",
      partition: 0,
      offset: BigInt(latest!.record.state.committed),
    });

    // Every row read back with only the asked columns: the ids DuckDB finds, offsets in range.
    const ids: bigint[] = [];
    for (const f of files) {
      const table = await readArchivedFile(storage, f.path, {
        columns: ["candid", "kafka_offset", "no_such_column"],
      });
      assert.deepEqual(table.schema.fields.map((field) => field.name), ["candid", "kafka_offset"]);
      for (const offset of table.getChild("kafka_offset")!.toArray() as BigInt64Array) {
        assert.ok(offset >= f.startOffset && offset <= f.endOffset, `${offset} in ${f.path}`);
      }
      ids.push(...alertIds(table)!.ids);
    }
    // Paths into records read only those fields, with the values of the whole records.
    const whole = await readArchivedFile(storage, files[0].path, {
      columns: ["candidate", "prv_candidates"],
    });
    const cut = await readArchivedFile(storage, files[0].path, {
      columns: ["candidate.jd", "prv_candidates.magpsf", "prv_candidates.jd", "candidate.nothing"],
    });
    assert.deepEqual(cut.schema.fields.map((f) => f.toString()), [
      "candidate: Struct<{jd:Float64}>",
      "prv_candidates: List<Struct<{jd:Float64, magpsf:Float32}>>",
    ]);
    let points = 0;
    for (let i = 0; i < whole.numRows; i++) {
      assert.equal(cut.getChild("candidate")!.get(i)!.jd, whole.getChild("candidate")!.get(i)!.jd);
      const history = whole.getChild("prv_candidates")!.get(i);
      const kept = cut.getChild("prv_candidates")!.get(i);
      assert.equal(kept?.length, history?.length);
      for (let k = 0; k < (history?.length ?? 0); k++, points++) {
        assert.equal(kept!.get(k)!.magpsf, history!.get(k)!.magpsf);
        assert.equal(kept!.get(k)!.jd, history!.get(k)!.jd);
      }
    }
    assert.ok(points > 0);
    const expected = await query(
      `select candid from read_parquet('${root}/files/**/*.parquet') order by candid`,
    );
    assert.deepEqual(
      ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      expected.map((r) => BigInt(r.candid as bigint)),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hive layout hours are listed and filtered like plain ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_reader_hive_" });
  try {
    const storage = new LocalStorage(await archive(dir, "hive"));
    const range = {
      from: Date.UTC(2023, 9, 18, 10) / HOUR_MS,
      to: Date.UTC(2023, 9, 18, 11) / HOUR_MS,
    };
    const hours = await listArchivedHours(storage, "files", range);
    assert.deepEqual(hours.map((h) => h.dir), [
      "files/year=2023/month=10/day=18/hour=10",
      "files/year=2023/month=10/day=18/hour=11",
    ]);
    const files = await listArchivedFiles(storage, "files", { hours: range, partition: 0 });
    assert.ok(files.length > 0);
    assert.deepEqual(await listArchivedFiles(storage, "files", { hours: range, partition: 1 }), []);
    const table = await readArchivedFile(storage, files[0].path);
    assert.ok(table.getChild("cutoutScience") !== null, "no columns given: every column");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("object ids are read from ZTF objectId and Rubin diaObject.diaObjectId", () => {
  const ztf = arrow.tableFromArrays({ objectId: ["ZTF18abcdefg", "ZTF19hijklmn"] });
  assert.deepEqual(alertObjectIds(ztf), ["ZTF18abcdefg", "ZTF19hijklmn"]);
  const diaObject = arrow.vectorFromArray(
    [{ diaObjectId: 313853267470630932n }, { diaObjectId: 1n }],
    new arrow.Struct([new arrow.Field("diaObjectId", new arrow.Int64(), true)]),
  );
  const rubin = new arrow.Table({ diaObject });
  assert.deepEqual(alertObjectIds(rubin), ["313853267470630932", "1"]);
  assert.equal(alertObjectIds(arrow.tableFromArrays({ candid: [1, 2] })), undefined);
});
