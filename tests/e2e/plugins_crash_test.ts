/**
 * Crash test of the science results: while the real process archives copies
 * of the shared ZTF alerts, a stream plugin's process and the whole process
 * are killed with SIGKILL at random moments, over and over, then the process
 * is left to finish. Every archived alert has exactly one result.
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
import { query } from "../support/duckdb.ts";
import { drain, isolatedSettings, spawnFink, until } from "../support/fink_process.ts";

/** Kills of the plugin's process and of the whole process (at least 20 in all). */
const PLUGIN_KILLS = 10;
const PROCESS_KILLS = 10;
/** The real alerts are archived this many times over, so the work outlasts the kills. */
const COPIES = 6;
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
  const next = saved?.get("files+0");
  return next === undefined ? -1 : Number(next);
}

/** Pid of the process running the tagger plugin (not its probe) under `parent`, if any. */
function pluginPid(parent: number): number | undefined {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (args.some((a) => a.endsWith("/tagger.ts")) && args.includes("run")) {
        return Number(entry.name);
      }
    } catch {
      // The process ended meanwhile.
    }
  }
  return undefined;
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
  await alertCopies(dir);
  const kills = { plugin: 0, process: 0 };
  // A stream plugin new to a science root starts at the archive's end: results are owed from the
  // offset it started at (0 when it started before the first commit).
  let firstOffset: number | undefined;
  try {
    while (kills.process < PROCESS_KILLS || kills.plugin < PLUGIN_KILLS) {
      const child = spawnArchive(dir);
      const log: string[] = [];
      const drained = drain(child.stderr, log);
      let exited = false;
      child.status.then(() => (exited = true));
      if (firstOffset === undefined) {
        await until("the plugin's first start", async () => {
          const started = await Deno.stat(`${dir}/science/_progress/tagger/started.json`)
            .then(() => true, () => exited || undefined);
          return started;
        }, 300_000);
        firstOffset = Math.max(0, await progress(dir));
      }
      // Between process kills, a few kills of the plugin's process while it works.
      const pluginKills = kills.process < PROCESS_KILLS
        ? Math.ceil(PLUGIN_KILLS / PROCESS_KILLS)
        : PLUGIN_KILLS - kills.plugin;
      for (let k = 0; k < pluginKills && kills.plugin < PLUGIN_KILLS && !exited; k++) {
        const before = await progress(dir);
        const pid = await until("the plugin to make progress", async () => {
          if (exited) return null;
          const pid = pluginPid(child.pid);
          return pid !== undefined && await progress(dir) > before ? pid : undefined;
        }, 120_000);
        if (pid === null) break;
        await new Promise((r) => setTimeout(r, random() * 200));
        try {
          Deno.kill(pid, "SIGKILL");
          kills.plugin++;
        } catch {
          // It ended on its own meanwhile.
        }
      }
      if (kills.process < PROCESS_KILLS && !exited) {
        const before = await progress(dir);
        await until("the plugin to make progress", async () => {
          return exited || await progress(dir) > before ? true : undefined;
        }, 120_000);
        await new Promise((r) => setTimeout(r, random() * 300));
        try {
          child.kill("SIGKILL");
        } catch {
          // Finished before the kill.
        }
      }
      const status = await child.status;
      await drained;
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
      `select candid::varchar id, count(*)::int n from read_parquet('${dir}/archive/files/**/*.parquet')
       where kafka_offset >= ${firstOffset} group by candid order by candid`,
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
    assert.ok(kills.plugin + kills.process >= 20, `seed ${seed}: ${JSON.stringify(kills)}`);
  } catch (error) {
    console.error(
      `plugins crash test: seed ${seed}, kills ${JSON.stringify(kills)}, from ${firstOffset}`,
    );
    throw error;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
