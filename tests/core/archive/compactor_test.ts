import assert from "node:assert/strict";
import { LocalStorage } from "../../../core/storage/mod.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { Ledger, type PartitionLedger } from "../../../core/archive/ledger.ts";
import { FencedError } from "../../../core/storage/fenced_log.ts";
import { writeBatch } from "../../../core/archive/batch_writer.ts";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { Compactor, parseParquetName, readParquet } from "../../../core/archive/compactor.ts";
import { AVRO_SCHEMA_KEY, SCHEMA_KEY_KEY } from "../../../core/archive/parquet_writer.ts";
import { listAlertFiles } from "../../../core/source/files.ts";
import { sharedData } from "../../shared_data.ts";

const TP = { topic: "ztf", partition: 0 };

/** Archives the 50 real alerts of 2020-01-01 (one hour) in five batches; returns the hour folder. */
async function archiveInBatches(storage: Storage, ledger: PartitionLedger): Promise<string> {
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

function compactor(storage: Storage): Compactor {
  return new Compactor(storage, { targetBytes: 128 * 1024 * 1024 });
}

async function withArchive(
  fn: (storage: Storage, ledger: PartitionLedger, hour: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  try {
    const storage = new LocalStorage(dir);
    const ledger = await new Ledger(storage).acquire(TP);
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
    const result = await compactor(storage).compactHour("ztf", hour, () => ledger);
    assert.deepEqual(result, { merged: 5, written: 1 });
    const after = await rows(storage, hour);
    assert.deepEqual(after.names, ["ztf+0+0+49.parquet"]);
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

Deno.test("only the partitions this process owns are merged", async () => {
  await withArchive(async (storage, _ledger, hour) => {
    const before = (await rows(storage, hour)).names;
    assert.deepEqual(await compactor(storage).compactHour("ztf", hour, () => null), {
      merged: 0,
      written: 0,
    });
    assert.deepEqual((await rows(storage, hour)).names, before);
  });
});

Deno.test("a merge by an owner that was taken over leaves the inputs and no merged file", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const before = await rows(storage, hour);
    // Another process takes the partition over while this one merges.
    const taken = new Compactor(storage, { targetBytes: 128 * 1024 * 1024 });
    await new Ledger(storage).acquire(TP);
    await assert.rejects(taken.compactHour("ztf", hour, () => ledger), FencedError);
    assert.deepEqual(await rows(storage, hour), before);
    assert.deepEqual((await storage.usage("_staging")).files, 0);
  });
});

Deno.test("a merge whose record landed before a crash is completed by the next owner", async () => {
  await withArchive(async (storage, _ledger, hour) => {
    const before = await rows(storage, hour);
    // The process dies right after the merge's record: nothing is renamed nor removed.
    let dead = false;
    const dying = new Proxy(storage, {
      get(target, prop) {
        if (dead && (prop === "rename" || prop === "remove")) {
          return () => Promise.reject(new Error("killed"));
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const owner = await new Ledger(dying).acquire(TP);
    const c = new Compactor(dying, { targetBytes: 128 * 1024 * 1024 });
    const committing = owner.session.commit.bind(owner.session);
    owner.session.commit = (change) => {
      dead = true;
      return committing(change);
    };
    await assert.rejects(c.compactHour("ztf", hour, () => owner));
    assert.deepEqual((await rows(storage, hour)).names.length, 5, "still the five inputs");
    await new Ledger(storage).acquire(TP);
    const after = await rows(storage, hour);
    assert.deepEqual(after.names, ["ztf+0+0+49.parquet"]);
    assert.deepEqual(after.candids, before.candids);
  });
});
