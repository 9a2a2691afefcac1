/**
 * A reader querying in a loop while compaction rewrites closed hours never
 * fails and never sees an alert twice or not at all (local disk).
 */
import assert from "node:assert/strict";
import { Compactor } from "../../../core/archive/compactor.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { listArchivedHours } from "../../../core/archive/reader.ts";
import { QueryEngine } from "../../../core/query/engine.ts";
import { conesearch, statistics } from "../../../core/query/queries.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { skyAlerts, writeSkyArchive } from "../../support/sky_archive.ts";

Deno.test("queries looping during compaction see every alert exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_query_compact_" });
  const root = `${dir}/archive`;
  const alerts = skyAlerts(12_000, { seed: 5, perObject: 1 });
  await writeSkyArchive(root, alerts, { perFile: 150 });
  const storage = new LocalStorage(root);
  const ledger = new Ledger(storage);
  const engine = await QueryEngine.open({ archiveRoot: root, scienceRoot: `${dir}/science` });
  const day = { from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 2) };
  const cone = { ra: 180, dec: 0, radiusArcsec: 18_000, n: 10_000 };
  try {
    const inCone = (await conesearch(engine, cone)).length;
    assert.ok(inCone > 10);
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done || reads < 5) {
        const stats = await statistics(engine, day);
        assert.equal(stats.alerts, alerts.length, "every alert once, whatever compaction does");
        assert.equal(stats.objects, alerts.length);
        assert.equal((await conesearch(engine, cone)).length, inCone);
        reads++;
      }
    })();
    const compactor = new Compactor(storage, {
      targetBytes: 64 * 1024 * 1024,
      committed: (tp) => ledger.committed(tp),
    });
    let merged = 0;
    for (const { dir: hourDir } of await listArchivedHours(storage, "sky")) {
      merged += (await compactor.compactHour("sky", hourDir)).merged;
      await new Promise((r) => setTimeout(r, 0));
    }
    done = true;
    await reader;
    assert.ok(merged >= 50, `compaction merged ${merged} files`);
    assert.ok(reads >= 5);
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
