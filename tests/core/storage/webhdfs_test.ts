/**
 * WebHdfsStorage: the shared contract against the WebHDFS-protocol test server (with the
 * 307 redirect and with noredirect=true), plus protocol details and Hadoop error handling.
 */
import assert from "node:assert/strict";
import { openStorage } from "../../../core/storage/mod.ts";
import { StorageError } from "../../../core/storage/errors.ts";
import { WebHdfsStorage } from "../../../core/storage/webhdfs.ts";
import { sharedData } from "../../shared_data.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";
import { storageContract } from "./contract.ts";

const ALERT = sharedData("ztf", "alerts", "fink-client", "ZTF19acihgng.avro");

storageContract("webhdfs", async () => {
  const server = await WebHdfsTestServer.start({ owner: "fink" });
  return {
    storage: openStorage(`${server.url("/fink/archive")}?user=fink`),
    close: () => server.close(),
  };
});

storageContract("webhdfs noredirect", async () => {
  const server = await WebHdfsTestServer.start({ owner: "fink" });
  return {
    storage: openStorage(server.url("/fink/archive"), { user: "fink", noRedirect: true }),
    close: () => server.close(),
  };
});

async function failure(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof StorageError, `expected a StorageError, found ${error}`);
    return error;
  }
  throw new assert.AssertionError({ message: "expected the operation to fail" });
}

Deno.test("webhdfs: CREATE and OPEN go through the namenode's 307 to the datanode", async () => {
  await using server = await WebHdfsTestServer.start();
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/fink", user: "fink" });
  const alert = await Deno.readFile(ALERT);
  await storage.writeFile("2019/alert.avro", alert);
  assert.deepEqual(await storage.readFile("2019/alert.avro"), alert);
  assert.deepEqual(
    server.requests.map((r) => [r.method, r.op, r.stage, r.path, r.status, r.bytes, r.user]),
    [
      ["PUT", "CREATE", "namenode", "/fink/2019/alert.avro", 307, 0, "fink"],
      ["PUT", "CREATE", "datanode", "/fink/2019/alert.avro", 201, alert.length, "fink"],
      ["GET", "OPEN", "namenode", "/fink/2019/alert.avro", 307, 0, "fink"],
      ["GET", "OPEN", "datanode", "/fink/2019/alert.avro", 200, 0, "fink"],
    ],
  );
  assert.equal(server.requests[0].params.overwrite, "true");
  assert.deepEqual(await Deno.readFile(server.localPath("/fink/2019/alert.avro")), alert);
});

Deno.test("webhdfs: noRedirect asks for the datanode Location in JSON", async () => {
  await using server = await WebHdfsTestServer.start();
  const storage = new WebHdfsStorage({
    endpoint: server.endpoint,
    root: "/",
    noRedirect: true,
  });
  await storage.writeFile("x.bin", new Uint8Array([1, 2]));
  assert.deepEqual(await storage.readFile("x.bin"), new Uint8Array([1, 2]));
  const namenode = server.requests.filter((r) => r.stage === "namenode");
  assert.deepEqual(namenode.map((r) => [r.op, r.status, r.params.noredirect, r.user]), [
    ["CREATE", 200, "true", null],
    ["OPEN", 200, "true", null],
  ]);
  assert.equal(storage.location, `webhdfs://127.0.0.1:${new URL(server.endpoint).port}`);
});

Deno.test("webhdfs: names needing percent-encoding survive the round trip", async () => {
  await using server = await WebHdfsTestServer.start();
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/a b" });
  await storage.writeFile("dir with space/é%?#&.bin", new Uint8Array([9]));
  await storage.rename("dir with space/é%?#&.bin", "other dir/ü+=.bin");
  assert.deepEqual((await storage.list("other dir")).map((e) => e.path), ["other dir/ü+=.bin"]);
  assert.deepEqual(
    await Deno.readFile(server.localPath("/a b/other dir/ü+=.bin")),
    new Uint8Array([9]),
  );
});

Deno.test("webhdfs: Hadoop RemoteException bodies become errors naming op, path and exception", async () => {
  await using server = await WebHdfsTestServer.start();
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/fink/archive" });
  const error = await failure(storage.readFile("2024/missing.parquet"));
  assert.equal(error.kind, "not-found");
  assert.equal(error.status, 404);
  assert.equal(error.exception, "FileNotFoundException");
  assert.equal(error.path, "/fink/archive/2024/missing.parquet");
  assert.match(
    error.message,
    /^WebHDFS OPEN of "\/fink\/archive\/2024\/missing\.parquet" failed with HTTP 404 java\.io\.FileNotFoundException: File does not exist/,
  );
});

Deno.test("webhdfs: AccessControlException is a permanent permission error", async () => {
  await using server = await WebHdfsTestServer.start({ owner: "fink" });
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/", user: "mallory" });
  const error = await failure(storage.writeFile("x.bin", new Uint8Array([1])));
  assert.equal(error.kind, "permission");
  assert.equal(error.transient, false);
  assert.match(error.message, /CREATE of "\/x\.bin".*403.*AccessControlException.*user=mallory/);
});

