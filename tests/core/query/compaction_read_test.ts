/**
 * A reader querying in a loop while compaction rewrites closed hours never
 * fails and never sees an alert twice or not at all, on local disk and on
 * WebHDFS (the engine reading through the WebHDFS test server).
 */
import assert from "node:assert/strict";
import { Compactor } from "../../../core/archive/compactor.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { listArchivedFiles, listArchivedHours } from "../../../core/archive/reader.ts";
import { QueryEngine } from "../../../core/query/engine.ts";
import { conesearch, statistics } from "../../../core/query/queries.ts";
import { LocalStorage, openStorage } from "../../../core/storage/mod.ts";
import { skyAlerts, writeSkyArchive } from "../../support/sky_archive.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";
import { waitFor } from "../../support/wait.ts";
import { intercept } from "../../support/intercept.ts";

for (const backend of ["local disk", "WebHDFS"] as const) {
  Deno.test(`queries looping during compaction see every alert exactly once (${backend})`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fink_query_compact_" });
    const server = backend === "WebHDFS" ? await WebHdfsTestServer.start() : null;
    const root = server?.localPath("/fink/archive") ?? `${dir}/archive`;
    const alerts = skyAlerts(12_000, { seed: 5, perObject: 1 });
    await writeSkyArchive(root, alerts, { perFile: 150 });
    const storage = openStorage(server?.url("/fink/archive") ?? root);
    const ledger = await new Ledger(storage).acquire({ topic: "sky", partition: 0 });
    const engine = await QueryEngine.open({
      archiveRoot: server?.url("/fink/archive") ?? root,
      scienceRoot: server?.url("/fink/science") ?? `${dir}/science`,
      cacheDir: `${dir}/cache`,
      // Listings follow compaction closely, so queries meet many of them.
      refreshMs: 100,
    });
    const day = { from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 2) };
    const cone = { ra: 180, dec: 0, radiusArcsec: 18_000, n: 10_000 };
    try {
      const inCone = (await conesearch(engine, cone)).length;
      assert.ok(inCone > 10);
      let done = false;
      let reads = 0;
      // Handled from the start: a failed read stops compaction and fails this test, not the module.
      let failure: { error: unknown } | null = null;
      const reader = (async () => {
        while (!done || reads < 5) {
          const stats = await statistics(engine, day);
          assert.equal(stats.alerts, alerts.length, "every alert once, whatever compaction does");
          assert.equal(stats.objects, alerts.length);
          assert.equal((await conesearch(engine, cone)).length, inCone);
          reads++;
        }
      })().catch((error) => {
        failure = { error };
      });
      const compactor = new Compactor(storage, { targetBytes: 64 * 1024 * 1024 });
      let merged = 0;
      for (const { dir: hourDir } of await listArchivedHours(storage, "sky")) {
        if (failure !== null) break;
        merged += (await compactor.compactHour("sky", hourDir, () => ledger)).merged;
        // No grace: the inputs vanish at once, under listings the engine is taking in.
        await compactor.expire([ledger]);
        await engine.refresh();
      }
      done = true;
      await reader;
      if (failure !== null) throw (failure as { error: unknown }).error;
      assert.ok(merged >= 50, `compaction merged ${merged} files`);
      assert.ok(reads >= 5);
    } finally {
      await engine.close();
      await server?.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a batch whose record landed before a crash shows once its next owner completed it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_query_crash_" });
  const root = `${dir}/archive`;
  const alerts = skyAlerts(2_000, { seed: 9, perObject: 1 });
  await writeSkyArchive(root, alerts.slice(0, 1_000), { perFile: 500 });
  const storage = new LocalStorage(root);
  const tp = { topic: "sky", partition: 0 };
  // A file past the committed offset (an earlier version's crash left such files): never read.
  const [first] = await listArchivedFiles(storage, "sky");
  await storage.writeFile(
    `${first.hourDir}/sky+0+5000+5999.parquet`,
    await storage.readFile(first.path),
  );
  // The next batch commits, then the process dies before renaming its file into place.
  let dead = false;
  const dying = intercept(
    storage,
    "rename",
    () => dead ? () => Promise.reject(new Error("killed")) : undefined,
  );
  const owner = await new Ledger(dying).acquire(tp);
  dead = true;
  await assert.rejects(
    writeSkyArchive(root, alerts.slice(1_000), { perFile: 1_000, ledger: owner }),
  );
  const engine = await QueryEngine.open({ archiveRoot: root, scienceRoot: `${dir}/science` });
  const day = { from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 2) };
  const everywhere = async () => {
    let n = 0;
    for (const [ra, dec] of [[0, 90], [0, -90], [90, 30], [270, -30], [180, 0], [0, 0]]) {
      n += (await conesearch(engine, { ra, dec, radiusArcsec: 18_000, n: 10_000 })).length;
    }
    return n;
  };
  try {
    assert.equal((await statistics(engine, day)).alerts, 1_000, "only the files in place");
    const before = await everywhere();
    assert.ok(before <= 1_000);
    await new Ledger(storage).acquire(tp);
    // The engine reuses a listing for about a second: the completed batch shows after that.
    await waitFor("the completed batch in the answers", async () => {
      const { alerts } = await statistics(engine, day);
      assert.ok(alerts === 1_000 || alerts === 2_000, `${alerts} alerts: never a partial count`);
      return alerts === 2_000 ? true : undefined;
    });
    assert.ok(await everywhere() >= before, "the index says what the archive holds");
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
