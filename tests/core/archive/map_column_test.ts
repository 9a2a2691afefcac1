/**
 * An Avro `map` is archived as a Parquet MAP column, with its keys and typed
 * values: the real case is `mangrove` in Fink-annotated Rubin alerts. DuckDB
 * reads it as a MAP, the archive reader (plugins) as an Arrow Map, and
 * compaction keeps it.
 */
import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { DuckDBInstance } from "@duckdb/node-api";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { writeBatch } from "../../../core/archive/batch_writer.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { Compactor } from "../../../core/archive/compactor.ts";
import { listArchivedFiles, readArchivedFile } from "../../../core/archive/reader.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { sharedData } from "../../shared_data.ts";

const ANNOTATED = "rubin/alerts/fink-broker-v7.4-fink-annotated";
const TP = { topic: "rubin", partition: 0 };

/** The alerts as messages (offset = position in name order) and their expected `mangrove`. */
function annotated(): { messages: RawMessage[]; expected: Map<bigint, Record<string, string>> } {
  const names = [...Deno.readDirSync(sharedData(ANNOTATED))].map((e) => e.name).sort();
  const golden = JSON.parse(
    Deno.readTextFileSync(
      sharedData("expected/fink-outputs/rubin_fink-broker-v7.4-fink-annotated.json"),
    ),
  ) as { records: { source_file: string; mangrove: Record<string, string> }[] };
  const byFile = new Map(golden.records.map((r) => [r.source_file.split("/").pop()!, r.mangrove]));
  const expected = new Map<bigint, Record<string, string>>();
  const messages = names.map((name, i) => {
    expected.set(BigInt(i), byFile.get(name)!);
    return {
      ...TP,
      offset: BigInt(i),
      timestamp: 1_700_000_000_000,
      value: Deno.readFileSync(sharedData(ANNOTATED, name)),
    };
  });
  return { messages, expected };
}

function mapOf(value: unknown): Record<string, string | null> {
  assert.ok(value !== null && value !== undefined, "a map value");
  return { ...(value as { toJSON(): Record<string, string | null> }).toJSON() };
}

Deno.test("an Avro map is archived as a MAP column that DuckDB, the reader and compaction keep", async () => {
  const { messages, expected } = annotated();
  assert.equal(messages.length, 20);
  const dir = await Deno.makeTempDir();
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const storage = new LocalStorage(dir);
    const ledger = await new Ledger(storage).acquire(TP);
    for (let i = 0; i < messages.length; i += 5) {
      const part = messages.slice(i, i + 5);
      const encoded = await encodeBatch(part);
      assert.equal(encoded.quarantined.length, 0);
      await writeBatch({
        tp: TP,
        start: part[0].offset,
        end: part[part.length - 1].offset,
        files: encoded.files,
        quarantined: encoded.quarantined,
      }, { storage, ledger });
    }

    const checkReader = async (label: string) => {
      let rows = 0;
      for (const file of await listArchivedFiles(storage, "rubin")) {
        const table = await readArchivedFile(storage, file.path, {
          columns: ["kafka_offset", "mangrove"],
        });
        const column = table.getChild("mangrove")!;
        assert.ok(arrow.DataType.isMap(column.type), `${label}: mangrove is ${column.type}`);
        for (let i = 0; i < table.numRows; i++) {
          const offset = table.getChild("kafka_offset")!.get(i) as bigint;
          assert.deepEqual(mapOf(column.get(i)), expected.get(offset), `${label}: row ${offset}`);
          rows++;
        }
      }
      assert.equal(rows, 20, label);
    };

    const checkDuckDb = async (label: string) => {
      const result = await connection.runAndReadAll(
        `SELECT kafka_offset, typeof(mangrove) AS type, mangrove['HyperLEDA_name'] AS leda,
                map_keys(mangrove) AS keys
         FROM read_parquet('${dir}/rubin/**/*.parquet') ORDER BY kafka_offset`,
      );
      const rows = result.getRowObjectsJS();
      assert.equal(rows.length, 20, label);
      for (const row of rows) {
        const want = expected.get(BigInt(row.kafka_offset as bigint))!;
        assert.match(String(row.type), /^MAP\(VARCHAR, VARCHAR\)$/, label);
        assert.deepEqual(row.keys, Object.keys(want), label);
        assert.equal(row.leda, want.HyperLEDA_name, label);
      }
    };

    await checkReader("as written");
    await checkDuckDb("as written");
    const hour = (await listArchivedFiles(storage, "rubin"))[0].hourDir;
    const compactor = new Compactor(storage, { targetBytes: 128 * 1024 * 1024 });
    const compaction = await compactor.compactHour("rubin", hour, () => ledger);
    assert.ok(compaction.merged > 1, "the small files were merged");
    await compactor.expire([ledger]);
    await checkReader("after compaction");
    await checkDuckDb("after compaction");
  } finally {
    connection.closeSync();
    instance.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});
