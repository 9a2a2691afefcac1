/**
 * LocalStorage: the shared contract on a real temporary directory, plus what only a
 * local disk has (a real ENOSPC from /dev/full, fsync'd rename, absolute location).
 */
import assert from "node:assert/strict";
import { type IoEvent, LocalStorage } from "../../../core/storage/local.ts";
import { StorageError } from "../../../core/storage/errors.ts";
import { storageContract } from "./contract.ts";

storageContract("local", async () => {
  const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
  return {
    storage: new LocalStorage(`${dir}/archive`),
    close: () => Deno.remove(dir, { recursive: true }),
  };
});

const HAS_DEV_FULL = await Deno.stat("/dev/full").then(() => true, () => false);

Deno.test({
  name: "local storage: a full disk (ENOSPC from /dev/full) is a transient no-space error",
  ignore: !HAS_DEV_FULL,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
    try {
      const storage = new LocalStorage(dir);
      await Deno.symlink("/dev/full", `${dir}/full.bin`);
      let caught: unknown = null;
      try {
        await storage.writeFile("full.bin", new Uint8Array(4096));
      } catch (error) {
        caught = error;
      }
      assert(caught instanceof StorageError, `expected a StorageError, found ${caught}`);
      assert.equal(caught.kind, "no-space");
      assert.equal(caught.exception, "ENOSPC");
      assert.equal(caught.transient, true);
      assert.match(caught.message, /writeFile of "full\.bin".*free disk space/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("local storage: location is the absolute root and the root is created on demand", async () => {
  const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
  try {
    const storage = new LocalStorage(`${dir}/not/yet/there`);
    assert.equal(storage.location, `${dir}/not/yet/there`);
    assert.equal(await storage.stat(""), null);
    assert.deepEqual(await storage.usage(""), { files: 0, bytes: 0 });
    await storage.writeFile("x.bin", new Uint8Array([1, 2, 3]));
    assert.deepEqual(await Deno.readFile(`${dir}/not/yet/there/x.bin`), new Uint8Array([1, 2, 3]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local storage: rename leaves no trace of the temporary name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
  try {
    const storage = new LocalStorage(dir);
    await storage.writeFile("2024/05/01/part-0.parquet.tmp", new Uint8Array([7]));
    await storage.rename("2024/05/01/part-0.parquet.tmp", "2024/05/01/part-0.parquet");
    const names: string[] = [];
    for await (const item of Deno.readDir(`${dir}/2024/05/01`)) names.push(item.name);
    assert.deepEqual(names, ["part-0.parquet"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "local storage: a read-only directory is a permanent permission error",
  // root bypasses file modes, so the refusal cannot be observed as root.
  ignore: Deno.build.os === "windows" || Deno.uid() === 0,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
    try {
      await Deno.chmod(dir, 0o500);
      let caught: unknown = null;
      try {
        await new LocalStorage(dir).writeFile("x.bin", new Uint8Array([1]));
      } catch (error) {
        caught = error;
      }
      assert(caught instanceof StorageError, `expected a StorageError, found ${caught}`);
      assert.equal(caught.kind, "permission");
      assert.equal(caught.transient, false);
    } finally {
      await Deno.chmod(dir, 0o700);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("local storage: onIo is told every write, fsync, directory fsync, rename and removal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
  try {
    const events: IoEvent[] = [];
    const storage = new LocalStorage(dir, { onIo: (e) => events.push(e) });
    await storage.writeFile("2024/05/01/a.tmp", new Uint8Array(1000));
    const created = events.splice(0).map((e) => `${e.op} ${e.path} ${e.bytes}`);
    // The three new folders are made durable in their parents, then the file and its entry.
    assert.deepEqual(created, [
      "dirFsync  0",
      "dirFsync 2024 0",
      "dirFsync 2024/05 0",
      "write 2024/05/01/a.tmp 1000",
      "fsync 2024/05/01/a.tmp 0",
      "dirFsync 2024/05/01 0",
    ]);
    await storage.writeFile("2024/05/01/a.tmp", new Uint8Array(10));
    assert.deepEqual(events.splice(0).map((e) => e.op), ["write", "fsync"]);
    await storage.rename("2024/05/01/a.tmp", "2024/05/01/a");
    await storage.remove("2024/05/01/a");
    assert.deepEqual(events.splice(0).map((e) => `${e.op} ${e.path}`), [
      "rename 2024/05/01/a",
      "dirFsync 2024/05/01",
      "remove 2024/05/01/a",
      "dirFsync 2024/05/01",
    ]);
    assert.ok(events.every((e) => e.ms >= 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local storage: deferred folder syncs are left to one syncFolders per folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "local_storage_" });
  try {
    const events: IoEvent[] = [];
    const storage = new LocalStorage(dir, { onIo: (e) => events.push(e) });
    await storage.mkdirs("h/01");
    await storage.mkdirs("h/02");
    events.length = 0;
    const deferred = { deferFolderSync: true };
    await storage.writeFile("h/01/a.tmp", new Uint8Array(5), deferred);
    await storage.rename("h/01/a.tmp", "h/01/a", deferred);
    await storage.remove("h/01/a", deferred);
    assert.deepEqual(events.splice(0).map((e) => e.op), ["write", "fsync", "rename", "remove"]);
    await storage.syncFolders(["h/01", "h/02/", "h/01", "h/gone"]);
    assert.deepEqual(events.splice(0).map((e) => `${e.op} ${e.path}`).sort(), [
      "dirFsync h/01",
      "dirFsync h/02",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
