/**
 * The archive's batches held for the distribution stay within their bound in
 * bytes (the oldest let go first), and a file is taken once.
 */
import assert from "node:assert/strict";
import type { ArchivedBatch } from "../../../core/archive/consumers.ts";
import { RecentFiles } from "../../../core/distribution/recent_files.ts";

function batch(paths: string[], size: number, withBytes = true): ArchivedBatch {
  return {
    topic: "ztf",
    partition: 0,
    startOffset: 0n,
    endOffset: 0n,
    files: paths.map((path) => ({
      path,
      hour: "h",
      rows: 1,
      size,
      ...(withBytes ? { bytes: new Uint8Array(size).fill(path.length) } : {}),
    })),
  };
}

Deno.test("recent files: the oldest go beyond the bound, a file is taken once, files without bytes are not held", () => {
  const held = new RecentFiles(250);
  held.offer(batch(["a", "bb"], 100));
  assert.equal(held.bytes, 200);
  assert.equal(held.take("a")?.[0], 1);
  assert.equal(held.take("a"), undefined, "taken once");
  assert.equal(held.bytes, 100);
  held.offer(batch(["ccc"], 100));
  held.offer(batch(["dddd"], 100));
  assert.equal(held.bytes, 200, "within 250 bytes");
  assert.equal(held.take("bb"), undefined, "the oldest was let go");
  held.offer(batch(["eeeee"], 300));
  held.offer(batch(["g"], 10, false));
  assert.deepEqual([held.take("eeeee"), held.take("g")], [undefined, undefined]);
  assert.deepEqual([held.take("ccc")?.[0], held.take("dddd")?.[0]], [3, 4]);
  assert.equal(held.bytes, 0);
  held.offer(batch(["a"], 100));
  held.clear();
  assert.deepEqual([held.bytes, held.take("a")], [0, undefined]);
});
