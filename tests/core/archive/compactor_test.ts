import assert from "node:assert/strict";
import { LocalStorage } from "../../../core/storage/mod.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { TMP_SUFFIX } from "../../../core/storage/atomic_replace.ts";
import { writeBatch } from "../../../core/archive/batch_writer.ts";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { Compactor } from "../../../core/archive/compactor.ts";
import { readParquet } from "../../../core/arrow/parquet.ts";
import {
  compactionJournalPath,
  parquetName,
  parseParquetName,
} from "../../../core/archive/file_names.ts";
import {
  AVRO_SCHEMA_KEY,
  SCHEMA_KEY_KEY,
  writeParquet,
} from "../../../core/archive/parquet_writer.ts";
import {
  listArchivedFiles,
  listArchivedHours,
  listHourFiles,
} from "../../../core/archive/reader.ts";
import { listAlertFiles } from "../../../core/source/files.ts";
import { sharedData } from "../../shared_data.ts";

const TP = { topic: "ztf", partition: 0 };

/** Archives the 50 real alerts of 2020-01-01 (one hour) in five batches; returns the hour folder. */
async function archiveInBatches(storage: Storage, ledger: Ledger): Promise<string> {
  const files = await listAlertFiles(sharedData("ztf/alerts/fink-broker-local-20200101"));
  const messages: RawMessage[] = await Promise.all(files.map(async (f, i) => ({
    ...TP,
    offset: BigInt(i),
    timestamp: 1_700_000_000_000,
    value: await Deno.readFile(f),
  })));
  let hour = "";
  for (let i = 0; i < messages.length; i += 10) {
    const part = messages.slice(i, i + 10);
    const encoded = await encodeBatch(part);
    hour = encoded.files[0].hour;
    await writeBatch({
      tp: TP,
      start: part[0].offset,
      end: part[part.length - 1].offset,
      files: encoded.files,
      quarantined: encoded.quarantined,
    }, { storage, ledger });
  }
  return `ztf/${hour}`;
}

function compactor(storage: Storage, ledger: Ledger): Compactor {
  return new Compactor(storage, {
    targetBytes: 128 * 1024 * 1024,
    committed: (tp) => ledger.committed(tp),
  });
}

async function withArchive(fn: (storage: Storage, ledger: Ledger, hour: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const storage = new LocalStorage(dir);
    const ledger = new Ledger(storage);
    await fn(storage, ledger, await archiveInBatches(storage, ledger));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function rows(
  storage: Storage,
  hour: string,
): Promise<{ names: string[]; candids: string[] }> {
  const names = (await storage.list(hour)).map((e) => e.name).filter((n) => n.endsWith(".parquet"));
  const candids: string[] = [];
  for (const name of names) {
    const table = readParquet(await storage.readFile(`${hour}/${name}`));
    for (const c of table.getChild("candid")!) candids.push(String(c));
  }
  return { names, candids: candids.sort() };
}

/** Every row of the hour's files in offset order, every field, as JSON. */
async function fullRows(storage: Storage, hour: string): Promise<string[]> {
  const out: { offset: bigint; json: string }[] = [];
  for (const entry of await storage.list(hour)) {
    if (!entry.name.endsWith(".parquet")) continue;
    for (const row of readParquet(await storage.readFile(entry.path))) {
      const json = JSON.stringify(row, (_k, v) => typeof v === "bigint" ? String(v) : v);
      out.push({ offset: row!.kafka_offset as bigint, json });
    }
  }
  return out.sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((r) => r.json);
}

Deno.test("a closed hour's small files merge into one named by its offset range", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const before = await rows(storage, hour);
    const everyField = await fullRows(storage, hour);
    assert.equal(before.names.length, 5);
    const result = await compactor(storage, ledger).compactHour("ztf", hour);
    assert.deepEqual(result, { merged: 5, written: 1 });
    const after = await rows(storage, hour);
    assert.deepEqual(after.names, [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(after.candids, before.candids, "the same 50 alerts, once each");
    const merged = readParquet(await storage.readFile(`${hour}/${after.names[0]}`));
    assert.ok(merged.schema.metadata.get(AVRO_SCHEMA_KEY)!.includes('"candidate"'));
    assert.ok(merged.schema.metadata.get(SCHEMA_KEY_KEY));
    assert.deepEqual(await fullRows(storage, hour), everyField, "every field of every row kept");
    assert.deepEqual(parseParquetName(after.names[0]), {
      topic: "ztf",
      partition: 0,
      start: 0n,
      end: 49n,
    });
  });
});

Deno.test("files past the committed offset are left alone", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const stale = { committed: () => Promise.resolve(19n) };
    const c = compactor(storage, ledger);
    const partial = new Compactor(storage, { ...c.options, ...stale });
    await partial.compactHour("ztf", hour);
    assert.deepEqual((await rows(storage, hour)).names.sort(), [
      parquetName(TP, 0n, 19n),
      parquetName(TP, 20n, 29n),
      parquetName(TP, 30n, 39n),
      parquetName(TP, 40n, 49n),
    ]);
  });
});

