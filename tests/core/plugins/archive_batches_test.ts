import assert from "node:assert/strict";
import { join } from "node:path";
import { writeBatch } from "../../../core/archive/batch_writer.ts";
import { encodeBatch } from "../../../core/archive/encoder.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { liveBatches } from "../../../core/plugins/archive_batches.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { sharedData } from "../../shared_data.ts";

const NIGHT = sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");

Deno.test("a committed batch is read back from the bytes just written, file by file, as from storage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_archive_batches_" });
  try {
    const names = [...Deno.readDirSync(NIGHT)].map((e) => e.name).sort().slice(0, 60);
    const messages = await Promise.all(names.map(async (name, i) => ({
      topic: "ztf",
      partition: 0,
      offset: BigInt(i),
      timestamp: 0,
      value: await Deno.readFile(join(NIGHT, name)),
    })));
    const encoded = await encodeBatch(messages);
    const storage = new LocalStorage(dir);
    const tp = { topic: "ztf", partition: 0 };
    const files = await writeBatch(
      { tp, start: 0n, end: 59n, files: encoded.files, quarantined: [] },
      { storage, ledger: await new Ledger(storage).acquire(tp) },
    );
    assert.ok(files.length > 3, `${files.length} files: the alerts span several hours`);
    assert.ok(files.every((f) => f.bytes !== undefined));
    const archived = { ...tp, startOffset: 0n, endOffset: 59n, files };
    const columns = ["candidate.jd", "prv_candidates.magpsf"];
    const [live] = await liveBatches(storage, archived, columns);
    const [stored] = await liveBatches(storage, {
      ...archived,
      files: files.map((f) => ({ ...f, bytes: undefined })),
    }, columns);
    assert.equal(live.table.numRows, 60);
    assert.deepEqual(Array.from(live.ids), Array.from(stored.ids));
    assert.deepEqual(Array.from(live.eventHours), Array.from(stored.eventHours));
    assert.deepEqual(live.sources, stored.sources);
    const jd = (t: typeof live.table) =>
      Array.from({ length: t.numRows }, (_, i) => t.getChild("candidate")!.get(i)!.jd);
    assert.deepEqual(jd(live.table), jd(stored.table));
    // One file per event hour, each row keyed by its own file's hour.
    assert.equal(new Set(Array.from(live.eventHours)).size, files.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
