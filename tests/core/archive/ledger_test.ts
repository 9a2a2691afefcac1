/**
 * The archive's ledger on a real folder with real alert bytes: a batch's files
 * appear only once its record is committed, a crash on either side of the
 * record is completed or undone by the partition's next owner, an owner that
 * was taken over cannot commit, and archives an earlier version wrote
 * (`_offsets/`, the undo log, compaction journals) are read and cleaned up.
 */
import assert from "node:assert/strict";
import { type IoEvent, LocalStorage } from "../../../core/storage/mod.ts";
import { parentPath } from "../../../core/storage/path.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { FencedError } from "../../../core/storage/fenced_log.ts";
import { TMP_SUFFIX } from "../../../core/storage/atomic_replace.ts";
import { Ledger, readCommittedOffset } from "../../../core/archive/ledger.ts";
import { type BatchWrite, writeBatch } from "../../../core/archive/batch_writer.ts";
import {
  archiveFilePath,
  compactionJournalPath,
  legacyParquetName,
  quarantineBase,
} from "../../../core/archive/file_names.ts";
import { sharedData } from "../../shared_data.ts";
import { intercept } from "../../support/intercept.ts";

const TP = { topic: "ztf", partition: 3 };

/** The archive path of the partition's file for `start..end` in one hour folder. */
function fileOf(hour: string, start: bigint, end: bigint): string {
  return archiveFilePath(hour, { tp: TP, start, end });
}

/** The path an earlier version gave the same file (offsets not padded). */
function legacyFileOf(hour: string, start: bigint, end: bigint): string {
  return `ztf/${hour}/${legacyParquetName(TP, start, end)}`;
}

