/**
 * Crash test of the science results: while the real process archives copies
 * of the shared ZTF alerts, a stream plugin's process and the whole process
 * are killed with SIGKILL at random moments, over and over, then the process
 * is left to finish. Every archived alert has exactly one result.
 *
 * The plugin is marked as having run in the science root before (its
 * `started.json`), so the archive's partition is new to it and read from its
 * first offset: it owes a result for every archived alert. (A plugin new to a
 * science root starts at the archive's end instead; when the archive commits
 * before the plugin is up, compaction later merges those older files with newer
 * ones, and the catch-up over a merged file gives the older alerts results
 * too, so which alerts are owed would depend on the timing.)
 *
 * The moments come from a seeded generator; a failure prints the seed, and
 * FINK_CRASH_SEED=<seed> replays the same choices.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { listAlertFiles } from "../../core/source/files.ts";
import { ProgressStore } from "../../core/plugins/progress.ts";
import { LocalStorage } from "../../core/storage/mod.ts";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { drain, isolatedSettings, spawnFink } from "../support/fink_process.ts";
import { pluginProcesses } from "../support/processes.ts";
import { waitFor } from "../support/wait.ts";

/** Kills of the plugin's process and of the whole process (at least 20 in all). */
const PLUGIN_KILLS = 10;
const PROCESS_KILLS = 10;
/** The real alerts are archived this many times over, so the work outlasts the kills. */
const COPIES = 9;
const DEFINE = new URL("../../core/plugins/define.ts", import.meta.url).href;

const TAGGER = `import { definePlugin } from "${DEFINE}";
export default definePlugin({
  name: "tagger",
  description: "One row per alert",
  columns: ["candid"],
  outputs: { tagged: "bool" },
  process(batch) {
    return Array.from(batch.getChild("candid").toArray(), (id) => ({ id, tagged: true }));
  },
});
`;

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function alertCopies(dir: string): Promise<void> {
  const source = sharedData("ztf/alerts");
  for (const file of await listAlertFiles(source)) {
    for (let k = 0; k < COPIES; k++) {
      const target = join(dir, "alerts", String(k), relative(source, file));
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.link(file, target).catch(() => Deno.copyFile(file, target));
    }
  }
}

/** The plugin's durable progress (next offset without results), or -1 before any. */
async function progress(dir: string): Promise<number> {
  const saved = await new ProgressStore(new LocalStorage(`${dir}/science`)).streamProgress(
    "tagger",
  );
  const next = saved?.get({ topic: "files", partition: 0 });
  return next === undefined ? -1 : Number(next);
}

/** Kills of the plugin's process reported in a run's log so far. */
function killReports(log: string[]): number {
  return log.join("").match(/plugin tagger: its process was killed by SIGKILL/g)?.length ?? 0;
}

function spawnArchive(dir: string): Deno.ChildProcess {
  return spawnFink([
    "start",
    "archive",
    `--source=files:${dir}/alerts`,
    ...isolatedSettings(dir),
    "--set=batch.max_alerts=5",
    "--set=batch.max_ms=20",
    "--set=plugins.stop_wait_s=120",
  ]);
}

