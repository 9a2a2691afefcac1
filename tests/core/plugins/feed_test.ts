import assert from "node:assert/strict";
import { join } from "node:path";
import { Compactor } from "../../../core/archive/compactor.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { StreamFeed } from "../../../core/plugins/feed.ts";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { ProgressStore } from "../../../core/plugins/progress.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";
import { EventLog } from "../../fixtures/plugins/install.ts";
import { sharedData } from "../../shared_data.ts";
import { query } from "../../support/duckdb.ts";
import { waitFor } from "../../support/wait.ts";
import { fink, isolatedSettings } from "../../support/fink_process.ts";

const ALERTS = sharedData("ztf", "alerts", "fink-broker-local-20200101");
const DEFINE = new URL("../../../core/plugins/define.ts", import.meta.url).href;
const HOUR = "2020/01/01/13";

/** A project with a plugin folder and an archive of the shared night, 5 alerts per file. */
async function project(plugin: (dir: string) => Promise<string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fink_feed_" });
  await Deno.mkdir(join(dir, "plugins"));
  const result = await fink([
    "start",
    "archive",
    `--source=files:${ALERTS}`,
    // The plugin is installed after the archive is written: this run has none, and no results.
    ...isolatedSettings(dir, { plugins: `${dir}/empty`, science: `${dir}/unused` }),
    "--set=batch.max_alerts=5",
  ], {});
  assert.equal(result.code, 0, result.stderr);
  await Deno.writeTextFile(join(dir, "plugins", "ids.ts"), await plugin(dir));
  return dir;
}

function idsPlugin(body = ""): string {
  return `import { definePlugin } from "${DEFINE}";
export default definePlugin({
  name: "ids",
  description: "One row per alert",
  columns: ["candid"],
  outputs: { seen: "bool" },
  process(batch) {
    const rows = batch.toArray().map((a) => ({ id: a.candid, seen: true }));
    ${body}
    return rows;
  },
});
`;
}

/** A host and a feed over the project's archive, the plugin having run before (reads from 0). */
async function feedOf(
  dir: string,
  chunkRows: number,
  archive = new LocalStorage(join(dir, "archive")),
) {
  const science = new LocalStorage(join(dir, "science"));
  const progress = new ProgressStore(science);
  await progress.markStarted("ids", new TopicPartitionMap());
  const log = new EventLog();
  // Events reach the feed once it exists; earlier ones are replayed below.
  const feeds: StreamFeed[] = [];
  const host = await createPluginHost({
    root: dir,
    restartBackoff: { initialMs: 20, maxMs: 40 },
    sink: createParquetSink({ storage: science }),
    onEvent: (event) => {
      log.record(event);
      feeds[0]?.onEvent(event);
    },
  });
  const feed = new StreamFeed({
    host,
    archive,
    progress,
    chunkRows,
    log: () => {},
  });
  feeds.push(feed);
  // The plugin started before the feed existed: tell it, as the bus replays early events.
  for (const event of log.events) feed.onEvent(event);
  return { host, feed, progress, log };
}

async function resultsPerId(dir: string): Promise<Record<string, unknown>[]> {
  return await query(
    `select id::varchar id, count(*)::int n from read_parquet('${dir}/science/ids/**/*.parquet')
     group by id order by id`,
  );
}

async function archivedPerId(dir: string): Promise<Record<string, unknown>[]> {
  return await query(
    `select candid::varchar id, count(*)::int n from read_parquet('${dir}/archive/files/**/*.parquet')
     group by candid order by candid`,
  );
}

async function resultFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(dir, "science", "ids", HOUR))) names.push(e.name);
  return names.sort();
}