async function withStorage(fn: (storage: Storage, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(new LocalStorage(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The storage, until `kill()`: from then on `method` fails, as if the process had died there. */
function dying(storage: Storage, method: keyof Storage): { storage: Storage; kill(): void } {
  let dead = false;
  const killed = () => Promise.reject(new Error("killed"));
  const proxy = intercept(
    storage,
    method,
    () => dead ? killed as Storage[typeof method] : undefined,
  );
  return { storage: proxy, kill: () => (dead = true) };
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

/** Every file below `dir`, recursively. */
async function filesBelow(storage: Storage, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await storage.list(dir)) {
    if (entry.isDirectory) out.push(...await filesBelow(storage, entry.path));
    else out.push(entry.path);
  }
  return out.sort();
}

Deno.test("a committed batch leaves its files, the offset, and nothing staged", async () => {
  await withStorage(async (storage) => {
    const ledger = await new Ledger(storage).acquire(TP);
    assert.equal(ledger.committed, -1n);
    const bytes = await realAlert();
    const written = await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    assert.deepEqual(written.map((f) => f.path), [
      fileOf("2018/06/24/07", 0n, 2n),
      fileOf("2018/06/25/01", 3n, 3n),
    ]);
    assert.deepEqual(await storage.readFile(written[0].path), bytes);
    assert.equal(ledger.committed, 3n);
    assert.equal(await readCommittedOffset(storage, TP), 3n, "read back from storage");
    assert.deepEqual(await filesBelow(storage, "_staging"), []);
    const reason = JSON.parse(
      new TextDecoder().decode(await storage.readFile(`${quarantineBase(TP, 1n)}.json`)),
    );
    assert.equal(reason.reason, "Truncated Avro container");
    assert.deepEqual(await storage.readFile(`${quarantineBase(TP, 1n)}.avro`), bytes.slice(0, 10));
  });
});

Deno.test("a batch fsyncs each file, and each folder once: staging before the record, hours after the renames", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events: IoEvent[] = [];
    const storage = new LocalStorage(dir, { onIo: (e) => events.push(e) });
    const ledger = await new Ledger(storage).acquire(TP);
    const bytes = await realAlert();
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    events.length = 0;
    await writeBatch(batch(4n, 7n, bytes), { storage, ledger });
    const ops = events.map((e) => e.op);
    const fsynced = events.filter((e) => e.op === "fsync").map((e) => e.path.split("/")[0]);
    assert.deepEqual(
      fsynced.sort(),
      ["_ledger", "_staging", "_staging", "_staging", "_staging"],
      "the 4 files' data, and the record's",
    );
    const folderSyncs = events.filter((e) => e.op === "dirFsync").map((e) => e.path);
    const staging = folderSyncs[0];
    assert.match(staging, /^_staging\//, "the staging folder is fsynced first");
    const hours = ["ztf/2018/06/24/07", "ztf/2018/06/25/01", parentPath(quarantineBase(TP, 5n))];
    for (const folder of [...hours, staging]) {
      const times = folderSyncs.filter((f) => f === folder).length;
      assert.equal(times, folder === staging ? 2 : 1, `${folder}: ${folderSyncs}`);
    }
    const lastRename = ops.lastIndexOf("rename");
    assert.ok(ops.indexOf("dirFsync") < ops.indexOf("rename"), "staged names durable first");
    for (const folder of hours) {
      const at = events.findIndex((e) => e.op === "dirFsync" && e.path === folder);
      assert.ok(at > lastRename, `${folder} is fsynced after every rename`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a merge committed while a batch's commit is in flight keeps the batch's offset", async () => {
  await withStorage(async (inner) => {
    // Holds the creation of the batch's record, so that the merge commit comes meanwhile.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => release = r);
    let holding = false;
    const reached = Promise.withResolvers<void>();
    const storage = intercept(inner, "createIfAbsent", (own) => {
      if (!holding) return undefined;
      return async (path, data) => {
        holding = false;
        reached.resolve();
        await held;
        return await own(path, data);
      };
    });
    const ledger = await new Ledger(storage).acquire(TP);
    const bytes = await realAlert();
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    holding = true;
    const writing = writeBatch(batch(4n, 7n, bytes), { storage, ledger });
    await reached.promise;
    const output = fileOf("2018/06/24/07", 0n, 6n);
    const staged = ledger.stage(output);
    await storage.writeFile(staged, bytes);
    const merging = ledger.commitMerge({
      file: { from: staged, to: output },
      inputs: [fileOf("2018/06/24/07", 0n, 2n), fileOf("2018/06/24/07", 4n, 6n)],
    });
    release();
    await Promise.all([writing, merging]);
    assert.equal(ledger.committed, 7n);
    assert.equal(await readCommittedOffset(storage, TP), 7n, "the merge's record kept it");
    assert.equal(ledger.merges.length, 1);
  });
});

Deno.test("the ledger keeps the fences and the latest record, whatever the number of batches", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    for (let owner = 0; owner < 2; owner++) {
      const ledger = await new Ledger(storage).acquire(TP);
      for (let i = 0; i < 5; i++) {
        const start = BigInt(owner * 50 + i * 10);
        await writeBatch(batch(start, start + 3n, bytes), { storage, ledger });
      }
    }
    const records = (await storage.list("_ledger/ztf+3")).map((e) => e.name);
    // fence 0, its 5 commits (the last kept until completed by the next owner), fence 6, 5 commits.
    assert.deepEqual(records, [
      "00000000000000000000.json",
      "00000000000000000006.json",
      "00000000000000000011.json",
    ]);
    assert.equal(await readCommittedOffset(storage, TP), 93n);
  });
});

Deno.test("a crash after the record, before the renames, is completed by the next owner", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    await writeBatch(batch(0n, 3n, bytes), {
      storage,
      ledger: await new Ledger(storage).acquire(TP),
    });
    // The process dies once the record is written: none of the batch's files is renamed.
    const process = dying(storage, "rename");
    const doomed = await new Ledger(process.storage).acquire(TP);
    process.kill();
    await assert.rejects(writeBatch(batch(4n, 9n, bytes), { storage, ledger: doomed }));
    assert.equal(await storage.stat(fileOf("2018/06/24/07", 4n, 8n)), null, "not yet there");
    const next = await new Ledger(storage).acquire(TP);
    assert.equal(next.committed, 9n, "the batch is committed");
    assert.deepEqual(await storage.readFile(fileOf("2018/06/24/07", 4n, 8n)), bytes);
    assert.ok(await storage.stat(fileOf("2018/06/25/01", 9n, 9n)));
    assert.ok(await storage.stat(`${quarantineBase(TP, 5n)}.avro`));
    assert.deepEqual(await filesBelow(storage, "_staging"), []);
  });
});

Deno.test("a crash before the record leaves nothing visible; the next owner removes what was staged", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const process = dying(storage, "createIfAbsent");
    const first = await new Ledger(process.storage).acquire(TP);
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger: first });
    process.kill();
    await assert.rejects(writeBatch(batch(4n, 9n, bytes), { storage, ledger: first }));
    assert.ok((await filesBelow(storage, "_staging")).length > 0, "staged files left by the crash");
    assert.equal(await storage.stat(fileOf("2018/06/24/07", 4n, 8n)), null);
    const next = await new Ledger(storage).acquire(TP);
    assert.equal(next.committed, 3n);
    assert.deepEqual(await filesBelow(storage, "_staging"), []);
    assert.deepEqual(await filesBelow(storage, "ztf"), [
      fileOf("2018/06/24/07", 0n, 2n),
      fileOf("2018/06/25/01", 3n, 3n),
    ]);
  });
});

