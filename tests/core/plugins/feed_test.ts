import assert from "node:assert/strict";
import { join } from "node:path";
import { Compactor } from "../../../core/archive/compactor.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { Ownership } from "../../../core/archive/ownership.ts";
import * as arrow from "apache-arrow";
import { parseParquetName } from "../../../core/archive/file_names.ts";
import { parquetToTable } from "../../../core/archive/reader.ts";
import { writeParquet } from "../../../core/arrow/parquet.ts";
import { StreamFeed } from "../../../core/plugins/feed.ts";
import { createPluginHost, type PluginHost } from "../../../core/plugins/host.ts";
import { ProgressStore } from "../../../core/plugins/progress.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { LocalStorage } from "../../../core/storage/mod.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";
import { EventLog } from "../../fixtures/plugins/install.ts";
import { sharedData } from "../../shared_data.ts";
import { query } from "../../support/duckdb.ts";
import { waitFor } from "../../support/wait.ts";
import { fink, isolatedSettings } from "../../support/fink_process.ts";
import { intercept } from "../../support/intercept.ts";

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

/** What {@link feedOf} may be given besides the project. */
interface FeedOfOptions {
  /** Default: the project's archive folder. */
  archive?: LocalStorage;
  ownership?: Ownership;
  log?: (message: string) => void;
  /** The host as the feed sees it (default the host itself). */
  hostSeen?: (host: PluginHost) => PluginHost;
}

