/**
 * Hostile plugins against the real process: one plugin file per attack runs
 * beside a well-behaved one while the process archives simulated alerts. The
 * API answers every request made during the attacks, each offender is
 * reported by name with the real cause, no file content it could not read
 * reaches the API or the log, the well-behaved plugin keeps producing results,
 * and after a clean stop the archive and its results hold every alert exactly once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readProcessState } from "../../core/process/state_file.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { drain, freePort, ROOT, stopProcess } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const DEFINE = new URL("../../core/plugins/define.ts", import.meta.url).href;

interface Attack {
  /** Manifest body after `name` (permissions, budgetMs, setup, process, …). */
  body: string;
  /** Code before the manifest (top-level statements). */
  top?: string;
  /** The manifest name when it is not the file name. */
  name?: string;
  /** What the API must report for this plugin. */
  reported: RegExp;
}

function pluginSource(file: string, attack: Pick<Attack, "body" | "top" | "name">): string {
  return `import { definePlugin } from "${DEFINE}";
import process from "node:process";
${attack.top ?? ""}
export default definePlugin({
  name: "${attack.name ?? file}",
  description: "hostile: ${file}",
  outputs: { ok: "bool", blob: "string" },
  ${attack.body}
});
`;
}

const ROWS = `batch.getChild("candid").toArray()`;

function attacks(stateDir: string): Record<string, Attack> {
  return {
    self_kill_deno: {
      body: `setup() { Deno.kill(Deno.pid, "SIGKILL"); }, process: () => [],`,
      // Signalling itself is all it can do: only its own process ends.
      reported: /^plugin self_kill_deno: its process was killed by SIGKILL during setup\(\)$/,
    },
    self_kill_node: {
      body: `setup() { process.kill(process.pid, "SIGKILL"); }, process: () => [],`,
      reported: /^plugin self_kill_node: its process was killed by SIGKILL during setup\(\)$/,
    },
    kill_parent: {
      body: `process(batch) { process.kill(process.ppid, "SIGKILL"); return []; },`,
      reported: /^plugin kill_parent: run access denied \(plugins are never granted run access\)$/,
    },
    self_abort: {
      body: `setup() { process.abort(); }, process: () => [],`,
      reported: /^plugin self_abort: its process was killed by SIGABRT during setup\(\)$/,
    },
    exit_in_setup: {
      body: `setup() { Deno.exit(3); }, process: () => [],`,
      reported: /^plugin exit_in_setup: its process exited with code 3 during setup\(\)$/,
    },
    memory_bomb: {
      body:
        `process() { const hoard = []; for (;;) hoard.push(new Array(1e5).fill(Math.random())); },`,
      reported:
        /^plugin memory_bomb: its process reached its heap limit of 256 MB while processing batch .*; set memory_mb under \[plugins\.memory_bomb\] to raise it$/,
    },
    busy_loop: {
      body: `budgetMs: 300, process() { for (;;) {} },`,
      reported:
        /^plugin busy_loop: batch \S+ exceeded its CPU budget of 300 ms \(\d+ ms used\); its process was killed$/,
    },
    huge_results: {
      body: `process(batch) {
        const ids = ${ROWS};
        const blob = "x".repeat(Math.ceil(150e6 / ids.length));
        return Array.from(ids, (id) => ({ id, blob }));
      },`,
      reported:
        /^plugin huge_results: returned \d+\.\d MB of results for one batch, more than the limit of 16 MB \(plugins\.max_result_mb\); its process was killed$/,
    },
    reads_state: {
      body: `permissions: { read: [${JSON.stringify(stateDir)}] },
        async setup() { for await (const e of Deno.readDir(${JSON.stringify(stateDir)})) void e; },
        process: () => [],`,
      reported: new RegExp(`^plugin reads_state: read access to "${stateDir}" denied`),
    },
    wide_consented: {
      body: `permissions: { read: ["/"] },
        async setup() { await Deno.readTextFile(${
        JSON.stringify(join(stateDir, "process.json"))
      }); },
        process: () => [],`,
      reported: new RegExp(
        `^plugin wide_consented: read access to "${stateDir}/process.json" denied`,
      ),
    },
    wide_refused: {
      body: `permissions: { read: ["/"] }, process: () => [],`,
      reported:
        /^plugin wide_refused failed to load: it asks for read:\/, which the operator must allow; add under \[plugins\.wide_refused\] in the configuration: allow = \["read:\/"\]$/,
    },
    imports_passwd: {
      top: `await import("file:///etc/passwd");`,
      body: `process: () => [],`,
      reported: /^plugin imports_passwd: read access to "\/etc\/passwd" denied/,
    },
    claims_archive: {
      name: "archive",
      body: `process: () => [],`,
      reported:
        /^plugin claims_archive failed to load: plugin name "archive" is reserved for a built-in service; give the plugin another name$/,
    },
  };
}

