import assert from "node:assert/strict";
import {
  archiveFilePath,
  compactionJournalPath,
  hourFolderOf,
  legacyParquetName,
  offsetsPath,
  parquetName,
  parseOffsetsName,
  parseParquetName,
  quarantineBase,
  resultFolder,
  walPath,
} from "../../../core/archive/file_names.ts";
import { listHourFiles } from "../../../core/archive/reader.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";

const TP = { topic: "ztf_20200101", partition: 3 };

Deno.test("a Parquet name is parsed back to what it was built from", () => {
  for (const [start, end] of [[0n, 0n], [9n, 10n], [1_234_567n, 9_223_372_036_854_775_807n]]) {
    const name = parquetName(TP, start, end);
    assert.deepEqual(parseParquetName(name), { ...TP, start, end });
  }
  assert.equal(parseParquetName("ztf+0+1+2.parquet.tmp"), null);
  assert.equal(parseParquetName("ztf+0+1.parquet"), null);
  assert.equal(parseParquetName("notes.txt"), null);
});

Deno.test("padded names sort in offset order, unpadded ones do not", () => {
  const ranges: [bigint, bigint][] = [[2n, 9n], [10n, 99n], [100n, 999n], [1000n, 1009n]];
  const padded = ranges.map(([s, e]) => parquetName(TP, s, e));
  assert.deepEqual([...padded].sort(), padded);
  const legacy = ranges.map(([s, e]) => legacyParquetName(TP, s, e));
  assert.notDeepEqual([...legacy].sort(), legacy, "why the offsets are padded");
});

Deno.test("the unpadded names earlier versions wrote are still read", async () => {
  assert.deepEqual(parseParquetName("ztf_20200101+3+10+99.parquet"), {
    ...TP,
    start: 10n,
    end: 99n,
  });
  const dir = await Deno.makeTempDir();
  try {
    const storage = new LocalStorage(dir);
    const hourDir = `${TP.topic}/2020/01/01/13`;
    await storage.writeFile(`${hourDir}/${legacyParquetName(TP, 100n, 199n)}`, new Uint8Array(1));
    await storage.writeFile(`${hourDir}/${parquetName(TP, 0n, 99n)}`, new Uint8Array(1));
    await storage.writeFile(`${hourDir}/${parquetName(TP, 200n, 299n)}`, new Uint8Array(1));
    const files = await listHourFiles(storage, { topic: TP.topic, hour: 438_000, dir: hourDir });
    assert.deepEqual(files.map((f) => [f.startOffset, f.endOffset]), [
      [0n, 99n],
      [100n, 199n],
      [200n, 299n],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bookkeeping names of a topic-partition", () => {
  assert.equal(offsetsPath(TP), "_offsets/ztf_20200101+3.json");
  assert.deepEqual(parseOffsetsName("ztf_20200101+3.json"), TP);
  assert.deepEqual(parseOffsetsName("ztf_20200101+3.json.tmp"), TP, "a replace's only copy");
  assert.equal(parseOffsetsName("ztf_20200101+3.txt"), null);
  assert.equal(
    walPath(TP, 5n, 9n),
    "_wal/ztf_20200101+3/00000000000000000005-00000000000000000009.json",
  );
  assert.equal(
    compactionJournalPath(TP, { start: 5n, end: 9n, hour: 438288 }),
    "_wal/compact/ztf_20200101+3+00000000000000000005-00000000000000000009+h438288.json",
  );
  assert.equal(
    quarantineBase(TP, 42n),
    "_quarantine/ztf_20200101/ztf_20200101+3+00000000000000000042",
  );
});

Deno.test("archive and result paths follow the hour layout", () => {
  const hour = Date.UTC(2020, 0, 1, 13) / 3_600_000;
  const path = archiveFilePath("year=2020/month=01/day=01/hour=13", { tp: TP, start: 0n, end: 9n });
  assert.equal(path, `ztf_20200101/year=2020/month=01/day=01/hour=13/${parquetName(TP, 0n, 9n)}`);
  assert.equal(hourFolderOf(TP.topic, "ztf_20200101/2020/01/01/13"), "2020/01/01/13");
  assert.equal(resultFolder("classify", hour), "classify/2020/01/01/13");
  assert.equal(
    resultFolder("classify", hour, "hive"),
    "classify/year=2020/month=01/day=01/hour=13",
  );
});