Deno.test("a merge interrupted after its rename is finished on recovery", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const inputs = (await storage.list(hour)).map((e) => e.path);
    const merged = readParquet(await storage.readFile(inputs[0]));
    const output = `${hour}/${parquetName(TP, 0n, 49n)}`;
    await storage.writeFile(
      compactionJournalPath(TP, 0n, 49n),
      new TextEncoder().encode(JSON.stringify({ output, inputs })),
    );
    await storage.writeFile(
      output,
      writeParquet(merged, {
        avroSchema: merged.schema.metadata.get(AVRO_SCHEMA_KEY)!,
        schemaKey: merged.schema.metadata.get(SCHEMA_KEY_KEY)!,
      }),
    );
    assert.equal(await compactor(storage, ledger).recover(), 1);
    assert.deepEqual((await storage.list(hour)).map((e) => e.name), [parquetName(TP, 0n, 49n)]);
  });
});

Deno.test("a merge interrupted before its rename is rolled back on recovery", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const inputs = (await storage.list(hour)).map((e) => e.path);
    const output = `${hour}/${parquetName(TP, 0n, 49n)}`;
    await storage.writeFile(
      compactionJournalPath(TP, 0n, 49n),
      new TextEncoder().encode(JSON.stringify({ output, inputs })),
    );
    await storage.writeFile(output + TMP_SUFFIX, new Uint8Array([1, 2, 3]));
    await compactor(storage, ledger).recover();
    assert.deepEqual((await storage.list(hour)).map((e) => e.path), inputs);
    assert.deepEqual(await storage.list("_wal/compact"), []);
  });
});

Deno.test("while a merge is journalled with its output in place, readers list the output, not its inputs", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const inputs = (await storage.list(hour)).map((e) => e.path);
    const output = `${hour}/ztf+0+0+49.parquet`;
    const merged = readParquet(await storage.readFile(inputs[0]));
    const journal = new TextEncoder().encode(JSON.stringify({ output, inputs }));
    await storage.writeFile("_wal/compact/ztf+0+0-49.json", journal);
    const [where] = await listArchivedHours(storage, "ztf");
    // Before the rename the inputs are the truth.
    await storage.writeFile(output + TMP_SUFFIX, new Uint8Array([1, 2, 3]));
    assert.deepEqual(
      (await listHourFiles(storage, { topic: "ztf", ...where })).map((f) => f.path),
      inputs,
    );
    await storage.remove(output + TMP_SUFFIX);
    // Renamed, inputs not yet deleted (or a crash there): the output alone.
    await storage.writeFile(
      output,
      writeParquet(merged, {
        avroSchema: merged.schema.metadata.get(AVRO_SCHEMA_KEY)!,
        schemaKey: merged.schema.metadata.get(SCHEMA_KEY_KEY)!,
      }),
    );
    assert.equal((await storage.list(hour)).length, inputs.length + 1);
    assert.deepEqual((await listArchivedFiles(storage, "ztf")).map((f) => f.path), [output]);
    assert.deepEqual(
      (await listHourFiles(storage, { topic: "ztf", ...where })).map((f) => f.path),
      [output],
    );
    // Recovery finishes the merge; nothing journalled is left to leave out.
    assert.equal(await compactor(storage, ledger).recover(), 1);
    assert.deepEqual((await listArchivedFiles(storage, "ztf")).map((f) => f.path), [output]);
  });
});
