/**
 * openStorage: which backend each configured root gives, and the errors for roots that
 * are none of the accepted forms.
 */
import assert from "node:assert/strict";
import {
  LocalStorage,
  openStorage,
  RetryingStorage,
  StorageError,
  WebHdfsStorage,
} from "../../../core/storage/mod.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";

Deno.test("openStorage: local paths, relative ones resolved against cwd", () => {
  const relative = openStorage("data/archive", { cwd: "/srv/fink" });
  assert(relative instanceof LocalStorage);
  assert.equal(relative.location, "/srv/fink/data/archive");
  assert.equal(openStorage("/abs/archive/").location, "/abs/archive");
  assert.equal(openStorage("file:///abs/arch%20ive").location, "/abs/arch ive");
  assert.equal(openStorage("archive").location, `${Deno.cwd()}/archive`);
});

Deno.test("openStorage: webhdfs URLs, default ports, user and swebhdfs", () => {
  const hdfs = openStorage("webhdfs://namenode:9870/fink/archive?user=fink");
  assert(hdfs instanceof WebHdfsStorage);
  assert.equal(hdfs.location, "webhdfs://namenode:9870/fink/archive");
  assert.equal(openStorage("webhdfs://namenode/fink").location, "webhdfs://namenode:9870/fink");
  assert.equal(openStorage("WEBHDFS://nn:50070").location, "webhdfs://nn:50070");
  assert.equal(openStorage("swebhdfs://nn/secure").location, "swebhdfs://nn:9871/secure");
  assert.equal(openStorage("webhdfs://[::1]:9870/x").location, "webhdfs://[::1]:9870/x");
});

Deno.test("openStorage: the URL's user and the options reach the WebHDFS server", async () => {
  await using server = await WebHdfsTestServer.start({ owner: "fink" });
  await openStorage(`${server.url("/fink/a%20b")}?user=fink`).mkdirs("d");
  await openStorage(server.url("/fink/a%20b"), { user: "fink", noRedirect: true })
    .writeFile("d/x.bin", new Uint8Array([4]));
  assert.deepEqual(
    server.requests.map((r) => [r.op, r.path, r.user, r.params.noredirect ?? null]),
    [
      ["MKDIRS", "/fink/a b/d", "fink", null],
      ["CREATE", "/fink/a b/d/x.bin", "fink", "true"],
      ["CREATE", "/fink/a b/d/x.bin", "fink", null],
    ],
  );
});

Deno.test("openStorage: retry options wrap the backend", () => {
  const storage = openStorage("/abs/archive", { retry: { maxAttempts: Infinity } });
  assert(storage instanceof RetryingStorage);
  assert.equal(storage.location, "/abs/archive");
});

Deno.test("openStorage: invalid roots name the value and the accepted forms", () => {
  const cases: [string, RegExp][] = [
    ["", /it is empty/],
    ["   ", /it is empty/],
    ["hdfs://nn:8020/fink", /hdfs:\/\/ \(the RPC port\) is not spoken here/],
    ["s3://bucket/fink", /unsupported scheme "s3:\/\/"/],
    ["webhdfs://", /not a valid URL|host is missing/],
    ["webhdfs://nn:port/x", /not a valid URL/],
    ["webhdfs://nn:9870/x?usr=fink", /unknown query parameter\(s\) usr/],
    ["webhdfs://nn:9870/x?user=", /\?user= is empty/],
    ["webhdfs://bob:pw@nn:9870/x", /credentials in the URL are not supported/],
    ["webhdfs://nn:9870/x#frag", /unexpected fragment "#frag"/],
    ["webhdfs://nn:9870/%E0%A4%A", /not valid percent-encoding/],
  ];
  for (const [root, problem] of cases) {
    assert.throws(() => openStorage(root), (error: Error) => {
      assert(error instanceof StorageError, `${root}: expected a StorageError, found ${error}`);
      assert.equal(error.kind, "invalid");
      assert(error.message.startsWith(`Invalid storage root "${root}": `), error.message);
      assert.match(error.message, problem);
      assert.match(
        error.message,
        /expected a local directory .* or webhdfs:\/\/host:port\/abs\/path\[\?user=name\]/,
      );
      return true;
    }, root);
  }
});
