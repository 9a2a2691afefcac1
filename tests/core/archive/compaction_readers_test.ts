/**
 * Readers that list the archive folder themselves, while compaction rewrites
 * closed hours: DuckDB over a glob on local disk, and a copy through WebHDFS as
 * an HDFS client makes it. Reading only the files their listing does not show
 * superseded (the query core/archive/README.md documents, taken from the
 * README itself), they never fail and count every alert once.
 *
 * The grace period is modelled on the readers: the compactor's clock counts the
 * reads completed, so a merge's inputs go once the reads that may have listed
 * them without the merged file are done (a grace of two reads: the one in
 * flight at the merge, and one that lists entirely while the inputs and the
 * merged file are both there).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { type CompactionResult, Compactor } from "../../../core/archive/compactor.ts";
import { parseParquetName } from "../../../core/archive/file_names.ts";
import { Ledger } from "../../../core/archive/ledger.ts";
import { listArchivedHours, withoutSuperseded } from "../../../core/archive/reader.ts";
import { openStorage } from "../../../core/storage/mod.ts";
import type { Storage } from "../../../core/storage/storage.ts";
import { skyAlerts, writeSkyArchive } from "../../support/sky_archive.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";
import { readmeReaderQuery } from "../../support/duckdb.ts";

const ALERTS = 2_400;
/** Alerts per hour and per file: ten hours of six files. */
const PER_HOUR = 240;
const PER_FILE = 40;

/** An archive of ten hours of small files under `root`, written as the archive writes them. */
async function writeArchive(root: string): Promise<void> {
  const alerts = skyAlerts(ALERTS, { seed: 3, perObject: 1 });
  const first = alerts[0].jd;
  await writeSkyArchive(
    root,
    alerts.map((a, i) => ({ ...a, jd: first + i / PER_HOUR / 24 })),
    { perFile: PER_FILE },
  );
}

/** Counts read over a glob by the README's query, and how many files the plain glob lists. */
async function readWithRule(
  db: DuckDBConnection,
  query: { list: string; read: string },
  glob: string,
  between: () => Promise<void> = () => Promise.resolve(),
): Promise<{ alerts: number; objects: number; listed: number; read: number }> {
  await db.run(query.list);
  const [{ listed, read }] = (await db.runAndReadAll(
    `select (select count(*) from glob('${glob}'))::INTEGER as listed,
       len(getvariable('alert_files'))::INTEGER as read`,
  )).getRowObjectsJS();
  await between();
  const [counts] = (await db.runAndReadAll(query.read)).getRowObjectsJS();
  return {
    alerts: Number(counts.alerts),
    objects: Number(counts.objects),
    listed: Number(listed),
    read: Number(read),
  };
}

/** The archive's compaction of the sky topic, as the owner of its partition runs it. */
interface Compaction {
  compactHour(dir: string): Promise<CompactionResult>;
  expire(): Promise<number>;
  /** Merges whose inputs still wait out their grace. */
  readonly pending: number;
}

/**
 * Compaction by the owner of the archive's partition (taken over now), whose clock is a count
 * of completed reads (see the module comment).
 */
async function compactorOf(storage: Storage, reads: { done: number }): Promise<Compaction> {
  const ledger = await new Ledger(storage).acquire({ topic: "sky", partition: 0 });
  const compactor = new Compactor(storage, {
    targetBytes: 64 * 1024 * 1024,
    graceMs: 2,
    now: () => reads.done,
  });
  return {
    compactHour: (dir) => compactor.compactHour("sky", dir, () => ledger),
    expire: () => compactor.expire([ledger]),
    get pending() {
      return ledger.merges.length;
    },
  };
}

/**
 * Loops `read` while every hour is compacted and its inputs expire; returns what the
 * reads saw. A read that fails stops compaction and fails the caller.
 */
async function loopDuringCompaction(
  storage: Storage,
  read: () => Promise<{ alerts: number; listed: number; read: number }>,
): Promise<{ reads: number; overlapping: number; merged: number }> {
  const reads = { done: 0 };
  let next = Promise.withResolvers<void>();
  let compacted = false;
  let overlapping = 0;
  let failure: { error: unknown } | null = null;
  const reader = (async () => {
    while (!compacted) {
      const seen = await read();
      assert.equal(seen.alerts, ALERTS, `read ${reads.done + 1}: every alert once`);
      if (seen.listed > seen.read) overlapping++;
      reads.done++;
      next.resolve();
      next = Promise.withResolvers<void>();
    }
  })().catch((error) => {
    failure = { error };
    next.resolve();
  });
  const compactor = await compactorOf(storage, reads);
  let merged = 0;
  for (const { dir } of await listArchivedHours(storage, "sky")) {
    if (failure !== null) break;
    merged += (await compactor.compactHour(dir)).merged;
    await compactor.expire();
  }
  while (compactor.pending > 0 && failure === null) {
    await next.promise;
    await compactor.expire();
  }
  compacted = true;
  await reader;
  if (failure !== null) throw (failure as { error: unknown }).error;
  return { reads: reads.done, overlapping, merged };
}

