import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  decodeToTables,
  encodeBatch,
  type EncodedFile,
  type RawMessage,
} from "../../../core/archive/encoder.ts";
import { sharedData } from "../../shared_data.ts";
import { alertIndex } from "../avro/expected_alerts.ts";

const ALL_DISTRIBUTE = "ztf/alerts/fink-broker-all-distribute-20231018";
const LOCAL = "ztf/alerts/fink-broker-local-20200101";
const SIMULATOR = "ztf/alerts/fink-alert-simulator-v3.1-20181129";
const LSSTCAM = "rubin/alerts/fink-broker-lsstcam-v9.0-20250905";

/** The files of a shared-data folder as Kafka messages with consecutive offsets. */
function messages(dir: string, first = 0n, topic = "ztf"): RawMessage[] {
  const names = [...Deno.readDirSync(sharedData(dir))].map((e) => e.name).sort();
  return names.map((name, i) => ({
    topic,
    partition: 2,
    offset: first + BigInt(i),
    timestamp: 1_700_000_000_000 + i,
    value: Deno.readFileSync(sharedData(dir, name)),
  }));
}

function readTable(file: EncodedFile): arrow.Table {
  return arrow.tableFromIPC(pq.readParquet(file.bytes).intoIPCStream());
}

function hourOfJd(jd: number): string {
  const d = new Date((jd - 2440587.5) * 86_400_000);
  return d.toISOString().slice(0, 13).replace(/-/g, "/").replace("T", "/");
}

Deno.test("alerts spread over many hours land in one file per hour", async () => {
  const batch = messages(ALL_DISTRIBUTE, 1000n);
  const { files, quarantined, decoded } = await encodeBatch(batch);
  assert.equal(quarantined.length, 0);
  assert.equal(decoded, 139);
  assert.equal(files.reduce((n, f) => n + f.rows, 0), 139);
  assert.equal(new Set(files.map((f) => f.hour)).size, files.length);
  assert.ok(files.length > 1, "the 2023-10-18/19 alerts span several hours");
  for (const file of files) {
    const table = readTable(file);
    assert.equal(table.numRows, file.rows);
    const jds = [...table.getChild("candidate")!].map((c) => c!.jd as number);
    for (const jd of jds) assert.equal(hourOfJd(jd), file.hour);
    const offsets = [...table.getChild("kafka_offset")!] as bigint[];
    assert.equal(offsets[0], file.startOffset);
    assert.equal(offsets[offsets.length - 1], file.endOffset);
    assert.deepEqual([...file.ids!], [...table.getChild("candid")!]);
  }
});

Deno.test("a change of schema starts a new file with its own offset range", async () => {
  const local = messages(LOCAL);
  const all = messages(ALL_DISTRIBUTE);
  const batch = [...local.slice(0, 3), all[0], ...local.slice(3, 5)].map((m, i) => ({
    ...m,
    offset: BigInt(i),
  }));
  const { files } = await encodeBatch(batch);
  assert.deepEqual(
    files.map((f) => [f.hour, f.startOffset, f.endOffset, f.rows]),
    [
      ["2020/01/01/13", 0n, 2n, 3],
      [hourOfJd(2460235.8216782), 3n, 3n, 1],
      ["2020/01/01/13", 4n, 5n, 2],
    ],
  );
  assert.equal(files[0].schemaKey, files[2].schemaKey);
  assert.notEqual(files[0].schemaKey, files[1].schemaKey);
});

Deno.test("bad messages are quarantined with a reason and leave no partial rows", async () => {
  const good = messages(LOCAL).slice(0, 4);
  const truncated = { ...good[1], value: good[1].value.subarray(0, 40_000) };
  const garbage = { ...good[2], value: new TextEncoder().encode("{not avro}") };
  const batch = [good[0], truncated, garbage, good[3]];
  const { files, quarantined, decoded } = await encodeBatch(batch);
  assert.equal(decoded, 2);
  assert.deepEqual(quarantined.map((q) => q.offset), [1n, 2n]);
  assert.match(quarantined[0].reason, /truncated/i);
  assert.match(quarantined[1].reason, /Cannot tell the message format/);
  assert.equal(quarantined[1].value, garbage.value);
  assert.equal(files.length, 1);
  assert.equal(files[0].rows, 2);
  assert.deepEqual([...readTable(files[0]).getChild("kafka_offset")!], [0n, 3n]);
});

