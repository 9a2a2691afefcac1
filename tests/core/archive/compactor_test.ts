import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { LocalStorage } from "../../../core/storage/mod.ts";
import type { FileData, Storage } from "../../../core/storage/storage.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { TMP_SUFFIX } from "../../../core/storage/atomic_replace.ts";
import { writeBatch } from "../../../core/archive/batch_writer.ts";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { Compactor, type CompactorOptions } from "../../../core/archive/compactor.ts";
import { readParquet } from "../../../core/arrow/parquet.ts";
import {
  compactionJournalPath,
  parquetName,
  parseParquetName,
} from "../../../core/archive/file_names.ts";
import { hourPathStart } from "../../../core/archive/partitioner.ts";
import { listHourFiles } from "../../../core/archive/reader.ts";
import {
  AVRO_SCHEMA_KEY,
  SCHEMA_KEY_KEY,
  writeParquet,
} from "../../../core/archive/parquet_writer.ts";
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

/** The event hour (whole hours since the epoch) of an hour folder. */
function hourOf(dir: string): number {
  return hourPathStart(dir)! / 3_600_000;
}

function compactor(
  storage: Storage,
  ledger: Ledger,
  options: Partial<CompactorOptions> = {},
): Compactor {
  return new Compactor(storage, {
    targetBytes: 128 * 1024 * 1024,
    committed: (tp) => ledger.committed(tp),
    ...options,
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

/** The hour's Parquet files, as stored (superseded inputs included). */
async function stored(storage: Storage, hour: string): Promise<string[]> {
  return (await storage.list(hour)).map((e) => e.name).filter((n) => n.endsWith(".parquet"));
}

/** The files readers read (the archive's listing) and the alerts in them. */
async function rows(
  storage: Storage,
  hour: string,
): Promise<{ names: string[]; candids: string[] }> {
  const files = await listHourFiles(storage, { topic: "ztf", hour: 0, dir: hour });
  const candids: string[] = [];
  for (const f of files) {
    const table = readParquet(await storage.readFile(f.path));
    for (const c of table.getChild("candid")!) candids.push(String(c));
  }
  return { names: files.map((f) => f.path.split("/").pop()!), candids: candids.sort() };
}

/** Every row of the files readers read in offset order, every field, as JSON. */
async function fullRows(storage: Storage, hour: string): Promise<string[]> {
  const out: { offset: bigint; json: string }[] = [];
  for (const f of await listHourFiles(storage, { topic: "ztf", hour: 0, dir: hour })) {
    for (const row of readParquet(await storage.readFile(f.path))) {
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
    const c = compactor(storage, ledger);
    const result = await c.compactHour("ztf", hour);
    assert.deepEqual(result, { merged: 5, written: 1 });
    assert.equal((await stored(storage, hour)).length, 6, "the inputs wait beside the output");
    assert.equal(await c.expire(), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(await storage.list("_wal/compact"), []);
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
      compactionJournalPath(TP, { start: 0n, end: 49n, hour: hourOf(hour) }),
      new TextEncoder().encode(JSON.stringify({ output, inputs })),
    );
    await storage.writeFile(
      output,
      writeParquet(merged, {
        avroSchema: merged.schema.metadata.get(AVRO_SCHEMA_KEY)!,
        schemaKey: merged.schema.metadata.get(SCHEMA_KEY_KEY)!,
      }),
    );
    const c = compactor(storage, ledger);
    assert.equal(await c.recover(), 0, "nothing rolled back");
    assert.equal(c.pending, 1);
    assert.deepEqual((await rows(storage, hour)).names, [parquetName(TP, 0n, 49n)]);
    assert.equal(await c.expire(), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
  });
});

Deno.test("a merge interrupted before its rename is rolled back on recovery", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const inputs = (await storage.list(hour)).map((e) => e.path);
    const output = `${hour}/${parquetName(TP, 0n, 49n)}`;
    await storage.writeFile(
      compactionJournalPath(TP, { start: 0n, end: 49n, hour: hourOf(hour) }),
      new TextEncoder().encode(JSON.stringify({ output, inputs })),
    );
    await storage.writeFile(output + TMP_SUFFIX, new Uint8Array([1, 2, 3]));
    assert.equal(await compactor(storage, ledger).recover(), 1);
    assert.deepEqual((await storage.list(hour)).map((e) => e.path), inputs);
    assert.deepEqual(await storage.list("_wal/compact"), []);
  });
});