/** A host and a feed over the project's archive, the plugin having run before (reads from 0). */
async function feedOf(dir: string, chunkRows: number, options: FeedOfOptions = {}) {
  const archive = options.archive ?? new LocalStorage(join(dir, "archive"));
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
    host: options.hostSeen?.(host) ?? host,
    archive,
    progress,
    chunkRows,
    log: options.log ?? (() => {}),
    ownership: options.ownership,
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
  const { host, feed, progress } = await feedOf(dir, 7, { archive: racing });
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

/**
 * This process's archive owns the partition and took it over at offset 34 (files up to
 * 34 in place); the ledger is at 49 already: the last three batches are its own, their
 * records written, their files renamed and handed on later, as `handOn` does.
 */
async function ownedFeed(
  dir: string,
  options: Pick<FeedOfOptions, "hostSeen"> & {
    compact: boolean;
    /** The middle file of another schema: its rows are another plugin batch. */
    mixedSchemas?: boolean;
  },
) {
  const archive = new LocalStorage(join(dir, "archive"));
  const tp = { topic: "files", partition: 0 };
  if (options.compact) {
    // The three batches are merged with the others as soon as committed; the inputs stay
    // out the grace, as compaction keeps them for readers that listed them.
    const ledger = await new Ledger(archive).acquire(tp);
    await new Compactor(archive, { targetBytes: 1 << 30 }).compactHour(
      "files",
      `files/${HOUR}`,
      () => ledger,
    );
  }
  // Every file of the hour, merged inputs included (a reader's listing leaves those out).
  const late = (await archive.list(`files/${HOUR}`)).flatMap((e) => {
    const name = parseParquetName(e.name);
    return name !== null && name.start > 34n && name.end - name.start === 4n
      ? [{ path: e.path, startOffset: name.start, endOffset: name.end }]
      : [];
  });
  assert.equal(late.length, 3);
  if (options.mixedSchemas === true) {
    // As an earlier version wrote it: kafka_offset as 32-bit integers.
    const middle = await parquetToTable(await archive.readFile(late[1].path));
    const offsets = middle.getChild("kafka_offset")!.toArray() as BigInt64Array;
    const narrowed = new arrow.Table({
      ...Object.fromEntries(middle.schema.fields.map((f) => [f.name, middle.getChild(f.name)!])),
      kafka_offset: arrow.makeVector(Int32Array.from(offsets, Number)),
    });
    await archive.writeFile(late[1].path, writeParquet(narrowed, { compression: "snappy" }));
  }
  const away = (path: string) => path.replace(/\.parquet$/, ".renaming");
  // Still under their staged names: a listing does not see them.
  for (const f of late) await archive.rename(f.path, away(f.path));
  const ownership = new Ownership();
  ownership.assign([tp], new TopicPartitionMap([[tp, 34n]]));
  const waits = Promise.withResolvers<void>();
  const fed = await feedOf(dir, 7, {
    hostSeen: options.hostSeen,
    archive,
    ownership,
    log: (message) => {
      if (message.startsWith("catching up waits")) waits.resolve();
    },
  });
  const handOn = async () => {
    for (const f of late) {
      await archive.rename(away(f.path), f.path);
      const { size } = (await archive.stat(f.path))!;
      ownership.archived({ ...tp, endOffset: f.endOffset });
      await fed.feed.onArchived({
        ...tp,
        startOffset: f.startOffset,
        endOffset: f.endOffset,
        files: [{ path: f.path, hour: `files/${HOUR}`, rows: 5, size }],
      });
    }
  };
  // The three batches as one archived batch (rows of several files, one plugin batch each).
  const handOnAsOne = async () => {
    const files = [];
    for (const f of late) {
      await archive.rename(away(f.path), f.path);
      const { size } = (await archive.stat(f.path))!;
      files.push({ path: f.path, hour: `files/${HOUR}`, rows: 5, size });
    }
    ownership.archived({ ...tp, endOffset: 49n });
    await fed.feed.onArchived({ ...tp, startOffset: 35n, endOffset: 49n, files });
  };
  // A hang guard only: the wait is over when the feed says so.
  const guard = setTimeout(() => waits.reject(new Error("the feed never waited")), 20_000);
  const waited = waits.promise.finally(() => clearTimeout(guard));
  waited.catch(() => {});
  return {
    ...fed,
    dir,
    handOn,
    handOnAsOne,
    tp,
    waited,
    async [Symbol.asyncDispose]() {
      await fed.feed.close();
      await fed.host.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("a partition owned here is caught up to where its takeover found it, the rest from what the archive hands on", async () => {
  await using fed = await ownedFeed(await project(() => Promise.resolve(idsPlugin())), {
    compact: false,
  });
  const { host, feed, progress, handOn, tp, dir } = fed;
  assert.ok(await feed.drain(20_000), "caught up with what the takeover found");
  await host.idle();
  assert.equal((await resultsPerId(dir)).length, 35, "offsets 0-34 have results");
  await handOn();
  assert.ok(await feed.drain(20_000), "caught up with the batches handed on");
  await host.idle();
  assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir), "each alert once");
  await waitFor("the progress after the last row", async () => {
    return (await progress.streamProgress("ids"))?.get(tp) === 50n ? true : undefined;
  }, { timeoutMs: 20_000 });
});

Deno.test("a merged file reaching past what was handed on waits for the batches it holds, then is read once", async () => {
  await using fed = await ownedFeed(await project(() => Promise.resolve(idsPlugin())), {
    compact: true,
  });
  const { host, feed, handOn, waited, dir } = fed;
  await waited;
  await host.idle();
  const results = join(dir, "science", "ids");
  assert.equal(await Deno.stat(results).catch(() => null), null, "the file waits: no results");
  assert.equal(feed.status("ids")?.mode, "catching up");
  await handOn();
  assert.ok(await feed.drain(20_000), "caught up with the batches handed on");
  await host.idle();
  // The archive holds the merged inputs beside the merged file until their grace is over.
  const counts = await resultsPerId(dir);
  assert.equal(counts.length, 50, "every alert has results");
  assert.deepEqual(counts.filter((r) => r.n !== 1), [], "each alert once");
});

Deno.test("a partition's results taken over by a process on its way out are taken back while this one owns it", async () => {
  await using fed = await ownedFeed(await project(() => Promise.resolve(idsPlugin())), {
    compact: false,
  });
  const { host, feed, handOn, tp, dir } = fed;
  assert.ok(await feed.drain(20_000), "caught up with what the takeover found");
  // A node leaving the group finishes its plugins' work on the partitions it had: it takes
  // the plugin's progress over, fencing this process, and exits. No rebalance follows.
  const leaving = new ProgressStore(new LocalStorage(join(dir, "science")), {
    member: "leaving",
    host: "test",
    pid: 0,
  });
  await leaving.acquire("ids", tp, 0n);
  await handOn();
  assert.ok(await feed.drain(30_000), "caught up with the batches handed on");
  await host.idle();
  assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir), "each alert once");
});

Deno.test("the plugin batches of one archived batch are queued all or none", async () => {
  // Room for the first plugin batch of the archived batch, not for the second.
  let untilRefusal = Infinity;
  const hostSeen = (host: PluginHost) =>
    intercept(host, "hasRoom", (own) => (name) => --untilRefusal === 0 ? false : own(name));
  await using fed = await ownedFeed(await project(() => Promise.resolve(idsPlugin())), {
    compact: false,
    mixedSchemas: true,
    hostSeen,
  });
  const { host, feed, handOnAsOne, dir } = fed;
  assert.ok(await feed.drain(20_000), "caught up with what the takeover found");
  // Asked when the batch comes, then for each of its two plugin batches.
  untilRefusal = 3;
  await handOnAsOne();
  assert.ok(untilRefusal <= 0, "the second plugin batch found no room");
  assert.ok(await feed.drain(20_000), "caught up with the batch handed on");
  await host.idle();
  assert.deepEqual(await resultsPerId(dir), await archivedPerId(dir), "each alert once");
});
