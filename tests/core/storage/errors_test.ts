/**
 * Storage errors an operator can clear are told apart from those retrying cannot fix, and
 * every message is one line: Hadoop's Java stack trace and HTML error pages are cut.
 */
import assert from "node:assert/strict";
import {
  isClearableStorageError,
  isTransientStorageError,
  oneLine,
  StorageError,
} from "../../../core/storage/errors.ts";
import { httpError } from "../../../core/storage/webhdfs_errors.ts";

const CONTEXT = { op: "CREATE", hdfsPath: "/archive/x.parquet", url: "http://127.0.0.1:9870/x" };

const TRACE = 'Permission denied: user=fink, access=WRITE, inode="/archive"\n' +
  Array.from({ length: 40 }, (_, i) => `\tat org.apache.hadoop.Foo.bar${i}(Foo.java:${i})`)
    .join("\n");

Deno.test("a WebHDFS 403 is a clearable permission error on one line, without the trace", () => {
  const body = JSON.stringify({
    RemoteException: {
      exception: "AccessControlException",
      javaClassName: "org.apache.hadoop.security.AccessControlException",
      message: TRACE,
    },
  });
  const error = httpError(403, body, CONTEXT);
  assert.equal(error.kind, "permission");
  assert.ok(isClearableStorageError(error));
  assert.ok(!isTransientStorageError(error), "other callers keep failing fast on it");
  assert.ok(!error.message.includes("\n"), error.message);
  assert.match(error.message, /HTTP 403 .*AccessControlException: Permission denied: user=fink/);
  assert.ok(error.message.length < 400, `${error.message.length} characters`);
});

Deno.test("a bare 403 (a proxy's HTML page) is a permission error on one line", () => {
  const html = "<html>\n<head><title>403 Forbidden</title></head>\n<body>\n" + "x".repeat(3000);
  const error = httpError(403, html, CONTEXT);
  assert.equal(error.kind, "permission");
  assert.ok(!error.message.includes("\n"));
  assert.ok(error.message.length < 500, `${error.message.length} characters`);
});

Deno.test("read-only, permission, space and unavailable clear; invalid and other do not", () => {
  const of = (kind: StorageError["kind"]) => new StorageError(kind, "x", { op: "w", path: "p" });
  for (const kind of ["read-only", "permission", "no-space", "unavailable"] as const) {
    assert.ok(isClearableStorageError(of(kind)), kind);
  }
  for (const kind of ["invalid", "other", "not-found", "already-exists"] as const) {
    assert.ok(!isClearableStorageError(of(kind)), kind);
  }
});

Deno.test("oneLine keeps the first non-empty line, collapsed and bounded", () => {
  assert.equal(oneLine("\n  first   line \n\tat second"), "first line");
  assert.equal(oneLine("y".repeat(50), 10), "yyyyyyyyy…");
});