Deno.test("merged inputs stay for the grace period, then go; the merged file is not merged again meanwhile", async () => {
  await withArchive(async (storage, ledger, hour) => {
    let now = Date.now();
    const c = compactor(storage, ledger, { graceMs: 60_000, now: () => now });
    await c.compactHour("ztf", hour);
    assert.equal(await c.expire(), 0, "within the grace");
    assert.equal((await stored(storage, hour)).length, 6);
    assert.deepEqual((await rows(storage, hour)).names, [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(await c.compactHour("ztf", hour), { merged: 0, written: 0 });
    // A restart keeps the merge waiting: its grace counts again from the restart.
    const restarted = compactor(storage, ledger, { graceMs: 60_000, now: () => now });
    assert.equal(await restarted.recover(), 0);
    assert.equal(await restarted.expire(), 0);
    now += 61_000;
    assert.equal(await restarted.expire(), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
  });
});

/** The process died: every later call fails too. */
class Crash extends Error {}

/**
 * Storage that dies at its `at`-th change (write, rename, remove): a write it dies in leaves
 * half the bytes, as a power cut would; nothing after it happens.
 */
function dyingAt(inner: Storage, at: number): Storage & { died: boolean } {
  let changes = 0;
  const wrapper = {
    died: false,
    location: inner.location,
    change<T>(run: () => Promise<T>, torn?: () => Promise<void>): Promise<T> {
      if (wrapper.died) throw new Crash("dead");
      if (++changes < at) return run();
      wrapper.died = true;
      return (torn ?? (() => Promise.resolve()))().then(() => {
        throw new Crash(`died at change ${at}`);
      });
    },
    read<T>(run: () => Promise<T>): Promise<T> {
      if (wrapper.died) throw new Crash("dead");
      return run();
    },
    writeFile: (path: string, data: FileData) =>
      wrapper.change(() => inner.writeFile(path, data), async () => {
        const bytes = data instanceof Uint8Array ? data : await new Response(data).bytes();
        await inner.writeFile(path, bytes.slice(0, bytes.length >> 1));
      }),
    rename: (from: string, to: string) => wrapper.change(() => inner.rename(from, to)),
    remove: (path: string, o?: { recursive?: boolean }) =>
      wrapper.change(() => inner.remove(path, o)),
    mkdirs: (path: string) => wrapper.change(() => inner.mkdirs(path)),
    syncFolders: (folders: readonly string[]) => wrapper.read(() => inner.syncFolders(folders)),
    readFile: (path: string) => wrapper.read(() => inner.readFile(path)),
    readRange: (path: string, offset: number, length: number) =>
      wrapper.read(() => inner.readRange(path, offset, length)),
    list: (dir: string) => wrapper.read(() => inner.list(dir)),
    stat: (path: string) => wrapper.read(() => inner.stat(path)),
    usage: (dir: string) => wrapper.read(() => inner.usage(dir)),
  };
  return wrapper as Storage & { died: boolean };
}

Deno.test("a crash at any step of a merge or of its expiry keeps every alert exactly once", async () => {
  const pristine = await Deno.makeTempDir();
  try {
    const hour = await archiveInBatches(
      new LocalStorage(pristine),
      new Ledger(new LocalStorage(pristine)),
    );
    const before = await rows(new LocalStorage(pristine), hour);
    let completed = false;
    for (let at = 1; !completed; at++) {
      const dir = await Deno.makeTempDir();
      try {
        await new Deno.Command("cp", { args: ["-a", `${pristine}/.`, dir] }).output();
        const storage = new LocalStorage(dir);
        const dying = dyingAt(storage, at);
        const c = compactor(dying, new Ledger(dying));
        try {
          await c.recover();
          await c.compactHour("ztf", hour);
          await c.expire();
          completed = true;
        } catch (e) {
          if (!(e instanceof Crash)) throw e;
        }
        assert.deepEqual(
          (await rows(storage, hour)).candids,
          before.candids,
          `after dying at change ${at}: every alert once`,
        );
        // The restarted archive finishes the work: one file, the same alerts.
        const restarted = compactor(storage, new Ledger(storage));
        await restarted.recover();
        await restarted.compactHour("ztf", hour);
        await restarted.expire();
        assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)], `died at ${at}`);
        assert.deepEqual(await rows(storage, hour), {
          ...before,
          names: [parquetName(TP, 0n, 49n)],
        });
        assert.deepEqual(await storage.list("_wal/compact"), []);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  } finally {
    await Deno.remove(pristine, { recursive: true });
  }
});

Deno.test("a run is cut where the schema changes: no merged file's range covers a file left out", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = new LocalStorage(dir);
    const ledger = new Ledger(storage);
    const hour = "2024/01/01/00";
    const table = (from: number, extra: boolean) =>
      new arrow.Table({
        kafka_offset: arrow.vectorFromArray(
          [0, 1].map((i) => BigInt(from + i)),
          new arrow.Int64(),
        ),
        ...(extra ? { extra: arrow.vectorFromArray(["x", "y"], new arrow.Utf8()) } : {}),
      });
    // Schemas A A B A A: the merges are 0-3 and 6-9, the B file stays as it is.
    for (
      const [from, extra] of [[0, false], [2, false], [4, true], [6, false], [8, false]] as const
    ) {
      await writeBatch({
        tp: TP,
        start: BigInt(from),
        end: BigInt(from + 1),
        files: [{
          hour,
          startOffset: BigInt(from),
          endOffset: BigInt(from + 1),
          rows: 2,
          bytes: writeParquet(table(from, extra), { avroSchema: "", schemaKey: "" }),
        }],
        quarantined: [],
      }, { storage, ledger });
    }
    const c = compactor(storage, ledger);
    assert.deepEqual(await c.compactHour("ztf", `ztf/${hour}`), { merged: 4, written: 2 });
    await c.expire();
    assert.deepEqual(await stored(storage, `ztf/${hour}`), [
      parquetName(TP, 0n, 3n),
      parquetName(TP, 4n, 5n),
      parquetName(TP, 6n, 9n),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
