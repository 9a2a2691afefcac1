/**
 * RetryingStorage: transient failures from the fault-injecting WebHDFS server and from a
 * really full local disk (/dev/full) are retried with backoff until they heal; permanent
 * ones are not. Waits are injected, so no test spends real time waiting.
 */
import assert from "node:assert/strict";
import { LocalStorage } from "../../../core/storage/local.ts";
import { StorageError, StorageNotFoundError } from "../../../core/storage/errors.ts";
import {
  backoffDelay,
  type RecoveredInfo,
  type RetryInfo,
  RetryingStorage,
  type RetryOptions,
} from "../../../core/storage/retrying.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { WebHdfsStorage } from "../../../core/storage/webhdfs.ts";
import { sharedData } from "../../shared_data.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";

const ALERT = sharedData("ztf", "alerts", "ztf-avro-alert", "472263571115115000_v3.3.avro");

/** Retry options whose waits are recorded instead of slept, plus what the callbacks saw. */
function recorder(options: RetryOptions = {}) {
  const retries: RetryInfo[] = [];
  const recovered: RecoveredInfo[] = [];
  const waits: number[] = [];
  const retry: RetryOptions = {
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    delay: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
    onRetry: (info) => retries.push(info),
    onRecovered: (info) => recovered.push(info),
    ...options,
  };
  return { retries, recovered, waits, retry };
}

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof StorageError, `expected a StorageError, found ${error}`);
    return error;
  }
  throw new assert.AssertionError({ message: "expected the operation to fail" });
}

/** Wraps `inner` so its methods throw the queued errors first; records every call. */
function scripted(inner: Storage, plan: Record<string, unknown[]>) {
  const calls: string[] = [];
  const storage = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        const planned = plan[String(prop)]?.shift();
        if (typeof planned === "function") return planned(() => value.apply(target, args));
        if (planned) return Promise.reject(planned);
        return value.apply(target, args);
      };
    },
  });
  return { storage, calls };
}

function unavailable(op: string): StorageError {
  return new StorageError("unavailable", "backend down", { op, path: "x" });
}

Deno.test("retrying over webhdfs: 500s then success writes the data once", async () => {
  await using server = await WebHdfsTestServer.start();
  const { retries, recovered, waits, retry } = recorder();
  const storage = new RetryingStorage(
    new WebHdfsStorage({ endpoint: server.endpoint, root: "/fink", user: "fink" }),
    retry,
  );
  const alert = await Deno.readFile(ALERT);
  server.failNext(2, { status: 500, exception: "java.io.IOException", stage: "datanode" });
  await storage.writeFile("2019/alert.avro", alert);

  assert.deepEqual(retries.map((r) => [r.op, r.path, r.attempt, r.delayMs]), [
    ["writeFile", "2019/alert.avro", 1, 75],
    ["writeFile", "2019/alert.avro", 2, 150],
  ]);
  assert(retries.every((r) => r.error instanceof StorageError && r.error.kind === "unavailable"));
  assert.deepEqual(waits, [75, 150]);
  assert.deepEqual(recovered, [
    { op: "writeFile", path: "2019/alert.avro", attempts: 3, waitedMs: 225 },
  ]);
  const writes = server.requests.filter((r) => r.op === "CREATE" && r.stage === "datanode");
  assert.deepEqual(writes.map((r) => r.status), [500, 500, 201]);
  assert.deepEqual(await storage.readFile("2019/alert.avro"), alert);
});

Deno.test("retrying over webhdfs: a namenode 503 on rename is retried and the rename happens once", async () => {
  await using server = await WebHdfsTestServer.start();
  const { retries, retry } = recorder();
  const storage = new RetryingStorage(
    new WebHdfsStorage({ endpoint: server.endpoint, root: "/" }),
    retry,
  );
  await storage.writeFile("h/part.tmp", new Uint8Array([1, 2, 3]));
  server.failNext(1, {
    status: 503,
    exception: "org.apache.hadoop.ipc.RetriableException",
    ops: ["RENAME"],
  });
  await storage.rename("h/part.tmp", "h/part.parquet");
  assert.equal(retries.length, 1);
  assert.deepEqual((await storage.list("h")).map((e) => e.name), ["part.parquet"]);
  assert.deepEqual(
    server.requests.filter((r) => r.op === "RENAME").map((r) => r.status),
    [503, 200],
  );
});