Deno.test("catching up over a compacted hour replaces the results of the files it merged", async () => {
  const dir = await project(() => Promise.resolve(idsPlugin()));
  const { host, feed, progress } = await feedOf(dir, 7);
  try {
    assert.ok(await feed.drain(20_000), "caught up with the archive");
    assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir));
    assert.equal((await resultFiles(dir)).length, 10, "one result file per archive file");

    // Compaction merges the ten files; the plugin then reads the hour again from offset 0.
    const archive = new LocalStorage(join(dir, "archive"));
    const ledger = await new Ledger(archive).acquire({ topic: "files", partition: 0 });
    const compactor = new Compactor(archive, { targetBytes: 1 << 30 });
    assert.deepEqual(await compactor.compactHour("files", `files/${HOUR}`, () => ledger), {
      merged: 10,
      written: 1,
    });
    await compactor.expire([ledger]);
    const tp = { topic: "files", partition: 0 };
    await (await progress.acquire("ids", tp, 0n)).commit(0n);
    await host.start("ids");
    assert.ok(await feed.drain(20_000), "caught up again");
    await host.idle();
    assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir), "nothing doubled");
    // 50 rows in slices of 7: eight files named by their own ranges, the old ten gone.
    assert.equal((await resultFiles(dir)).length, 8);
    assert.equal(feed.status("ids")?.mode, "live");
  } finally {
    await feed.close();
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a merged file reaching past the committed offset first read is caught up whole, the progress after its last row", async () => {
  const dir = await project(() => Promise.resolve(idsPlugin()));
  const archive = new LocalStorage(join(dir, "archive"));
  const tp = { topic: "files", partition: 0 };
  const ledger = await new Ledger(archive).acquire(tp);
  const compactor = new Compactor(archive, { targetBytes: 1 << 30 });
  await compactor.compactHour("files", `files/${HOUR}`, () => ledger);
  await compactor.expire([ledger]);
  // The feed's first reading of the ledger comes before the last batches' commit: it says
  // 24, while the hour's one file (merged after that commit) holds offsets 0..49.
  let stale = true;
  const racing = new (class extends LocalStorage {
    override async readFile(path: string): Promise<Uint8Array> {
      const bytes = await super.readFile(path);
      if (!stale || !path.startsWith("_ledger/")) return bytes;
      stale = false;
      const record = JSON.parse(new TextDecoder().decode(bytes));
      record.state.committed = "24";
      return new TextEncoder().encode(JSON.stringify(record));
    }
  })(join(dir, "archive"));
  const { host, feed, progress } = await feedOf(dir, 7, racing);
  try {
    assert.ok(await feed.drain(20_000), "caught up with the archive");
    assert.ok(!stale, "the feed read the stale ledger");
    assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir));
    // Results for offsets 0..49 with a progress of 25 would be computed again from 25.
    // The progress is saved once the plugin is idle, after the drain.
    let last: bigint | undefined;
    await waitFor("the progress after the last row", async () => {
      last = (await progress.streamProgress("ids"))?.get(tp);
      return last === 50n ? true : undefined;
    }, { timeoutMs: 20_000 }).catch((error) => {
      throw new Error(`${(error as Error).message}; progress ${last}`);
    });
  } finally {
    await feed.close();
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a batch that kills its plugin every time is skipped after three attempts; the rest is written", async () => {
  // The alert at offset 12 is in the batch of offsets 10..14.
  const dir = await project(async (dir) => {
    const [{ candid }] = await query(
      `select candid::varchar candid from read_parquet('${dir}/archive/files/**/*.parquet')
       where kafka_offset = 12`,
    );
    return idsPlugin(
      // An alert process() throws on gets a null result; one that ends the process costs its batch.
      `if (batch.getChild("candid").toArray().includes(${candid}n)) Deno.exit(7);`,
    );
  });
  const { host, feed, log } = await feedOf(dir, 5000);
  try {
    assert.ok(await feed.drain(180_000), "caught up despite the poison batch");
    assert.equal(log.of("ids", "error").length, 3, JSON.stringify(log.of("ids", "error")));
    assert.equal(feed.status("ids")?.skipped, 1);
    const archived = await archivedPerId(dir);
    const results = await resultsPerId(dir);
    const skipped = await query(
      `select candid::varchar id from read_parquet('${dir}/archive/files/**/*.parquet')
       where kafka_offset between 10 and 14`,
    );
    assert.equal(results.length, archived.length - skipped.length, "the five alerts skipped");
    for (const { id } of skipped) assert.ok(!results.some((r) => r.id === id), String(id));
    assert.ok(results.every((r) => r.n === 1));
  } finally {
    await feed.close();
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});
