/**
 * The Storage contract as tests: every backend registers these cases with its own
 * factory, so local disk and WebHDFS are held to the same semantics.
 */
import assert from "node:assert/strict";
import { sharedData } from "../../shared_data.ts";
import { StorageError, StorageNotFoundError } from "../../../core/storage/errors.ts";
import type { Storage } from "../../../core/storage/storage.ts";

/** A fresh, empty storage and how to dispose of it. */
export interface StorageFixture {
  storage: Storage;
  close(): Promise<void>;
}

const ALERT = sharedData(
  "ztf",
  "alerts",
  "ztf-avro-alert",
  "2019_01_10_739260766315010006_v3.2.avro",
);
const ALERT_DIR = sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");
const BIG_BYTES = 4 * 1024 * 1024;
const encoder = new TextEncoder();

function text(value: string): Uint8Array {
  return encoder.encode(value);
}

async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** At least 4 MB of real alert packets, followed by every byte value 0..255. */
async function bigAlertBlob(): Promise<Uint8Array> {
  const names: string[] = [];
  for await (const item of Deno.readDir(ALERT_DIR)) {
    if (item.isFile && item.name.endsWith(".avro")) names.push(item.name);
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const name of names.sort()) {
    if (size >= BIG_BYTES) break;
    const part = await Deno.readFile(`${ALERT_DIR}/${name}`);
    parts.push(part);
    size += part.length;
  }
  assert(size >= BIG_BYTES, `expected at least ${BIG_BYTES} bytes of alerts, found ${size}`);
  parts.push(Uint8Array.from({ length: 256 }, (_, i) => i));
  const blob = new Uint8Array(size + 256);
  let offset = 0;
  for (const part of parts) {
    blob.set(part, offset);
    offset += part.length;
  }
  return blob;
}

async function assertStorageError(
  promise: Promise<unknown>,
  kind: string,
  ...fragments: string[]
): Promise<StorageError> {
  let caught: unknown = null;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof StorageError, `expected a StorageError, found ${caught}`);
  assert.deepEqual(caught.kind, kind, caught.message);
  for (const fragment of fragments) {
    assert(caught.message.includes(fragment), `"${caught.message}" should mention "${fragment}"`);
  }
  return caught;
}