Deno.test("an owner that was taken over cannot commit: its batch never appears", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const paused = await new Ledger(storage, { member: "node-a", host: "a", pid: 1 }).acquire(TP);
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger: paused });
    // Another process is assigned the partition while the first one is paused.
    const taker = await new Ledger(storage, { member: "node-b", host: "b", pid: 2 }).acquire(TP);
    assert.equal(taker.committed, 3n, "it resumes after the last batch that landed");
    await writeBatch(batch(4n, 7n, bytes), { storage, ledger: taker });
    // The paused owner wakes up and tries to commit what it held.
    const error = await writeBatch(batch(4n, 9n, bytes), { storage, ledger: paused }).then(
      () => null,
      (e) => e,
    );
    assert.ok(error instanceof FencedError, `expected a FencedError, found ${error}`);
    assert.match(error.message, /fenced at record 2 by node-b \(host b, pid 2\)/);
    assert.equal(error.by.ours, false);
    assert.equal(await storage.stat(fileOf("2018/06/24/07", 4n, 8n)), null);
    assert.deepEqual(await filesBelow(storage, "_staging"), [], "its staged files are removed");
    await assert.rejects(
      writeBatch(batch(4n, 9n, bytes), { storage, ledger: paused }),
      FencedError,
    );
    assert.equal(await readCommittedOffset(storage, TP), 7n);
    assert.ok(await storage.stat(fileOf("2018/06/24/07", 4n, 6n)), "the taker's batch is in");
  });
});

Deno.test("this process's older session is told a newer one of its own took over", async () => {
  await withStorage(async (storage) => {
    const ledger = new Ledger(storage);
    const older = await ledger.acquire(TP);
    await ledger.acquire(TP);
    const error = await older.commitBatch({ end: 3n, files: [] }).then(() => null, (e) => e);
    assert.ok(error instanceof FencedError);
    assert.equal(error.by.ours, true);
  });
});

Deno.test("a record left partial (HDFS writer died while creating it) holds nothing", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const ledger = await new Ledger(storage).acquire(TP);
    await writeBatch(batch(0n, 3n, bytes), { storage, ledger });
    const torn = new TextEncoder().encode('{"kind":"commit","session":"0000');
    await storage.writeFile("_ledger/ztf+3/00000000000000000002.json", torn);
    assert.equal(await readCommittedOffset(storage, TP), 3n);
    const error = await writeBatch(batch(4n, 9n, bytes), { storage, ledger }).then(
      () => null,
      (e) => e,
    );
    assert.ok(error instanceof FencedError);
    assert.equal(error.by.record, null);
    assert.match(error.message, /a writer whose record is unreadable/);
    const next = await new Ledger(storage).acquire(TP);
    assert.equal(next.committed, 3n);
  });
});

Deno.test("an earlier version's archive: its offset is read, its uncommitted batch rolled back at takeover", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    await storage.writeFile(legacyFileOf("2018/06/24/07", 0n, 2n), bytes);
    await storage.writeFile("_offsets/ztf+3.json", encode({ offset: "3" }));
    // A batch it began but never committed, and one whose entry it never removed.
    const uncommitted = legacyFileOf("2018/06/24/07", 4n, 8n);
    await storage.writeFile(uncommitted, bytes);
    await storage.writeFile(uncommitted + TMP_SUFFIX, bytes);
    await storage.writeFile(
      "_wal/ztf+3/00000000000000000004-00000000000000000009.json",
      encode({ topic: "ztf", partition: 3, start: "4", end: "9", files: [uncommitted] }),
    );
    await storage.writeFile(
      "_wal/ztf+3/00000000000000000000-00000000000000000003.json",
      encode({
        topic: "ztf",
        partition: 3,
        start: "0",
        end: "3",
        files: [legacyFileOf("2018/06/24/07", 0n, 2n)],
      }),
    );
    await storage.writeFile("_wal/ztf+3/torn.json", new TextEncoder().encode('{"topic":"zt'));
    assert.equal(await readCommittedOffset(storage, TP), 3n);
    const ledger = await new Ledger(storage).acquire(TP);
    assert.equal(ledger.committed, 3n);
    assert.deepEqual(await filesBelow(storage, "ztf"), [legacyFileOf("2018/06/24/07", 0n, 2n)]);
    assert.deepEqual(await storage.list("_wal/ztf+3"), []);
    await writeBatch(batch(4n, 9n, bytes), { storage, ledger });
    assert.equal(await readCommittedOffset(storage, TP), 9n);
  });
});

