import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { DuckDBInstance } from "@duckdb/node-api";
import { decodeToTables, type RawMessage } from "../../../core/archive/encoder.ts";
import {
  AVRO_SCHEMA_KEY,
  SCHEMA_KEY_KEY,
  writeParquet,
} from "../../../core/archive/parquet_writer.ts";
import { sharedData } from "../../shared_data.ts";

const RUBIN = "rubin/alerts/fink-broker-lsstcam-v9.0-20250905";

async function rubinTable() {
  const names = [...Deno.readDirSync(sharedData(RUBIN))].map((e) => e.name).sort();
  const batch: RawMessage[] = names.map((name, i) => ({
    topic: "lsst",
    partition: 0,
    offset: BigInt(i),
    timestamp: 0,
    value: Deno.readFileSync(sharedData(RUBIN, name)),
  }));
  const { tables: [decoded] } = await decodeToTables(batch);
  return decoded;
}

Deno.test("Parquet holds the same rows, the Avro schema and the schema key", async () => {
  const decoded = await rubinTable();
  const bytes = writeParquet(decoded.table, {
    avroSchema: decoded.schema.json,
    schemaKey: decoded.schemaKey,
  });
  const back = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  assert.equal(back.numRows, 50);
  assert.deepEqual(
    [...back.getChild("diaSourceId")!],
    [...decoded.table.getChild("diaSourceId")!],
  );
  const cutouts = back.getChild("cutoutScience")!;
  const original = decoded.table.getChild("cutoutScience")!;
  for (let i = 0; i < 50; i++) assert.deepEqual(cutouts.get(i), original.get(i));
  const metadata = pq.readSchema(bytes).metadata();
  assert.equal(metadata.get(AVRO_SCHEMA_KEY), decoded.schema.json);
  assert.equal(metadata.get(SCHEMA_KEY_KEY), decoded.schemaKey);
});

Deno.test("top-level columns get per-type encodings; cutouts stay uncompressed", async () => {
  const decoded = await rubinTable();
  const dir = await Deno.makeTempDir();
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const path = `${dir}/lsst.parquet`;
    await Deno.writeFile(
      path,
      writeParquet(decoded.table, { avroSchema: "{}", schemaKey: "k" }, {
        compression: "zstd",
        rowGroupRows: 20,
      }),
    );
    const reader = await connection.runAndReadAll(
      `SELECT path_in_schema AS path, encodings, compression, stats_min IS NULL AS no_stats
       FROM parquet_metadata('${path}') WHERE row_group_id = 0`,
    );
    const columns = new Map(reader.getRowObjectsJS().map((r) => [String(r.path), r]));
    assert.equal(columns.get("cutoutScience")!.compression, "UNCOMPRESSED");
    assert.equal(columns.get("cutoutScience")!.no_stats, true);
    assert.match(String(columns.get("diaSourceId")!.encodings), /DELTA_BINARY_PACKED/);
    assert.match(String(columns.get("kafka_topic")!.encodings), /DICTIONARY/);
    assert.equal(columns.get("diaSourceId")!.compression, "ZSTD");
    const groups = await connection.runAndReadAll(
      `SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`,
    );
    assert.equal(Number(groups.getRowObjectsJS()[0].n), 3);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown codec is refused", async () => {
  const decoded = await rubinTable();
  assert.throws(
    () =>
      writeParquet(decoded.table, { avroSchema: "{}", schemaKey: "k" }, {
        compression: "brotli" as "lz4",
      }),
    /compression must be lz4, snappy, zstd or none, found brotli/,
  );
});
