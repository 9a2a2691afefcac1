import assert from "node:assert/strict";
import { StageTimes } from "../../../core/archive/stage_times.ts";

Deno.test("stage times: the ledger's disk operations are commit, the files' go by operation", () => {
  const times = new StageTimes();
  times.addIo({ op: "write", path: "ztf/2020/01/01/13/a.parquet.tmp", ms: 30, bytes: 1000 });
  times.addIo({ op: "fsync", path: "ztf/2020/01/01/13/a.parquet.tmp", ms: 20, bytes: 0 });
  times.addIo({ op: "dirFsync", path: "ztf/2020/01/01/13", ms: 5, bytes: 0 });
  times.addIo({ op: "rename", path: "ztf/2020/01/01/13/a.parquet", ms: 1, bytes: 0 });
  times.addIo({ op: "write", path: "_wal/ztf+0/1-2.json", ms: 2, bytes: 100 });
  times.addIo({ op: "dirFsync", path: "_offsets", ms: 3, bytes: 0 });
  times.addIo({ op: "remove", path: "_wal/ztf+0/1-2.json", ms: 1, bytes: 0 });
  times.addCompactionIo({ op: "write", path: "ztf/2020/01/01/13/b.parquet", ms: 9, bytes: 500 });
  const { stages, diskBytes, compactionBytes } = times.snapshot();
  assert.deepEqual(stages.write, { count: 1, seconds: 0.03 });
  assert.deepEqual(stages.fsync, { count: 1, seconds: 0.02 });
  assert.deepEqual(stages.dirFsync, { count: 1, seconds: 0.005 });
  assert.deepEqual(stages.rename, { count: 1, seconds: 0.001 });
  assert.deepEqual(stages.commit, { count: 3, seconds: 0.006 });
  assert.deepEqual(stages.compact, { count: 1, seconds: 0.009 });
  assert.equal(diskBytes, 1100);
  assert.equal(compactionBytes, 500);
});

Deno.test("stage times: a timed call counts whether it resolves or rejects", async () => {
  const times = new StageTimes();
  assert.equal(await times.time("flush", () => Promise.resolve(7)), 7);
  await assert.rejects(times.time("flush", () => Promise.reject(new Error("disk gone"))), /gone/);
  times.add("decode", 12.5, 2);
  const { stages } = times.snapshot();
  assert.equal(stages.flush.count, 2);
  assert.deepEqual(stages.decode, { count: 2, seconds: 0.013 });
  assert.deepEqual(stages.fetch, { count: 0, seconds: 0 });
});
