import assert from "node:assert/strict";
import {
  parseJsonFile,
  readReplaced,
  removeWithTemporary,
  replaceFile,
  replaceJson,
  temporaryOf,
} from "../../../core/storage/atomic_replace.ts";
import { LocalStorage } from "../../../core/storage/local.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { writeProcessState } from "../../../core/process/state_file.ts";

async function withStorage(fn: (storage: Storage, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(new LocalStorage(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The storage, recording its writes and renames in order. */
function recording(storage: Storage, calls: string[]): Storage {
  return new Proxy(storage, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (prop === "writeFile") calls.push(`write ${args[0]}`);
        if (prop === "rename") calls.push(`rename ${args[0]} ${args[1]}`);
        return value.apply(target, args);
      };
    },
  });
}

const number = (bytes: Uint8Array) => {
  const parsed = parseJsonFile(bytes) as { n?: unknown } | null;
  return typeof parsed?.n === "number" ? parsed.n : null;
};

Deno.test("a replace writes the temporary copy, then renames it over the file", async () => {
  await withStorage(async (storage) => {
    const calls: string[] = [];
    await replaceJson(recording(storage, calls), "a/state.json", { n: 1 });
    await replaceJson(recording(storage, calls), "a/state.json", { n: 2 });
    assert.deepEqual(calls.slice(0, 2), [
      "write a/state.json.tmp",
      "rename a/state.json.tmp a/state.json",
    ]);
    assert.equal(await readReplaced(storage, "a/state.json", number), 2);
    assert.equal(await storage.stat(temporaryOf("a/state.json")), null);
  });
});

Deno.test("reading back takes the temporary copy only when the file is gone or torn", async () => {
  await withStorage(async (storage) => {
    const encode = (text: string) => new TextEncoder().encode(text);
    assert.equal(await readReplaced(storage, "s.json", number), null, "no copy at all");
    // A crash between HDFS's delete and rename: only the (complete) temporary copy is left.
    await storage.writeFile("s.json.tmp", encode('{"n":3}'));
    assert.equal(await readReplaced(storage, "s.json", number), 3);
    // A temporary copy torn while written: the final one holds.
    await storage.writeFile("s.json", encode('{"n":4}'));
    await storage.writeFile("s.json.tmp", encode('{"n":'));
    assert.equal(await readReplaced(storage, "s.json", number), 4);
    await storage.writeFile("s.json", encode('{"n'));
    await storage.writeFile("s.json.tmp", encode('{"n":5}'));
    assert.equal(await readReplaced(storage, "s.json", number), 5);
    await removeWithTemporary(storage, "s.json");
    assert.deepEqual(await storage.list(""), []);
  });
});

Deno.test("writers of the same file at once each get a temporary name of their own", async () => {
  await withStorage(async (storage) => {
    const calls: string[] = [];
    const writer = recording(storage, calls);
    await Promise.all(
      [1, 2, 3].map((n) => replaceFile(writer, "r.parquet", new Uint8Array([n]), { unique: true })),
    );
    const temporaries = calls.filter((c) => c.startsWith("write")).map((c) => c.slice(6));
    assert.equal(new Set(temporaries).size, 3);
    for (const t of temporaries) assert.match(t, /^r\.parquet\.[0-9a-f]{8}\.tmp$/);
    assert.equal((await storage.readFile("r.parquet")).length, 1);
    assert.deepEqual((await storage.list("")).map((e) => e.name), ["r.parquet"]);
  });
});

Deno.test("the process state file is replaced readable by its owner only", async () => {
  await withStorage(async (_storage, dir) => {
    const state = { pid: 1, url: "http://127.0.0.1:1", token: "t", startedAt: "now" };
    await writeProcessState(`${dir}/state`, state);
    await writeProcessState(`${dir}/state`, { ...state, pid: 2 });
    const info = await Deno.stat(`${dir}/state/process.json`);
    assert.equal(info.mode! & 0o777, 0o600);
    const read = JSON.parse(await Deno.readTextFile(`${dir}/state/process.json`));
    assert.equal(read.pid, 2);
  });
});
