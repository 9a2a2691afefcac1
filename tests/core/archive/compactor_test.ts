import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { LocalStorage } from "../../../core/storage/mod.ts";
import type { FileData, RenameOptions, Storage } from "../../../core/storage/storage.ts";
import { Ledger, type PartitionLedger } from "../../../core/archive/ledger.ts";
import { FencedError } from "../../../core/storage/fenced_log.ts";
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
import { intercept } from "../../support/intercept.ts";

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

/** The event hour (whole hours since the epoch) of an hour folder. */
function hourOf(dir: string): number {
  return hourPathStart(dir)! / 3_600_000;
}

function compactor(storage: Storage, options: Partial<CompactorOptions> = {}): Compactor {
  return new Compactor(storage, { targetBytes: 128 * 1024 * 1024, ...options });
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

/**
 * The five batches as an earlier version left them (no ledger, the offset in `_offsets/`);
 * `fn` gets the hour folder and its files.
 */
async function withEarlierArchive(
  fn: (storage: Storage, hour: string, inputs: string[]) => Promise<void>,
) {
  await withArchive(async (storage, _ledger, hour) => {
    await storage.remove("_ledger", { recursive: true });
    await storage.writeFile("_offsets/ztf+0.json", new TextEncoder().encode('{"offset":"49"}'));
    await fn(storage, hour, (await storage.list(hour)).map((e) => e.path));
  });
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
    const c = compactor(storage);
    const result = await c.compactHour("ztf", hour, () => ledger);
    assert.deepEqual(result, { merged: 5, written: 1 });
    assert.equal((await stored(storage, hour)).length, 6, "the inputs wait beside the output");
    assert.equal(ledger.merges.length, 1, "the ledger lists the merge as pending");
    assert.equal(await c.expire([ledger]), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(ledger.merges, []);
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
    // An earlier version's crash could leave a file past the committed offset: never merged.
    const last = `${hour}/${parquetName(TP, 40n, 49n)}`;
    await storage.writeFile(`${hour}/${parquetName(TP, 50n, 59n)}`, await storage.readFile(last));
    await compactor(storage).compactHour("ztf", hour, () => ledger);
    assert.ok((await stored(storage, hour)).includes(parquetName(TP, 50n, 59n)));
    assert.deepEqual((await rows(storage, hour)).names.sort(), [
      parquetName(TP, 0n, 49n),
      parquetName(TP, 50n, 59n),
    ]);
  });
});

Deno.test("only the partitions this process owns are merged", async () => {
  await withArchive(async (storage, _ledger, hour) => {
    const before = await stored(storage, hour);
    assert.deepEqual(await compactor(storage).compactHour("ztf", hour, () => null), {
      merged: 0,
      written: 0,
    });
    assert.deepEqual(await stored(storage, hour), before);
  });
});

Deno.test("a merge by an owner that was taken over leaves the inputs and no merged file", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const before = await rows(storage, hour);
    // Another process takes the partition over while this one merges.
    await new Ledger(storage).acquire(TP);
    await assert.rejects(compactor(storage).compactHour("ztf", hour, () => ledger), FencedError);
    assert.deepEqual(await rows(storage, hour), before);
    assert.equal((await stored(storage, hour)).length, 5);
    assert.equal((await storage.usage("_staging")).files, 0, "the staged merge was removed");
  });
});