/** Registers the contract's `Deno.test` cases for the storage `open()` makes. */
export function storageContract(name: string, open: () => Promise<StorageFixture>): void {
  function test(title: string, body: (storage: Storage) => Promise<void>): void {
    Deno.test(`${name} storage: ${title}`, async () => {
      const fixture = await open();
      try {
        await body(fixture.storage);
      } finally {
        await fixture.close();
      }
    });
  }

  test("round-trips a real ZTF alert packet and reports its size", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    await storage.writeFile("ztf/2019/01/10/alert.avro", alert);
    assert.deepEqual(await storage.readFile("ztf/2019/01/10/alert.avro"), alert);
    const entry = await storage.stat("ztf/2019/01/10/alert.avro");
    assert.deepEqual(entry && { ...entry, modified: null }, {
      name: "alert.avro",
      path: "ztf/2019/01/10/alert.avro",
      isDirectory: false,
      size: alert.length,
      modified: null,
    });
    assert(entry?.modified instanceof Date && !Number.isNaN(entry.modified.getTime()));
  });

  test("readRange reads a slice, shorter at the file's end, and fails on a missing file", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    await storage.writeFile("r/alert.avro", alert);
    assert.deepEqual(await storage.readRange("r/alert.avro", 100, 1000), alert.subarray(100, 1100));
    assert.deepEqual(
      await storage.readRange("r/alert.avro", alert.length - 8, 64),
      alert.subarray(alert.length - 8),
    );
    assert.deepEqual((await storage.readRange("r/alert.avro", alert.length, 10)).length, 0);
    const missing = storage.readRange("r/none.avro", 0, 10);
    await assert.rejects(missing, (e) => e instanceof StorageNotFoundError);
  });

  test("writeFile replaces an existing file entirely", async (storage) => {
    await storage.writeFile("a/file.bin", text("a much longer first version"));
    await storage.writeFile("a/file.bin", text("short"));
    assert.deepEqual(new TextDecoder().decode(await storage.readFile("a/file.bin")), "short");
    assert.deepEqual((await storage.stat("a/file.bin"))?.size, 5);
  });

  test("writeFile of a stream writes its chunks in order", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    const chunks = [alert.subarray(0, 1000), alert.subarray(1000, 5000), alert.subarray(5000)];
    await storage.writeFile("stream/alert.avro", ReadableStream.from(chunks));
    assert.deepEqual(await storage.readFile("stream/alert.avro"), alert);
  });

  test("writeFile of an empty file and leading/trailing slashes", async (storage) => {
    await storage.writeFile("/empty/zero.bin/", new Uint8Array());
    assert.deepEqual((await storage.readFile("empty/zero.bin")).length, 0);
    assert.deepEqual((await storage.stat("empty/zero.bin"))?.size, 0);
  });

  test("writeFile onto a directory fails with already-exists", async (storage) => {
    await storage.mkdirs("d/sub");
    await assertStorageError(storage.writeFile("d/sub", text("x")), "already-exists");
    assert.deepEqual((await storage.stat("d/sub"))?.isDirectory, true);
  });

  test("rename replaces an existing destination and creates its parent", async (storage) => {
    await storage.writeFile("tmp/part.parquet.tmp", text("new"));
    await storage.writeFile("final/2024/05/part.parquet", text("old content"));
    await storage.rename("tmp/part.parquet.tmp", "final/2024/05/part.parquet");
    assert.deepEqual(await storage.stat("tmp/part.parquet.tmp"), null);
    assert.deepEqual(
      new TextDecoder().decode(await storage.readFile("final/2024/05/part.parquet")),
      "new",
    );
    await storage.rename("final/2024/05/part.parquet", "elsewhere/deep/er/part.parquet");
    assert.deepEqual((await storage.stat("elsewhere/deep/er/part.parquet"))?.size, 3);
    assert.deepEqual(await storage.stat("final/2024/05/part.parquet"), null);
  });

  test("rename without replacing leaves an existing destination alone", async (storage) => {
    await storage.writeFile("staged/a.parquet", text("new"));
    await storage.writeFile("final/a.parquet", text("old"));
    await assertStorageError(
      storage.rename("staged/a.parquet", "final/a.parquet", { replace: false }),
      "already-exists",
      "final/a.parquet",
    );
    assert.equal(new TextDecoder().decode(await storage.readFile("final/a.parquet")), "old");
    await storage.rename("staged/a.parquet", "elsewhere/a.parquet", { replace: false });
    assert.equal(new TextDecoder().decode(await storage.readFile("elsewhere/a.parquet")), "new");
    assert.equal(await storage.stat("staged/a.parquet"), null);
  });

  test("rename without replacing: of rival renames of one file, one moves it, none loses it", async (storage) => {
    await storage.writeFile("staged/b.parquet", text("bytes"));
    const outcomes = await Promise.allSettled(
      Array.from(
        { length: 6 },
        () => storage.rename("staged/b.parquet", "final/b.parquet", { replace: false }),
      ),
    );
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 1);
    for (const o of outcomes) {
      if (o.status === "rejected") {
        assert.ok(
          o.reason instanceof StorageError &&
            (o.reason.kind === "not-found" || o.reason.kind === "already-exists"),
          `${o.reason}`,
        );
      }
    }
    assert.equal(new TextDecoder().decode(await storage.readFile("final/b.parquet")), "bytes");
    assert.equal(await storage.stat("staged/b.parquet"), null);
  });

  test("rename moves a whole directory", async (storage) => {
    await storage.writeFile("staging/h03/a.bin", text("a"));
    await storage.writeFile("staging/h03/b.bin", text("bb"));
    await storage.rename("staging/h03", "archive/h03");
    assert.deepEqual((await storage.list("archive/h03")).map((e) => e.name), ["a.bin", "b.bin"]);
    assert.deepEqual(await storage.list("staging/h03"), []);
  });

  test("rename of a missing source is a StorageNotFoundError", async (storage) => {
    await storage.writeFile("present.bin", text("x"));
    const error = await assertStorageError(
      storage.rename("absent.tmp", "present.bin"),
      "not-found",
      "absent.tmp",
    );
    assert(error instanceof StorageNotFoundError);
    assert.deepEqual(new TextDecoder().decode(await storage.readFile("present.bin")), "x");
  });

  test("rename onto an existing directory is refused, nothing moves", async (storage) => {
    await storage.writeFile("src.bin", text("x"));
    await storage.mkdirs("dir");
    await assertStorageError(storage.rename("src.bin", "dir"), "already-exists", "directory");
    assert.deepEqual((await storage.stat("src.bin"))?.size, 1);
    assert.deepEqual(await storage.list("dir"), []);
  });

  test("rename to itself keeps the file", async (storage) => {
    await storage.writeFile("same.bin", text("x"));
    await storage.rename("same.bin", "same.bin");
    assert.deepEqual((await storage.stat("same.bin"))?.size, 1);
  });

  test("createIfAbsent creates a missing file whole, with its parents", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    assert.equal(
      await storage.createIfAbsent("_ledger/ztf+3/00000000000000000007.json", alert),
      true,
    );
    assert.deepEqual(await storage.readFile("_ledger/ztf+3/00000000000000000007.json"), alert);
    assert.deepEqual(
      (await storage.list("_ledger/ztf+3")).map((e) => e.name),
      ["00000000000000000007.json"],
      "no temporary name is left beside it",
    );
  });

  test("createIfAbsent leaves an existing file or directory untouched", async (storage) => {
    await storage.writeFile("slot/1.json", text("first"));
    assert.equal(await storage.createIfAbsent("slot/1.json", text("second")), false);
    assert.equal(new TextDecoder().decode(await storage.readFile("slot/1.json")), "first");
    await storage.mkdirs("slot/dir");
    assert.equal(await storage.createIfAbsent("slot/dir", text("x")), false);
    assert.equal((await storage.stat("slot/dir"))?.isDirectory, true);
    assert.deepEqual((await storage.list("slot")).map((e) => e.name), ["1.json", "dir"]);
  });

  test("createIfAbsent: of concurrent creates of one name exactly one wins", async (storage) => {
    const writers = Array.from({ length: 8 }, (_, i) => `{"writer":${i}}`);
    const won = await Promise.all(
      writers.map((w) => storage.createIfAbsent("race/slot.json", text(w))),
    );
    assert.equal(won.filter((w) => w).length, 1, `winners: ${won}`);
    const winner = writers[won.indexOf(true)];
    assert.equal(new TextDecoder().decode(await storage.readFile("race/slot.json")), winner);
    assert.deepEqual((await storage.list("race")).map((e) => e.name), ["slot.json"]);
  });

  test("deferred folder syncs change the entries at once; syncFolders takes missing folders", async (storage) => {
    const deferred = { deferFolderSync: true };
    await storage.writeFile("late/a.tmp", text("abc"), deferred);
    await storage.rename("late/a.tmp", "late/a", deferred);
    await storage.writeFile("late/b", text("b"), deferred);
    await storage.remove("late/b", deferred);
    await storage.syncFolders(["late", "late/", "", "nowhere/below"]);
    assert.deepEqual((await storage.list("late")).map((e) => e.name), ["a"]);
    assert.deepEqual(await storage.readFile("late/a"), text("abc"));
  });

  test("mkdirs creates nested directories and is idempotent", async (storage) => {
    await storage.mkdirs("y/2024/m/05/d/01");
    await storage.mkdirs("y/2024/m/05/d/01");
    for (const path of ["y", "y/2024/m", "y/2024/m/05/d/01"]) {
      assert.deepEqual((await storage.stat(path))?.isDirectory, true, path);
    }
    assert.deepEqual(await storage.list("y/2024/m/05/d/01"), []);
  });

  test("mkdirs with a file in the way fails with already-exists", async (storage) => {
    await storage.writeFile("blocker", text("x"));
    await assertStorageError(storage.mkdirs("blocker"), "already-exists");
    await assertStorageError(storage.mkdirs("blocker/below"), "already-exists");
    assert.deepEqual((await storage.stat("blocker"))?.isDirectory, false);
  });

  test("list gives sorted direct children with sizes", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    await storage.writeFile("hour/b.avro", alert);
    await storage.writeFile("hour/a.bin", text("12345"));
    await storage.writeFile("hour/sub/deeper.bin", text("x"));
    const entries = await storage.list("hour");
    assert.deepEqual(entries.map(({ modified: _, ...rest }) => rest), [
      { name: "a.bin", path: "hour/a.bin", isDirectory: false, size: 5 },
      { name: "b.avro", path: "hour/b.avro", isDirectory: false, size: alert.length },
      { name: "sub", path: "hour/sub", isDirectory: true, size: 0 },
    ]);
    assert.deepEqual((await storage.list("")).map((e) => e.path), ["hour"]);
  });

  test("list of a missing directory is empty, of a file is invalid", async (storage) => {
    assert.deepEqual(await storage.list("nowhere/at/all"), []);
    await storage.writeFile("plain.bin", text("x"));
    await assertStorageError(storage.list("plain.bin"), "invalid", "directory");
  });

  test("stat tells files, directories and missing paths apart", async (storage) => {
    await storage.writeFile("s/file.bin", text("abc"));
    assert.deepEqual((await storage.stat("s"))?.isDirectory, true);
    assert.deepEqual((await storage.stat("s"))?.name, "s");
    assert.deepEqual((await storage.stat("s/file.bin"))?.size, 3);
    assert.deepEqual(await storage.stat("s/missing.bin"), null);
    assert.deepEqual(await storage.stat("s/file.bin/below"), null);
    assert.deepEqual((await storage.stat(""))?.isDirectory, true);
  });

  test("usage counts files and bytes recursively", async (storage) => {
    const alert = await Deno.readFile(ALERT);
    await storage.writeFile("u/2024/01/a.avro", alert);
    await storage.writeFile("u/2024/02/b.avro", alert);
    await storage.writeFile("u/c.bin", text("1234567"));
    await storage.mkdirs("u/empty/dir");
    assert.deepEqual(await storage.usage("u"), { files: 3, bytes: 2 * alert.length + 7 });
    assert.deepEqual(await storage.usage("u/2024/02"), { files: 1, bytes: alert.length });
    assert.deepEqual(await storage.usage("u/c.bin"), { files: 1, bytes: 7 });
    assert.deepEqual(await storage.usage("missing"), { files: 0, bytes: 0 });
    assert.deepEqual(await storage.usage(""), { files: 3, bytes: 2 * alert.length + 7 });
  });

  test("remove deletes files and, when recursive, whole trees", async (storage) => {
    await storage.writeFile("r/keep.bin", text("k"));
    await storage.writeFile("r/tree/a/b.bin", text("b"));
    await storage.writeFile("r/tree/c.bin", text("c"));
    await storage.remove("r/keep.bin");
    assert.deepEqual(await storage.stat("r/keep.bin"), null);
    await storage.remove("r/tree", { recursive: true });
    assert.deepEqual(await storage.stat("r/tree"), null);
    assert.deepEqual(await storage.list("r"), []);
  });

  test("remove of a missing path is not an error", async (storage) => {
    await storage.remove("never/was/here.bin");
    await storage.remove("never", { recursive: true });
    assert.deepEqual(await storage.stat("never"), null);
  });

  test("remove of a non-empty directory without recursive is refused", async (storage) => {
    await storage.writeFile("full/one.bin", text("1"));
    await assertStorageError(storage.remove("full"), "invalid");
    assert.deepEqual((await storage.stat("full/one.bin"))?.size, 1);
    await storage.mkdirs("hollow");
    await storage.remove("hollow");
    assert.deepEqual(await storage.stat("hollow"), null);
  });

  test("readFile of a missing file or a directory is a StorageNotFoundError", async (storage) => {
    const missing = await assertStorageError(
      storage.readFile("no/such/file.avro"),
      "not-found",
      "no/such/file.avro",
    );
    assert(missing instanceof StorageNotFoundError);
    await storage.mkdirs("a/dir");
    await assertStorageError(storage.readFile("a/dir"), "not-found");
  });

  test("invalid paths are refused before touching the backend", async (storage) => {
    for (const bad of ["../escape.bin", "a/../b", "a//b", "./x", "c:x", "a\\b"]) {
      await assertStorageError(storage.writeFile(bad, text("x")), "invalid", bad);
    }
    await assertStorageError(storage.remove(""), "invalid", "root");
    await assertStorageError(storage.readFile("/"), "invalid", "root");
    assert.deepEqual(await storage.list(""), []);
  });

  test("a multi-MB file of real alerts keeps every byte", async (storage) => {
    const blob = await bigAlertBlob();
    await storage.writeFile("big/alerts.bin", blob);
    const back = await storage.readFile("big/alerts.bin");
    assert.deepEqual(back.length, blob.length);
    assert.deepEqual(await sha256(back), await sha256(blob));
    assert(back.every((byte, i) => byte === blob[i]), "bytes differ");
    assert.deepEqual(await storage.usage("big"), { files: 1, bytes: blob.length });
  });
}