Deno.test("retrying over webhdfs: quota exceeded is retried up to maxAttempts, then thrown", async () => {
  await using server = await WebHdfsTestServer.start();
  server.setSpaceQuota(1000);
  const { retries, recovered, retry } = recorder({ maxAttempts: 3 });
  const storage = new RetryingStorage(
    new WebHdfsStorage({ endpoint: server.endpoint, root: "/" }),
    retry,
  );
  const error = await failure(storage.writeFile("alert.avro", await Deno.readFile(ALERT)));
  assert.equal(error.kind, "no-space");
  assert.match(error.message, /DSQuotaExceededException/);
  assert.deepEqual(retries.map((r) => r.attempt), [1, 2]);
  assert.deepEqual(recovered, []);
  assert.equal(await storage.stat("alert.avro"), null);
});

Deno.test("retrying over webhdfs: with maxAttempts Infinity nothing is lost once space is freed", async () => {
  await using server = await WebHdfsTestServer.start();
  server.setSpaceQuota(1000);
  const { retries, recovered, retry } = recorder({
    maxAttempts: Infinity,
    onRetry: (info) => {
      retries.push(info);
      if (info.attempt === 6) server.setSpaceQuota(null);
    },
  });
  const storage = new RetryingStorage(
    new WebHdfsStorage({ endpoint: server.endpoint, root: "/" }),
    retry,
  );
  const alert = await Deno.readFile(ALERT);
  await storage.writeFile("alert.avro", alert);
  assert.equal(retries.length, 6);
  assert.deepEqual(retries.map((r) => r.delayMs), [75, 150, 300, 600, 750, 750]);
  assert.equal(recovered[0].attempts, 7);
  assert.deepEqual(await storage.readFile("alert.avro"), alert);
});

Deno.test("retrying over webhdfs: permission and not-found errors are not retried", async () => {
  await using server = await WebHdfsTestServer.start({ owner: "fink" });
  const { retries, retry } = recorder({ maxAttempts: Infinity });
  const storage = new RetryingStorage(
    new WebHdfsStorage({ endpoint: server.endpoint, root: "/", user: "mallory" }),
    retry,
  );
  assert.equal((await failure(storage.writeFile("x.bin", new Uint8Array([1])))).kind, "permission");
  assert(
    (await failure(storage.readFile("missing.bin"))) instanceof StorageNotFoundError,
  );
  assert.equal(retries.length, 0);
  assert.deepEqual(server.requests.map((r) => r.op), ["CREATE", "OPEN"]);
});

Deno.test("retrying over webhdfs: an unreachable namenode is retried as configured", async () => {
  const server = await WebHdfsTestServer.start();
  const endpoint = server.endpoint;
  await server.close();
  const { retries, retry } = recorder({ maxAttempts: 4 });
  const storage = new RetryingStorage(new WebHdfsStorage({ endpoint, root: "/" }), retry);
  assert.equal((await failure(storage.list(""))).kind, "unavailable");
  assert.deepEqual(retries.map((r) => r.op + ":" + r.attempt), ["list:1", "list:2", "list:3"]);
});