Deno.test("an earlier version's offset survives a crash between HDFS's delete and rename", async () => {
  await withStorage(async (storage) => {
    await storage.writeFile(
      "_offsets/ztf+3.json" + TMP_SUFFIX,
      new TextEncoder().encode('{"offset":"41"}'),
    );
    assert.equal(await readCommittedOffset(storage, TP), 41n);
    assert.equal((await new Ledger(storage).acquire(TP)).committed, 41n);
  });
});

Deno.test("an earlier version's interrupted merges: in place they wait out their grace, else are rolled back", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const hour = "ztf/2018/06/24/07";
    const inputs = [`${hour}/ztf+3+0+9.parquet`, `${hour}/ztf+3+10+19.parquet`];
    for (const input of inputs) await storage.writeFile(input, bytes);
    await storage.writeFile("_offsets/ztf+3.json", encode({ offset: "39" }));
    // Renamed into place before the crash: its inputs stay beside it for the grace period.
    await storage.writeFile(`${hour}/ztf+3+0+19.parquet`, bytes);
    const inPlace = compactionJournalPath(TP, { start: 0n, end: 19n, hour: 425815 });
    await storage.writeFile(inPlace, encode({ output: `${hour}/ztf+3+0+19.parquet`, inputs }));
    // Still temporary at the crash: its inputs stay, the temporary output goes.
    const kept = [`${hour}/ztf+3+20+29.parquet`, `${hour}/ztf+3+30+39.parquet`];
    for (const input of kept) await storage.writeFile(input, bytes);
    await storage.writeFile(`${hour}/ztf+3+20+39.parquet${TMP_SUFFIX}`, bytes);
    await storage.writeFile(
      "_wal/compact/ztf+3+20-39.json",
      encode({ output: `${hour}/ztf+3+20+39.parquet`, inputs: kept }),
    );
    // Another partition's journal is that partition's business.
    await storage.writeFile("_wal/compact/ztf+4+0-9.json", encode({ output: "x", inputs: [] }));
    const ledger = await new Ledger(storage).acquire(TP);
    assert.deepEqual(await filesBelow(storage, hour), [
      `${hour}/ztf+3+0+19.parquet`,
      ...inputs,
      ...kept,
    ]);
    assert.deepEqual(ledger.merges, [{
      output: `${hour}/ztf+3+0+19.parquet`,
      inputs,
      journal: inPlace,
    }]);
    assert.deepEqual((await storage.list("_wal/compact")).map((e) => e.name).sort(), [
      inPlace.slice("_wal/compact/".length),
      "ztf+4+0-9.json",
    ]);
    // Once its grace is over, its inputs and journal go (compactor.ts decides when).
    await ledger.expireMerge(ledger.merges[0], { keepInputs: false });
    assert.deepEqual(await filesBelow(storage, hour), [`${hour}/ztf+3+0+19.parquet`, ...kept]);
    assert.deepEqual((await storage.list("_wal/compact")).map((e) => e.name), ["ztf+4+0-9.json"]);
    assert.deepEqual((await new Ledger(storage).acquire(TP)).merges, []);
  });
});

Deno.test("an earlier version's batch that crashed while a temporary file was half written leaves nothing behind", async () => {
  await withStorage(async (storage) => {
    const bytes = await realAlert();
    const file = legacyFileOf("2018/06/24/07", 0n, 3n);
    await storage.writeFile(
      "_wal/ztf+3/00000000000000000000-00000000000000000003.json",
      new TextEncoder().encode(
        JSON.stringify({ topic: "ztf", partition: 3, start: "0", end: "3", files: [file] }),
      ),
    );
    await storage.writeFile(file + TMP_SUFFIX, bytes.slice(0, 100));
    assert.equal((await new Ledger(storage).acquire(TP)).committed, -1n);
    assert.equal((await storage.usage("ztf")).files, 0);
  });
});

Deno.test("an earlier version's offset copy torn by a crash is ignored, not fatal", async () => {
  await withStorage(async (storage) => {
    const torn = new TextEncoder().encode('{"offset":"4');
    await storage.writeFile("_offsets/ztf+3.json", new TextEncoder().encode('{"offset":"3"}'));
    await storage.writeFile("_offsets/ztf+3.json" + TMP_SUFFIX, torn);
    assert.equal((await new Ledger(storage).acquire(TP)).committed, 3n);
  });
});
