/**
 * Crash test: the archive process is killed with SIGKILL at random moments
 * while archiving the real ZTF alerts, over and over, then left to finish.
 * Afterwards every alert is in the archive exactly once.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { listAlertFiles } from "../../core/source/files.ts";
import { readCommittedOffset } from "../../core/archive/ledger.ts";
import { LocalStorage } from "../../core/storage/mod.ts";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { isolatedSettings, spawnFink } from "../support/fink_process.ts";
import { SeededRandom } from "../../simulator/alerts/random.ts";
import { readAlertIndex, ZTF_FOLDERS } from "./alert_index.ts";

/**
 * Seed of the kill times: `FINK_CRASH_SEED=<n>` replays a run (the seed is printed at the
 * start and in any failure), otherwise a new one each run.
 */
const SEED = Number(Deno.env.get("FINK_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

/** Kills that must hit a process at work; runs are capped so a fast machine cannot loop forever. */
const KILLS = 20;
const MAX_RUNS = 80;
/** The real alerts are archived this many times over (hard links), so the work outlasts the kills. */
const COPIES = 24;

/** A folder holding COPIES hard-linked copies of the shared ZTF alerts. */
async function alertCopies(dir: string): Promise<string> {
  const source = sharedData("ztf/alerts");
  const files = await listAlertFiles(source);
  for (let k = 0; k < COPIES; k++) {
    for (const file of files) {
      const target = join(dir, "alerts", String(k), relative(source, file));
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.link(file, target).catch(() => Deno.copyFile(file, target));
    }
  }
  return join(dir, "alerts");
}

/** The archive's committed offset as its ledger left it, or null before the first commit. */
async function committedOffset(dir: string): Promise<string | null> {
  const tp = { topic: "files", partition: 0 };
  const offset = await readCommittedOffset(new LocalStorage(`${dir}/archive`), tp);
  return offset < 0n ? null : offset.toString();
}

function spawnArchive(dir: string): Deno.ChildProcess {
  return spawnFink([
    "start",
    "archive",
    `--source=files:${dir}/alerts`,
    ...isolatedSettings(dir),
    "--set=batch.max_alerts=5",
    "--set=batch.max_ms=20",
  ]);
}

/** Resolves when the child logs that the archive started (or ends). */
async function started(child: Deno.ChildProcess): Promise<void> {
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes('msg="archive started"')) {
    const { value, done } = await lines.read();
    if (done) return;
    text += value;
  }
  // Keep draining so the child never blocks on a full pipe.
  (async () => {
    while (!(await lines.read()).done);
  })().catch(() => {});
}

Deno.test("SIGKILL at random moments loses and doubles no alert", async () => {
  assert.ok(Number.isInteger(SEED) && SEED >= 0, `FINK_CRASH_SEED must be an integer >= 0`);
  console.error(`archive_crash_test: kill times seeded with FINK_CRASH_SEED=${SEED}`);
  const random = new SeededRandom(SEED);
  const dir = await Deno.makeTempDir({ prefix: "fink-crash-" });
  await Deno.mkdir(`${dir}/plugins`);
  await alertCopies(dir);
  try {
    let killedMidway = 0;
    const progress = new Set<string>();
    for (let run = 0; run < MAX_RUNS && killedMidway < KILLS; run++) {
      const before = await committedOffset(dir);
      const child = spawnArchive(dir);
      let exited = false;
      child.status.then(() => (exited = true));
      await started(child);
      // Every other run dies after it committed at least one batch, so kills fall
      // all along the work however slowly the machine starts processes; the others
      // die at any moment, recovery included.
      if (run % 2 === 1) {
        const deadline = Date.now() + 30_000;
        while (!exited && Date.now() < deadline && await committedOffset(dir) === before) {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      // The kill time itself, not a synchronisation: where the work stands when it falls.
      await new Promise((r) => setTimeout(r, random.next() * 700));
      try {
        child.kill("SIGKILL");
      } catch {
        // Already finished: every file was archived before the kill.
      }
      const status = await child.status;
      if (status.signal === "SIGKILL") killedMidway++;
      else assert.equal(status.code, 0, `run ${run} ended on its own with an error`);
      const offset = await committedOffset(dir);
      if (offset !== null) progress.add(offset);
    }
    assert.ok(killedMidway >= KILLS, `only ${killedMidway} kills hit a running process`);
    assert.ok(
      progress.size >= 5,
      `kills fell at only ${progress.size} distinct points of the work`,
    );

    const last = spawnArchive(dir);
    await started(last);
    assert.equal((await last.status).code, 0, "the last run finishes the archive and exits");

    const once = (await Promise.all(ZTF_FOLDERS.map(([, csv]) => readAlertIndex(csv)))).flat();
    const expected = Array.from({ length: COPIES }, () => once).flat();
    const rows = await query(`
      SELECT kafka_offset::VARCHAR AS offset, candid::VARCHAR AS candid
      FROM read_parquet(${await archiveFiles(`${dir}/archive/files/*/*/*/*/*.parquet`)},
        union_by_name = true)`) as {
      offset: string;
      candid: string;
    }[];
    assert.equal(rows.length, expected.length, "as many rows as alerts");
    const pairs = new Set(rows.map((r) => `${r.offset}/${r.candid}`));
    assert.equal(pairs.size, rows.length, "no (offset, candid) twice");
    assert.deepEqual(
      rows.map((r) => r.candid).sort(),
      expected.map((r) => r.candid).sort(),
      "every alert's candid, once",
    );
    const staged = await new LocalStorage(`${dir}/archive`).usage("_staging");
    assert.equal(staged.files, 0, "no staged file left");
  } catch (error) {
    throw new Error(
      `${(error as Error).message} (replay with FINK_CRASH_SEED=${SEED})`,
      { cause: error },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