Deno.test({
  name: "retrying over local disk: ENOSPC is retried until space comes back",
  ignore: !await Deno.stat("/dev/full").then(() => true, () => false),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
    try {
      // A symlink to /dev/full makes the kernel answer every write with ENOSPC.
      await Deno.symlink("/dev/full", `${dir}/part.parquet`);
      const { retries, recovered, retry } = recorder({
        onRetry: (info) => {
          retries.push(info);
          if (info.attempt === 2) Deno.removeSync(`${dir}/part.parquet`);
        },
      });
      const storage = new RetryingStorage(new LocalStorage(dir), retry);
      const alert = await Deno.readFile(ALERT);
      await storage.writeFile("part.parquet", alert);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.error instanceof StorageError && r.error.exception]),
        [[1, "ENOSPC"], [2, "ENOSPC"]],
      );
      assert.equal(recovered[0].attempts, 3);
      assert.deepEqual(await Deno.readFile(`${dir}/part.parquet`), alert);
      assert.equal((await Deno.lstat(`${dir}/part.parquet`)).isSymlink, false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("retrying: a rename whose answer was lost counts as done", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
  try {
    const local = new LocalStorage(dir);
    await local.writeFile("a.tmp", new Uint8Array([1]));
    const { storage: inner, calls } = scripted(local, {
      rename: [async (run: () => Promise<void>) => {
        await run();
        throw unavailable("rename");
      }],
    });
    const { retries, recovered, retry } = recorder();
    await new RetryingStorage(inner, retry).rename("a.tmp", "a.parquet");
    assert.equal(retries.length, 1);
    assert.equal(recovered[0].attempts, 2);
    assert.deepEqual(calls.sort(), ["rename", "rename", "stat", "stat"]);
    assert.deepEqual((await local.list("")).map((e) => e.name), ["a.parquet"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retrying: a create whose answer was lost counts as won; another writer's does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
  try {
    const local = new LocalStorage(dir);
    const lostAnswer = async (run: () => Promise<boolean>) => {
      await run();
      throw unavailable("createIfAbsent");
    };
    const { storage: inner } = scripted(local, { createIfAbsent: [lostAnswer] });
    const { retries, retry } = recorder();
    const ours = new TextEncoder().encode('{"writer":"a"}');
    assert.equal(await new RetryingStorage(inner, retry).createIfAbsent("slot.json", ours), true);
    assert.equal(retries.length, 1);
    // Another writer's create failed on the wire after ours had won: it lost.
    const { storage: rival } = scripted(local, {
      createIfAbsent: [() => Promise.reject(unavailable("createIfAbsent"))],
    });
    const theirs = new TextEncoder().encode('{"writer":"b"}');
    assert.equal(
      await new RetryingStorage(rival, recorder().retry).createIfAbsent("slot.json", theirs),
      false,
    );
    assert.deepEqual(await local.readFile("slot.json"), ours);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retrying: a first-attempt rename of a missing source is not retried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
  try {
    const { retries, retry } = recorder();
    const storage = new RetryingStorage(new LocalStorage(dir), retry);
    assert(await failure(storage.rename("nope.tmp", "x")) instanceof StorageNotFoundError);
    assert.equal(retries.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retrying: aborting the signal stops an endless retry with the last error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
  try {
    const controller = new AbortController();
    const down = Array.from({ length: 100 }, () => unavailable("writeFile"));
    const { storage: inner, calls } = scripted(new LocalStorage(dir), { writeFile: [...down] });
    const { retries, retry } = recorder({
      maxAttempts: Infinity,
      signal: controller.signal,
      delay: (ms, signal) => {
        assert.equal(signal, controller.signal);
        if (ms >= 400) controller.abort();
        return Promise.resolve();
      },
    });
    const storage = new RetryingStorage(inner, retry);
    const error = await failure(storage.writeFile("x.bin", new Uint8Array([1])));
    assert.equal(error, down[3]);
    assert.equal(calls.length, 4);
    assert.equal(retries.length, 4);
    assert.equal(await storage.stat("x.bin"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retrying: a custom isTransient and a throwing callback", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retrying_storage_" });
  try {
    const weird = new Error("not a StorageError");
    const { storage: inner, calls } = scripted(new LocalStorage(dir), { mkdirs: [weird] });
    const { retry } = recorder({
      isTransient: (error) => error === weird,
      onRetry: () => {
        throw new Error("status page broken");
      },
    });
    await new RetryingStorage(inner, retry).mkdirs("d");
    assert.deepEqual(calls, ["mkdirs", "mkdirs"]);
    assert.equal((await Deno.stat(`${dir}/d`)).isDirectory, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backoffDelay: exponential, jittered within [cap/2, cap], capped at maxDelayMs", () => {
  const options = { baseDelayMs: 100, maxDelayMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options, () => 0)), [
    50,
    100,
    200,
    400,
    500,
    500,
  ]);
  assert.deepEqual([1, 2, 3, 4, 5, 60].map((n) => backoffDelay(n, options, () => 0.999999)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  assert.equal(backoffDelay(2000, options, () => 0.5), 750);
});

Deno.test("RetryingStorage: bad options are refused with every problem named", () => {
  const local = new LocalStorage("/nonexistent");
  assert.throws(
    () => new RetryingStorage(local, { baseDelayMs: 0, maxDelayMs: -1, maxAttempts: 1.5 }),
    (error: Error) =>
      error instanceof RangeError &&
      /baseDelayMs must be > 0, found 0.*maxDelayMs must be >= baseDelayMs.*maxAttempts must be an integer >= 1 or Infinity, found 1\.5/
        .test(error.message),
  );
  assert.equal(new RetryingStorage(local, { maxAttempts: Infinity }).location, "/nonexistent");
});