Deno.test("a merge whose record landed before a crash is completed by the next owner", async () => {
  await withArchive(async (storage, _ledger, hour) => {
    const before = await rows(storage, hour);
    // The process dies right after the merge's record: nothing is renamed nor removed.
    let dead = false;
    const killed = () => Promise.reject(new Error("killed"));
    const dying = intercept(
      intercept(storage, "rename", () => dead ? killed : undefined),
      "remove",
      () => dead ? killed : undefined,
    );
    const owner = await new Ledger(dying).acquire(TP);
    const committing = owner.session.commit.bind(owner.session);
    owner.session.commit = (change) => {
      dead = true;
      return committing(change);
    };
    await assert.rejects(compactor(dying).compactHour("ztf", hour, () => owner));
    assert.equal((await stored(storage, hour)).length, 5, "still the five inputs");
    const next = await new Ledger(storage).acquire(TP);
    const after = await rows(storage, hour);
    assert.deepEqual(after.names, [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(after.candids, before.candids);
    assert.equal(next.merges.length, 1, "its inputs wait out their grace");
  });
});

Deno.test("an expiry by an owner that was taken over deletes nothing", async () => {
  await withArchive(async (storage, ledger, hour) => {
    const c = compactor(storage);
    await c.compactHour("ztf", hour, () => ledger);
    const next = await new Ledger(storage).acquire(TP);
    await assert.rejects(c.expire([ledger]), FencedError);
    assert.equal((await stored(storage, hour)).length, 6, "the inputs still wait");
    assert.equal(next.merges.length, 1, "the new owner inherits the pending merge");
    assert.equal(await compactor(storage).expire([next]), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
  });
});

Deno.test("an earlier version's merge in place waits out its grace, then its inputs and journal go", async () => {
  await withEarlierArchive(async (storage, hour, inputs) => {
    const merged = readParquet(await storage.readFile(inputs[0]));
    const output = `${hour}/${parquetName(TP, 0n, 49n)}`;
    const journal = compactionJournalPath(TP, { start: 0n, end: 49n, hour: hourOf(hour) });
    await storage.writeFile(journal, new TextEncoder().encode(JSON.stringify({ output, inputs })));
    await storage.writeFile(
      output,
      writeParquet(merged, {
        avroSchema: merged.schema.metadata.get(AVRO_SCHEMA_KEY)!,
        schemaKey: merged.schema.metadata.get(SCHEMA_KEY_KEY)!,
      }),
    );
    const ledger = await new Ledger(storage).acquire(TP);
    assert.equal(ledger.committed, 49n, "the committed offset carried on");
    assert.deepEqual(ledger.merges.map((m) => m.output), [output]);
    assert.deepEqual((await rows(storage, hour)).names, [parquetName(TP, 0n, 49n)]);
    let now = Date.now();
    const c = compactor(storage, { graceMs: 60_000, now: () => now });
    assert.equal(await c.expire([ledger]), 0, "its grace counts from the takeover");
    now += 61_000;
    assert.equal(await c.expire([ledger]), 5);
    assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(await storage.list("_wal/compact"), []);
  });
});

Deno.test("an earlier version's merge not in place is rolled back at the first takeover", async () => {
  await withEarlierArchive(async (storage, hour, inputs) => {
    const output = `${hour}/${parquetName(TP, 0n, 49n)}`;
    await storage.writeFile(
      compactionJournalPath(TP, { start: 0n, end: 49n, hour: hourOf(hour) }),
      new TextEncoder().encode(JSON.stringify({ output, inputs })),
    );
    await storage.writeFile(output + TMP_SUFFIX, new Uint8Array([1, 2, 3]));
    const ledger = await new Ledger(storage).acquire(TP);
    assert.deepEqual(ledger.merges, []);
    assert.deepEqual((await storage.list(hour)).map((e) => e.path), inputs);
    assert.deepEqual(await storage.list("_wal/compact"), []);
  });
});

Deno.test("merged inputs stay for the grace period, then go; the merged file is not merged again meanwhile", async () => {
  await withArchive(async (storage, ledger, hour) => {
    let now = Date.now();
    const c = compactor(storage, { graceMs: 60_000, now: () => now });
    await c.compactHour("ztf", hour, () => ledger);
    assert.equal(await c.expire([ledger]), 0, "within the grace");
    assert.equal((await stored(storage, hour)).length, 6);
    assert.deepEqual((await rows(storage, hour)).names, [parquetName(TP, 0n, 49n)]);
    assert.deepEqual(await c.compactHour("ztf", hour, () => ledger), { merged: 0, written: 0 });
    // The partition's next owner (a restart, another node) keeps the merge waiting: its grace
    // counts again from the takeover.
    now += 30_000;
    const next = await new Ledger(storage).acquire(TP);
    const restarted = compactor(storage, { graceMs: 60_000, now: () => now });
    assert.equal(await restarted.expire([next]), 0);
    now += 31_000;
    assert.equal(
      await restarted.expire([next]),
      0,
      "61 s after the merge, 31 s after the takeover",
    );
    now += 30_000;
    assert.equal(await restarted.expire([next]), 5);
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
    createIfAbsent: (path: string, data: Uint8Array) =>
      wrapper.change(() => inner.createIfAbsent(path, data)),
    rename: (from: string, to: string, o?: RenameOptions) =>
      wrapper.change(() => inner.rename(from, to, o)),
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
      await new Ledger(new LocalStorage(pristine)).acquire(TP),
    );
    const before = await rows(new LocalStorage(pristine), hour);
    let completed = false;
    for (let at = 1; !completed; at++) {
      const dir = await Deno.makeTempDir();
      try {
        await new Deno.Command("cp", { args: ["-a", `${pristine}/.`, dir] }).output();
        const storage = new LocalStorage(dir);
        const dying = dyingAt(storage, at);
        const c = compactor(dying);
        try {
          // The takeover's fence and completion are steps too.
          const ledger = await new Ledger(dying).acquire(TP);
          await c.compactHour("ztf", hour, () => ledger);
          await c.expire([ledger]);
          completed = true;
        } catch (e) {
          if (!(e instanceof Crash)) throw e;
        }
        assert.deepEqual(
          (await rows(storage, hour)).candids,
          before.candids,
          `after dying at change ${at}: every alert once`,
        );
        // The partition's next owner finishes the work: one file, the same alerts.
        const restarted = compactor(storage);
        const ledger = await new Ledger(storage).acquire(TP);
        await restarted.compactHour("ztf", hour, () => ledger);
        await restarted.expire([ledger]);
        assert.deepEqual(await stored(storage, hour), [parquetName(TP, 0n, 49n)], `died at ${at}`);
        assert.deepEqual(await rows(storage, hour), {
          ...before,
          names: [parquetName(TP, 0n, 49n)],
        });
        assert.deepEqual(ledger.merges, []);
        assert.equal((await storage.usage("_staging")).files, 0, `died at ${at}: nothing staged`);
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
    const ledger = await new Ledger(storage).acquire(TP);
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
    const c = compactor(storage);
    assert.deepEqual(await c.compactHour("ztf", `ztf/${hour}`, () => ledger), {
      merged: 4,
      written: 2,
    });
    await c.expire([ledger]);
    assert.deepEqual(await stored(storage, `ztf/${hour}`), [
      parquetName(TP, 0n, 3n),
      parquetName(TP, 4n, 5n),
      parquetName(TP, 6n, 9n),
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