Deno.test("DuckDB over a glob with the README's query, during compaction: never fails, every alert once", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fink_glob_readers_" });
  const root = join(dir, "archive");
  const glob = `${root}/sky/*/*/*/*/*.parquet`;
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    await writeArchive(root);
    const query = await readmeReaderQuery(glob);
    const storage = openStorage(root);

    await t.step("a read that listed before a merge opens its inputs after it", async () => {
      const reads = { done: 0 };
      const compactor = await compactorOf(storage, reads);
      const seen = await readWithRule(db, query, glob, async () => {
        for (const { dir } of await listArchivedHours(storage, "sky")) {
          await compactor.compactHour(dir);
        }
        assert.equal(await compactor.expire(), 0, "the inputs wait while reads may use them");
      });
      assert.deepEqual(seen, { alerts: ALERTS, objects: ALERTS, listed: 60, read: 60 });
      const during = await readWithRule(db, query, glob);
      assert.deepEqual(during, { alerts: ALERTS, objects: ALERTS, listed: 70, read: 10 });
      reads.done = 2;
      assert.equal(await compactor.expire(), 60);
      const after = await readWithRule(db, query, glob);
      assert.deepEqual(after, { alerts: ALERTS, objects: ALERTS, listed: 10, read: 10 });
    });

    await t.step("reads looping while compaction runs", async () => {
      await Deno.remove(root, { recursive: true });
      await writeArchive(root);
      const seen = await loopDuringCompaction(storage, () => readWithRule(db, query, glob));
      assert.equal(seen.merged, 60);
      assert.ok(seen.overlapping >= 1, "some read listed a merged file beside its inputs");
    });
  } finally {
    db.closeSync();
    instance.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Copies the topic's folder through WebHDFS as an HDFS client would with the README's rule:
 * list a folder, copy its files that no other file of that listing supersedes, go down.
 * `between` runs after the listing, before the copying (a distcp-like copy lists first).
 */
async function copyAndRead(
  hdfs: Storage,
  local: string,
  db: DuckDBConnection,
  between: () => Promise<void> = () => Promise.resolve(),
): Promise<{ alerts: number; objects: number; listed: number; read: number }> {
  await Deno.remove(local, { recursive: true }).catch(() => {});
  const files: string[] = [];
  let listed = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await hdfs.list(dir);
    const named = entries.flatMap((e) => {
      const name = e.isDirectory ? null : parseParquetName(e.name);
      return name === null
        ? []
        : [{ path: e.path, hourDir: dir, ...name, startOffset: name.start, endOffset: name.end }];
    });
    listed += named.length;
    files.push(...withoutSuperseded(named).map((f) => f.path));
    for (const e of entries) if (e.isDirectory) await walk(e.path);
  };
  await walk("sky");
  await between();
  for (const path of files) {
    const target = join(local, path);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    await Deno.writeFile(target, await hdfs.readFile(path));
  }
  const glob = `${local}/sky/*/*/*/*/*.parquet`;
  return {
    ...await readWithRule(db, await readmeReaderQuery(glob), glob),
    listed,
    read: files.length,
  };
}

Deno.test("a copy through WebHDFS during compaction never fails and, read with the README's query, holds every alert once", async (t) => {
  await using server = await WebHdfsTestServer.start();
  const copy = await Deno.makeTempDir({ prefix: "fink_hdfs_copy_" });
  const instance = await DuckDBInstance.create(":memory:");
  const db = await instance.connect();
  try {
    const hdfs = openStorage(server.url("/fink/archive"));
    await writeArchive(server.localPath("/fink/archive"));

    await t.step("a copy that listed before a merge copies its inputs after it", async () => {
      const reads = { done: 0 };
      const compactor = await compactorOf(hdfs, reads);
      const seen = await copyAndRead(hdfs, copy, db, async () => {
        for (const { dir } of await listArchivedHours(hdfs, "sky")) {
          await compactor.compactHour(dir);
        }
        assert.equal(await compactor.expire(), 0);
      });
      assert.deepEqual(seen, { alerts: ALERTS, objects: ALERTS, listed: 60, read: 60 });
      reads.done = 2;
      assert.equal(await compactor.expire(), 60);
    });

    await t.step("copies looping while compaction runs", async () => {
      await Deno.remove(server.localPath("/fink/archive"), { recursive: true });
      await writeArchive(server.localPath("/fink/archive"));
      const seen = await loopDuringCompaction(hdfs, () => copyAndRead(hdfs, copy, db));
      assert.equal(seen.merged, 60);
      assert.ok(seen.overlapping >= 1, "some copy listed a merged file beside its inputs");
      const notFound = server.requests.filter((r) => r.op === "OPEN" && r.status === 404);
      assert.deepEqual(notFound, [], "no file vanished under a copy");
    });
  } finally {
    db.closeSync();
    instance.closeSync();
    await Deno.remove(copy, { recursive: true }).catch(() => {});
  }
});