Deno.test("science results stay exactly once through SIGKILLs of the process and of a plugin's process", async () => {
  const seed = Number(Deno.env.get("FINK_CRASH_SEED") ?? Date.now() % 1_000_000);
  const random = seeded(seed);
  const dir = await Deno.makeTempDir({ prefix: "fink_plugins_crash_" });
  await Deno.mkdir(`${dir}/plugins`);
  await Deno.writeTextFile(`${dir}/plugins/tagger.ts`, TAGGER);
  await Deno.mkdir(`${dir}/science/_progress/tagger`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/science/_progress/tagger/started.json`,
    JSON.stringify({ at: new Date().toISOString() }),
  );
  await alertCopies(dir);
  const kills = { plugin: 0, process: 0 };
  // How many plugin kills the process itself reported (it outlived each of them).
  let reported = 0;
  try {
    while (kills.process < PROCESS_KILLS || kills.plugin < PLUGIN_KILLS) {
      const child = spawnArchive(dir);
      const log: string[] = [];
      const drained = drain(child.stderr, log);
      let exited = false;
      child.status.then(() => (exited = true));
      // Between process kills, a few kills of the plugin's process while it works.
      const pluginKills = kills.process < PROCESS_KILLS
        ? Math.ceil(PLUGIN_KILLS / PROCESS_KILLS)
        : PLUGIN_KILLS - kills.plugin;
      for (let k = 0; k < pluginKills && kills.plugin < PLUGIN_KILLS && !exited; k++) {
        const before = await progress(dir);
        const pid = await waitFor("the plugin to make progress", async () => {
          if (exited) return null;
          const [pid] = pluginProcesses(child.pid, "tagger");
          return pid !== undefined && await progress(dir) > before ? pid : undefined;
        }, { timeoutMs: 120_000 });
        if (pid === null) break;
        await new Promise((r) => setTimeout(r, random() * 200));
        const seen = killReports(log);
        try {
          Deno.kill(pid, "SIGKILL");
          kills.plugin++;
        } catch {
          // It ended on its own meanwhile.
          continue;
        }
        // The process outlives the kill and reports it before anything else happens to it.
        await waitFor("the plugin's kill to be reported", () => {
          return exited || killReports(log) > seen ? true : undefined;
        }, { timeoutMs: 120_000 });
      }
      if (kills.process < PROCESS_KILLS && !exited) {
        const before = await progress(dir);
        await waitFor("the plugin to make progress", async () => {
          return exited || await progress(dir) > before ? true : undefined;
        }, { timeoutMs: 120_000 });
        await new Promise((r) => setTimeout(r, random() * 300));
        try {
          child.kill("SIGKILL");
        } catch {
          // Finished before the kill.
        }
      }
      const status = await child.status;
      await drained;
      reported += killReports(log);
      if (status.signal === "SIGKILL") kills.process++;
      else if (status.code !== 0) throw new Error(`seed ${seed}: a run failed:\n${log.join("")}`);
      else if (kills.process < PROCESS_KILLS || kills.plugin < PLUGIN_KILLS) {
        throw new Error(
          `seed ${seed}: the work ended after ${JSON.stringify(kills)} kills; raise COPIES`,
        );
      }
    }
    // The last run finishes the archive and the plugin's results, and exits.
    const last = spawnArchive(dir);
    const log: string[] = [];
    await drain(last.stderr, log);
    assert.equal((await last.status).code, 0, `seed ${seed}: ${log.join("").slice(-3000)}`);

    const archived = await query(
      `select candid::varchar id, count(*)::int n from read_parquet(${await archiveFiles(
        `${dir}/archive/files/*/*/*/*/*.parquet`,
      )})
       group by candid order by candid`,
    );
    const results = await query(
      `select id::varchar id, count(*)::int n from read_parquet('${dir}/science/tagger/**/*.parquet')
       group by id order by id`,
    );
    assert.ok(archived.length > 100, `seed ${seed}: ${archived.length} alerts archived`);
    const owed = new Map(archived.map((r: any) => [r.id, r.n]));
    const got = new Map(results.map((r: any) => [r.id, r.n]));
    const wrong = [...new Set([...owed.keys(), ...got.keys()])]
      .filter((id) => owed.get(id) !== got.get(id))
      .map((id) => `${id}: archived ${owed.get(id) ?? 0}, results ${got.get(id) ?? 0}`);
    assert.deepEqual(wrong, [], `seed ${seed}: results differ from the archive`);
    assert.deepEqual(kills, { plugin: PLUGIN_KILLS, process: PROCESS_KILLS }, `seed ${seed}`);
    assert.equal(reported, kills.plugin, `seed ${seed}: plugin kills reported by the process`);
  } catch (error) {
    console.error(
      `plugins crash test: seed ${seed}, kills ${JSON.stringify(kills)}`,
    );
    throw error;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