Deno.test("a missing event time quarantines the message", async () => {
  // This LSSTCam (asteroid) alert has raErr = null: partitioning on it must fail.
  const sso = Deno.readFileSync(
    sharedData(LSSTCAM, "169298432645136561_169298432645136561.avro"),
  );
  const batch = [{ topic: "lsst", partition: 0, offset: 9n, timestamp: 0, value: sso }];
  const { files, quarantined } = await encodeBatch(batch, {
    partition: { field: "diaSource.raErr", unit: "mjd_tai" },
  });
  assert.equal(files.length, 0);
  assert.equal(quarantined.length, 1);
  assert.match(quarantined[0].reason, /diaSource.raErr is missing/);
  const simulator = await encodeBatch(messages(SIMULATOR).slice(0, 1), {
    partition: { field: "candidate.drb" },
  });
  assert.match(simulator.quarantined[0].reason, /candidate.drb not found/);
});

Deno.test("the same messages always give byte-identical files", async () => {
  const batch = messages(LSSTCAM, 500n, "lsst");
  const a = await encodeBatch(batch, { ingestTime: 1_800_000_000_000 });
  const b = await encodeBatch(batch, { ingestTime: 1_800_000_000_000 });
  assert.deepEqual(a.files.map((f) => f.hour), ["2025/09/06/07"]);
  assert.equal(a.files.length, b.files.length);
  a.files.forEach((f, i) => assert.ok(Buffer.compare(f.bytes, b.files[i].bytes) === 0));
  const table = readTable(a.files[0]);
  assert.equal(table.get(0)!.ingest_time, 1_800_000_000_000);
  assert.equal(table.get(0)!.kafka_topic, "lsst");
});

Deno.test("decodeToTables hands the plugin bus the Arrow tables of a batch", async () => {
  const { tables } = await decodeToTables(messages(LOCAL).slice(0, 5));
  assert.equal(tables.length, 1);
  assert.equal(tables[0].table.numRows, 5);
  assert.equal(tables[0].schema.name, "ztf.alert");
  assert.equal(tables[0].ids!.length, 5);
});

Deno.test("a batch mixing topic-partitions is refused", async () => {
  const [a, b] = messages(LOCAL);
  await assert.rejects(encodeBatch([a, { ...b, partition: 3 }]), /one topic-partition/);
});

Deno.test("DuckDB reads the hive-partitioned files with the golden values", async () => {
  const dir = await Deno.makeTempDir();
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const batch = messages(ALL_DISTRIBUTE);
    const { files } = await encodeBatch(batch, { partition: { layout: "hive" } });
    for (const file of files) {
      await Deno.mkdir(`${dir}/${file.hour}`, { recursive: true });
      const name = `ztf+2+${file.startOffset}+${file.endOffset}.parquet`;
      await Deno.writeFile(`${dir}/${file.hour}/${name}`, file.bytes);
    }
    const result = await connection.runAndReadAll(
      `SELECT candid, candidate.jd AS jd, objectId, candidate.magpsf AS magpsf,
              len(prv_candidates) AS n_prv, octet_length(cutoutScience.stampData) AS cutout,
              year, hour
       FROM read_parquet('${dir}/**/*.parquet', hive_partitioning = true, union_by_name = true)`,
    );
    const rows = result.getRowObjectsJS();
    assert.equal(rows.length, 139);
    const index = alertIndex();
    const golden = new Map(
      [...index.values()].filter((r) => r.file.startsWith(ALL_DISTRIBUTE)).map((
        r,
      ) => [r.candid, r]),
    );
    for (const row of rows) {
      const want = golden.get(String(row.candid))!;
      assert.ok(want, `candid ${row.candid} is a real alert`);
      assert.equal(row.jd, Number(want.jd));
      assert.equal(row.objectId, want.objectId);
      assert.equal(row.magpsf, Number(want.magpsf));
      assert.equal(Number(row.n_prv), Number(want.n_prv_candidates));
      assert.equal(Number(row.cutout), Number(want.cutoutScience_bytes));
      assert.equal(String(row.year), "2023");
      assert.equal(String(row.hour).padStart(2, "0"), hourOfJd(Number(want.jd)).slice(-2));
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});