Deno.test("webhdfs: DSQuotaExceededException is a transient no-space error", async () => {
  await using server = await WebHdfsTestServer.start();
  server.setSpaceQuota(10);
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/" });
  const error = await failure(storage.writeFile("x.bin", new Uint8Array(11)));
  assert.equal(error.kind, "no-space");
  assert.equal(error.transient, true);
  assert.match(error.message, /DSQuotaExceededException: The DiskSpace quota/);
  assert.equal(await storage.stat("x.bin"), null);
});

Deno.test("webhdfs: injected 500s are transient, with the exception in the message", async () => {
  await using server = await WebHdfsTestServer.start();
  server.failNext(1, { status: 500, exception: "java.io.IOException", message: "disk died" });
  const storage = new WebHdfsStorage({ endpoint: server.endpoint, root: "/" });
  const error = await failure(storage.list(""));
  assert.equal(error.kind, "unavailable");
  assert.match(
    error.message,
    /LISTSTATUS of "\/" failed with HTTP 500 java\.io\.IOException: disk died/,
  );
  assert.deepEqual(await storage.list(""), []);
});

Deno.test("webhdfs: an answer without a RemoteException names the status and the endpoint", async () => {
  const storage = new WebHdfsStorage({
    endpoint: "http://namenode.invalid:9870",
    root: "/",
    fetch: () => Promise.resolve(new Response("<html>Bad Gateway</html>", { status: 502 })),
  });
  const error = await failure(storage.stat("x"));
  assert.equal(error.kind, "unavailable");
  assert.match(
    error.message,
    /HTTP 502 and no Hadoop RemoteException.*Bad Gateway.*namenode\.invalid:9870/,
  );
});

Deno.test("webhdfs: a namenode that is down is a transient unavailable error", async () => {
  const server = await WebHdfsTestServer.start();
  const endpoint = server.endpoint;
  await server.close();
  const storage = new WebHdfsStorage({ endpoint, root: "/fink" });
  const error = await failure(storage.writeFile("x.bin", new Uint8Array([1])));
  assert.equal(error.kind, "unavailable");
  assert.equal(error.transient, true);
  assert.ok(
    error.message.startsWith(`WebHDFS CREATE of "/fink/x.bin" got no answer from ${endpoint}`),
  );
});

Deno.test("webhdfs: a request without an answer times out as unavailable", async () => {
  const storage = new WebHdfsStorage({
    endpoint: "http://127.0.0.1:9",
    root: "/",
    timeoutMs: 20,
    fetch: (_input, init) =>
      new Promise((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      }),
  });
  const error = await failure(storage.mkdirs("d"));
  assert.equal(error.kind, "unavailable");
  assert.match(error.message, /MKDIRS of "\/d" got no answer .*no answer within 20 ms/);
});

Deno.test("webhdfs: a success status with the wrong body shape is reported, not trusted", async () => {
  const storage = new WebHdfsStorage({
    endpoint: "http://127.0.0.1:9",
    root: "/",
    fetch: () => Promise.resolve(Response.json({ unexpected: true })),
  });
  const error = await failure(storage.mkdirs("d"));
  assert.equal(error.kind, "other");
  assert.match(
    error.message,
    /MKDIRS of "\/d" answered unexpectedly: expected \{"boolean": true\|false\}/,
  );
});

Deno.test("webhdfs test server: speaks Hadoop's answers to raw requests", async () => {
  await using server = await WebHdfsTestServer.start();
  const base = `${server.endpoint}/webhdfs/v1`;
  const put = async (path: string, query: string, body?: Uint8Array<ArrayBuffer>) => {
    const step1 = await fetch(`${base}${path}?op=CREATE&${query}`, {
      method: "PUT",
      redirect: "manual",
    });
    if (step1.status !== 307) return step1;
    await step1.body?.cancel();
    return await fetch(step1.headers.get("location")!, { method: "PUT", body: body ?? null });
  };
  const created = await put("/d/f.bin", "overwrite=false", new Uint8Array([1]));
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("location"), `${server.url("/d/f.bin")}`);
  await created.body?.cancel();

  const again = await put("/d/f.bin", "overwrite=false");
  assert.equal(again.status, 403);
  assert.equal((await again.json()).RemoteException.exception, "FileAlreadyExistsException");

  const listFile = await fetch(`${base}/d/f.bin?op=LISTSTATUS`);
  const statuses = (await listFile.json()).FileStatuses.FileStatus;
  assert.deepEqual(
    statuses.map((
      s: { pathSuffix: string; type: string; length: number },
    ) => [s.pathSuffix, s.type, s.length]),
    [
      ["", "FILE", 1],
    ],
  );

  const unknown = await fetch(`${base}/d?op=FROBNICATE`);
  assert.equal(unknown.status, 400);
  assert.equal((await unknown.json()).RemoteException.exception, "IllegalArgumentException");

  const deleteMissing = await fetch(`${base}/nope?op=DELETE`, { method: "DELETE" });
  assert.deepEqual(await deleteMissing.json(), { boolean: false });

  const mkdir = await fetch(`${base}/e?op=MKDIRS`, { method: "PUT" });
  assert.deepEqual(await mkdir.json(), { boolean: true });
  const renameIntoDir = await fetch(`${base}/d/f.bin?op=RENAME&destination=/e`, { method: "PUT" });
  assert.deepEqual(await renameIntoDir.json(), { boolean: true });
  assert.equal((await Deno.stat(server.localPath("/e/f.bin"))).size, 1);
});
