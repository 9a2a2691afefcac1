/**
 * Stream plugins read the archive, exactly once: the real process archives
 * real ZTF alerts while a plugin lags behind; killed with SIGKILL while
 * results are pending, or running with a queue too small for the flow, the
 * plugin ends with one result row per archived alert.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { drain, isolatedSettings, spawnFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";
import { readCommittedOffset } from "../../core/archive/ledger.ts";
import { ProgressStore } from "../../core/plugins/progress.ts";
import { LocalStorage } from "../../core/storage/mod.ts";

const FILES = { topic: "files", partition: 0 };

const ALERTS = sharedData("ztf", "alerts", "fink-broker-local-20200101");
const DEFINE = new URL("../../core/plugins/define.ts", import.meta.url).href;

/**
 * A stream plugin whose first batch waits until the file `gate` exists, so
 * every later batch arrives while it is busy.
 */
function gatedPlugin(name: string, gate: string): string {
  return `import { definePlugin } from "${DEFINE}";
let opened = false;
export default definePlugin({
  name: "${name}",
  description: "Held on its first batch until the test opens the gate",
  permissions: { read: [${JSON.stringify(gate)}] },
  columns: ["candid"],
  outputs: { seen: "bool" },
  async process(batch) {
    while (!opened) {
      opened = await Deno.stat(${JSON.stringify(gate)}).then(() => true, () => false);
      if (!opened) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return batch.toArray().map((a) => ({ id: a.candid, seen: true }));
  },
});
`;
}

/** `start archive --source` over the shared alerts, every folder under `dir`. */
function spawnArchive(dir: string, settings: string[]): Deno.ChildProcess {
  return spawnFink([
    "start",
    "archive",
    `--source=files:${ALERTS}`,
    ...isolatedSettings(dir),
    // A hang guard only: on a loaded machine the plugin may need minutes to catch up.
    "--set=plugins.stop_wait_s=600",
    ...settings.map((s) => `--set=${s}`),
  ]);
}

/** Result rows per id against archived rows per candid: equal when nothing is lost or doubled. */
async function assertExactlyOnce(dir: string, plugin: string): Promise<number> {
  const archived = await query(
    `select candid::varchar id, count(*)::int n from read_parquet(${await archiveFiles(
      `${dir}/archive/files/*/*/*/*/*.parquet`,
    )})
     group by candid order by candid`,
  );
  const results = await query(
    `select id::varchar id, count(*)::int n from read_parquet('${dir}/science/${plugin}/**/*.parquet')
     group by id order by id`,
  );
  assert.ok(archived.length >= 50, `${archived.length} alerts archived`);
  assert.deepEqual(results, archived);
  return archived.length;
}

Deno.test("SIGKILL between the archive's commit and the results: after a restart every alert has one result", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_plugins_kill_" });
  const gate = join(dir, "gate");
  await Deno.mkdir(join(dir, "plugins"));
  await Deno.writeTextFile(join(dir, "plugins", "held.ts"), gatedPlugin("held", gate));
  const settings = ["batch.max_alerts=5", "batch.max_ms=20"];
  try {
    const first = spawnArchive(dir, settings);
    const log: string[] = [];
    const drained = drain(first.stderr, log);
    // The gate stays shut in the first run: the plugin writes nothing, so once the archive
    // has committed, every committed alert's result is certainly pending at the kill.
    await waitFor("archived alerts whose results are pending", async () => {
      const offset = await readCommittedOffset(new LocalStorage(`${dir}/archive`), FILES);
      return offset >= 20n ? offset : undefined;
    });
    first.kill("SIGKILL");
    await first.status;
    await drained;
    const progress = async () =>
      (await new ProgressStore(new LocalStorage(`${dir}/science`)).streamProgress("held"))
        ?.get(FILES) ?? null;
    const started = await progress();
    assert.ok(started === null || started === 0n, log.join("").slice(-2000));

    await Deno.writeTextFile(gate, "");
    const second = spawnArchive(dir, settings);
    const log2: string[] = [];
    await drain(second.stderr, log2);
    const { code } = await second.status;
    assert.equal(code, 0, log2.join(""));
    assert.match(log2.join(""), /catching up from the archive/);
    await assertExactlyOnce(dir, "held");
    const final = await readCommittedOffset(new LocalStorage(`${dir}/archive`), FILES);
    assert.equal(await progress(), final + 1n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a plugin whose queue is too small catches up instead of dropping batches", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_plugins_queue_" });
  const gate = join(dir, "gate");
  await Deno.mkdir(join(dir, "plugins"));
  await Deno.writeTextFile(join(dir, "plugins", "tiny.ts"), gatedPlugin("tiny", gate));
  try {
    const child = spawnArchive(dir, [
      "batch.max_alerts=2",
      "batch.max_ms=20",
      "plugins.queue_limit=1",
    ]);
    const log: string[] = [];
    const drained = drain(child.stderr, log);
    // The plugin is held on its first batch while the archive commits every alert:
    // 25 batches of 2 against a queue of 1.
    await waitFor(
      "every alert archived",
      () => Promise.resolve(/every file of the source is archived/.test(log.join("")) || undefined),
    );
    await Deno.writeTextFile(gate, "");
    await drained;
    const { code } = await child.status;
    const text = log.join("");
    assert.equal(code, 0, text);
    assert.match(text, /catching up from the archive/, text.slice(-3000));
    assert.doesNotMatch(text, /msg=dropped/);
    await assertExactlyOnce(dir, "tiny");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