const GOOD = `import { definePlugin } from "${DEFINE}";
export default definePlugin({
  name: "good",
  description: "Tags every alert",
  columns: ["candid"],
  outputs: { ok: "bool" },
  process(batch) {
    return Array.from(batch.getChild("candid").toArray(), (id) => ({ id, ok: true }));
  },
});
`;

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return await res.json();
}

Deno.test("hostile plugins cannot take the process down, read what they may not, or hide a built-in", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_hostile_" });
  const stateDir = join(dir, "state");
  const plugins = join(dir, "plugins");
  await Deno.mkdir(plugins);
  await Deno.writeTextFile(join(plugins, "good.ts"), GOOD);
  const all = attacks(stateDir);
  for (const [file, attack] of Object.entries(all)) {
    await Deno.writeTextFile(join(plugins, `${file}.ts`), pluginSource(file, attack));
  }
  // A file named like the archive, claiming its name: removing it must not stop the archive.
  await Deno.writeTextFile(
    join(plugins, "archive.ts"),
    pluginSource("archive", { body: `process: () => [],` }),
  );
  await Deno.writeTextFile(
    join(dir, "fink.toml"),
    `[archive]
root = ${JSON.stringify(join(dir, "archive"))}
[science]
root = ${JSON.stringify(join(dir, "science"))}
[process]
state_dir = ${JSON.stringify(stateDir)}
[ui]
port = 0
[simulator]
port = ${freePort()}
in_memory = true
interval_s = 0.5
[batch]
max_ms = 200
[plugins]
dir = ${JSON.stringify(plugins)}
memory_mb = 256
max_result_mb = 16
# The good plugin catches up at stop as long as it takes: the results are checked, not the speed.
stop_wait_s = 600
[plugins.huge_results]
memory_mb = 2048
[plugins.wide_consented]
allow = ["read:/"]
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "start", "archive", "--simulator", `--config=${dir}/fink.toml`],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const drained = drain(child.stderr, log);
  let exited = false;
  child.status.then(() => exited = true);
  const requests = { ok: 0, failed: [] as string[] };
  let polling = true;
  try {
    const state = await waitFor("the API to answer", async () => {
      if (exited) throw new Error(`The process exited at start:\n${log.join("")}`);
      const s = await readProcessState(stateDir);
      if (s?.pid !== child.pid) return undefined;
      const res = await fetch(`${s.url}/api/status`).catch(() => null);
      await res?.body?.cancel();
      return res?.ok ? s : undefined;
    }, { timeoutMs: 60_000 });
    // Requests all through the attacks: every one must be answered.
    const poller = (async () => {
      while (polling) {
        for (const path of ["/api/status", "/api/services"]) {
          const res = await fetch(`${state.url}${path}`).catch((e) => e as Error);
          if (res instanceof Response && res.ok) requests.ok++;
          else requests.failed.push(`${path}: ${res instanceof Response ? res.status : res}`);
          if (res instanceof Response) await res.body?.cancel();
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    // A request that fails says what became of the process, with the end of its log.
    const services = async () => {
      const body = await getJson(`${state.url}/api/services`).catch(async (error) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const status = await Promise.race([
          child.status,
          new Promise((resolve) => timer = setTimeout(resolve, 5_000)),
        ]);
        clearTimeout(timer);
        throw new Error(
          `${error.message}; the process: ${JSON.stringify(status) ?? "still running"}\n${
            log.join("").slice(-5000)
          }`,
        );
      });
      return new Map<string, any>(body.services.map((s: any) => [s.name, s]));
    };
    // A restarted offender may report a later failure differently: each must have been seen once.
    const seen = new Set<string>();
    const reported = await waitFor("every offender reported with its cause", async () => {
      const found = await services();
      for (const [file, attack] of Object.entries(all)) {
        if (attack.reported.test(String(found.get(file)?.error ?? ""))) seen.add(file);
      }
      return seen.size === Object.keys(all).length ? found : undefined;
    }, { timeoutMs: 300_000 }).catch(async (error) => {
      const found = await services();
      const errors = Object.keys(all).filter((f) => !seen.has(f))
        .map((f) => `${f}: ${found.get(f)?.error}`).join("\n");
      throw new Error(`${error.message}\n${errors}\n${log.join("").slice(-3000)}`);
    });
    assert.equal(reported.get("archive").kind, "builtin");
    assert.equal(reported.get("archive").state, "running");

    // Removing the plugin files that claim the archive's name stops nothing else.
    // The archive's own count of archived alerts, as its service reports it.
    const archivedCount = async () =>
      Number(
        /"archived":(\d+)/.exec(JSON.stringify((await services()).get("archive").details))?.[1],
      );
    const archivedBefore = await archivedCount();
    assert.ok(archivedBefore > 0, JSON.stringify((await services()).get("archive").details));
    await Deno.remove(join(plugins, "archive.ts"));
    await Deno.remove(join(plugins, "claims_archive.ts"));
    await waitFor("claims_archive to leave the services", async () => {
      return (await services()).has("claims_archive") ? undefined : true;
    });
    let archive: any;
    await waitFor("the archive to go on archiving", async () => {
      archive = (await services()).get("archive");
      return archive?.state === "running" && (await archivedCount()) > archivedBefore
        ? true
        : undefined;
    }, { timeoutMs: 60_000 }).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(archive)}\n${log.join("").slice(-2000)}`);
    });

    // The well-behaved plugin keeps producing results after every attack was reported.
    const goodBatches = (await services()).get("good").details.batches;
    await waitFor("the good plugin to go on", async () => {
      const good = (await services()).get("good");
      return good.state === "running" && good.details.batches > goodBatches ? true : undefined;
    }, { timeoutMs: 60_000 });

    const apiText = await (await fetch(`${state.url}/api/services`)).text();
    const passwd = (await Deno.readTextFile("/etc/passwd")).split("\n")[0];
    assert.ok(!apiText.includes(passwd), "a line of /etc/passwd reached the API");
    assert.ok(!log.join("").includes(passwd), "a line of /etc/passwd reached the log");
    polling = false;
    await poller;
    assert.deepEqual(requests.failed, []);
    assert.ok(requests.ok > 10, `${requests.ok} requests answered`);

    // However long the good plugin takes to catch up at stop (stop_wait_s above).
    await stopProcess(child, stateDir, { killAfterMs: 600_000 });
    await drained;
    assert.equal((await child.status).code, 0, log.join("").slice(-3000));
    // Nothing lost or doubled: each archived alert once, and once in the good plugin's results.
    const archived = await query(
      `select candid::varchar id, count(*)::int n from read_parquet(${await archiveFiles(
        `${dir}/archive/*/*/*/*/*/*.parquet`,
      )})
       group by candid order by candid`,
    );
    assert.ok(archived.length > 0);
    assert.ok(archived.every((row: any) => row.n === 1), "an alert was archived twice");
    const results = await query(
      `select id::varchar id, count(*)::int n from read_parquet('${dir}/science/good/**/*.parquet')
       group by id order by id`,
    );
    assert.deepEqual(results, archived);
  } finally {
    polling = false;
    if (!exited) await stopProcess(child, stateDir);
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
});
