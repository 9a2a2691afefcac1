import assert from "node:assert/strict";
import { LocalStorage } from "../../../core/storage/mod.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { TMP_SUFFIX } from "../../../core/storage/atomic_replace.ts";
import { type BatchWrite, writeBatch } from "../../../core/archive/batch_writer.ts";
import {
  archiveFilePath,
  compactionJournalPath,
  parquetName,
  quarantineBase,
} from "../../../core/archive/file_names.ts";
import { sharedData } from "../../shared_data.ts";

const TP = { topic: "ztf", partition: 3 };

/** The archive path of the partition's file for `start..end` in one hour folder. */
function fileOf(hour: string, start: bigint, end: bigint): string {
  return archiveFilePath(hour, { tp: TP, start, end });
}

async function withStorage(fn: (storage: Storage, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(new LocalStorage(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The storage with some methods replaced, the others bound to it. */
function overriding(storage: Storage, overrides: Partial<Storage>): Storage {
  return new Proxy(storage, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof Storage];
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function realAlert(): Promise<Uint8Array> {
  return await Deno.readFile(
    sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
  );
}

function batch(start: bigint, end: bigint, bytes: Uint8Array): BatchWrite {
  return {
    tp: TP,
    start,
    end,
    files: [
      { hour: "2018/06/24/07", startOffset: start, endOffset: end - 1n, rows: 2, bytes },
      { hour: "2018/06/25/01", startOffset: end, endOffset: end, rows: 1, bytes },
    ],
    quarantined: [{
      offset: start + 1n,
      reason: "Truncated Avro container",
      value: bytes.slice(0, 10),
    }],
  };
}

Deno.test("a committed batch leaves its files, the offset and no WAL entry", async () => {
  await withStorage(async (storage) => {
    const ledger = new Ledger(storage);
    assert.equal(await ledger.committed(TP), -1n);
    const bytes = await realAlert();
    const written = await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    assert.deepEqual(written.map((f) => f.path), [
      fileOf("2018/06/24/07", 0n, 2n),
      fileOf("2018/06/25/01", 3n, 3n),
    ]);
    assert.deepEqual(await storage.readFile(written[0].path), bytes);
    assert.equal(await ledger.committed(TP), 3n);
    assert.equal(await new Ledger(storage).committed(TP), 3n, "read back from storage");
    assert.deepEqual(await storage.list("_wal/ztf+3"), []);
    const reason = JSON.parse(
      new TextDecoder().decode(await storage.readFile(`${quarantineBase(TP, 1n)}.json`)),
    );
    assert.equal(reason.reason, "Truncated Avro container");
    assert.deepEqual(await storage.readFile(`${quarantineBase(TP, 1n)}.avro`), bytes.slice(0, 10));
    const recovery = await new Ledger(storage).recover();
    assert.equal(recovery.rolledBack, 0);
  });
});

Deno.test("a batch that crashed before its commit is rolled back on recovery", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const ledger = new Ledger(storage);
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    // Crash after the files were renamed into place but before the offset moved.
    let renames = 0;
    const failing = overriding(storage, {
      async rename(from: string, to: string) {
        if (to.startsWith("_offsets/")) throw new Error("killed");
        renames++;
        await storage.rename(from, to);
      },
    });
    await assert.rejects(
      writeBatch(batch(4n, 9n, bytes), { storage: failing, ledger: new Ledger(failing) }),
    );
    assert.equal(renames, 4, "both parquet files and the quarantine pair were in place");
    assert.ok(await storage.stat(fileOf("2018/06/24/07", 4n, 8n)));
    const recovery = await new Ledger(storage).recover();
    assert.equal(recovery.rolledBack, 1);
    assert.equal(await storage.stat(fileOf("2018/06/24/07", 4n, 8n)), null);
    assert.equal(await storage.stat(fileOf("2018/06/25/01", 9n, 9n)), null);
    assert.equal(await storage.stat(`${quarantineBase(TP, 5n)}.avro`), null);
    assert.ok(await storage.stat(fileOf("2018/06/24/07", 0n, 2n)), "committed batch kept");
    assert.equal(await new Ledger(storage).committed(TP), 3n);
  });
});

Deno.test("a crash while a temporary file was half written leaves nothing behind", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const ledger = new Ledger(storage);
    await ledger.begin(TP, { start: 0n, end: 3n, files: ["ztf/2018/06/24/07/ztf+3+0+3.parquet"] });
    await storage.writeFile(
      "ztf/2018/06/24/07/ztf+3+0+3.parquet" + TMP_SUFFIX,
      bytes.slice(0, 100),
    );
    const recovery = await new Ledger(storage).recover();
    assert.equal(recovery.rolledBack, 1);
    assert.equal((await storage.usage("ztf")).files, 0);
  });
});

Deno.test("a WAL entry at or below the committed offset is only cleared", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const ledger = new Ledger(storage);
    const entry = { start: 0n, end: 3n, files: ["ztf/2018/06/24/07/ztf+3+0+3.parquet"] };
    await ledger.begin(TP, entry);
    await storage.writeFile(entry.files[0], bytes);
    // The offset moved but the process died before removing the WAL entry.
    await storage.writeFile("_offsets/ztf+3.json", new TextEncoder().encode('{"offset":"3"}'));
    const recovery = await new Ledger(storage).recover();
    assert.equal(recovery.rolledBack, 0);
    assert.deepEqual(await storage.readFile(entry.files[0]), bytes);
    assert.deepEqual(await storage.list("_wal/ztf+3"), []);
  });
});

Deno.test("the offset survives a crash between HDFS's delete and rename", async () => {
  await withStorage(async (storage) => {
    await storage.writeFile(
      "_offsets/ztf+3.json" + TMP_SUFFIX,
      new TextEncoder().encode('{"offset":"41"}'),
    );
    assert.equal(await new Ledger(storage).committed(TP), 41n);
  });
});

Deno.test("a WAL entry or offset copy torn by a crash is ignored, not fatal", async () => {
  await withStorage(async (storage) => {
    const ledger = new Ledger(storage);
    await writeBatch(batch(0n, 3n, await realAlert()), { storage, ledger });
    const torn = new TextEncoder().encode('{"topic":"ztf","partition":3,"start":"4","end"');
    await storage.writeFile("_wal/ztf+3/00000000000000000004-00000000000000000009.json", torn);
    await storage.writeFile("_offsets/ztf+3.json" + TMP_SUFFIX, torn);
    const recovery = await new Ledger(storage).recover();
    assert.equal(recovery.rolledBack, 0);
    assert.deepEqual(await storage.list("_wal/ztf+3"), []);
    assert.equal(await new Ledger(storage).committed(TP), 3n);
  });
});

Deno.test("recovery leaves the compactor's journals alone", async () => {
  await withStorage(async (storage) => {
    const journal = compactionJournalPath(TP, { start: 0n, end: 9n, hour: 473352 });
    const body = { output: `ztf/2024/01/01/00/${parquetName(TP, 0n, 9n)}`, inputs: [] };
    await storage.writeFile(journal, new TextEncoder().encode(JSON.stringify(body)));
    assert.deepEqual(await new Ledger(storage).recover(), { rolledBack: 0, removedFiles: [] });
    assert.notEqual(await storage.stat(journal), null);
  });
});
