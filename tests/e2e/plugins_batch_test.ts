/**
 * Batch plugins over archived hours of real ZTF alerts: on demand from the
 * CLI with no process running, on their own schedule in a running process,
 * and on demand in that process through the CLI and the API.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readProcessState } from "../../core/process/state_file.ts";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { drain, fink, isolatedSettings, spawnFink, stopProcess } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const NIGHT = sharedData("ztf", "alerts", "fink-broker-all-distribute-20231018");
const DEFINE = new URL("../../core/plugins/define.ts", import.meta.url).href;
const PLUGIN = `import { definePlugin } from "${DEFINE}";
export default definePlugin({
  name: "mags",
  description: "Magnitude of every alert of an hour",
  kind: "batch",
  columns: ["candid", "candidate"],
  outputs: { mag: "float64" },
  process: (batch) => batch.toArray().map((a) => ({ id: a.candid, mag: a.candidate.magpsf })),
});
`;

/** Archives the shared night (18 hours over two dates) and installs the batch plugin. */
async function project(): Promise<{ dir: string; settings: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "fink_batch_" });
  const settings = isolatedSettings(dir);
  const archived = await fink([
    "start",
    "archive",
    `--source=files:${NIGHT}`,
    "--set=batch.max_alerts=30",
    ...settings,
  ], {});
  assert.equal(archived.code, 0, archived.stderr);
  await Deno.mkdir(join(dir, "plugins"), { recursive: true });
  await Deno.writeTextFile(join(dir, "plugins", "mags.ts"), PLUGIN);
  return { dir, settings };
}

/** Rows per id: archived alerts of the hours matching `like`, and the plugin's results there. */
async function compare(dir: string, like: string) {
  const archived = await query(
    `select candid::varchar id, count(*)::int n
     from read_parquet(${await archiveFiles(
      `${dir}/archive/files/*/*/*/*/*.parquet`,
    )}, filename = true)
     where filename like '${dir}/archive/files/${like}' group by candid order by candid`,
  );
  const results = await query(
    `select id::varchar id, count(*)::int n
     from read_parquet('${dir}/science/mags/**/*.parquet', filename = true)
     where filename like '${dir}/science/mags/${like}' group by id order by id`,
  ).catch(() => []);
  return { archived, results };
}

Deno.test("start <batch plugin> --hours runs it over the archived hours, exactly once", async () => {
  const { dir, settings } = await project();
  try {
    const run = () =>
      fink(["start", "mags", "--hours", "2023/10/18/00..2023/10/18/23", ...settings], {});
    const first = await run();
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^mags: 10\/10 hours$/m);
    assert.match(first.stdout, /14 hours of the range hold no archive/);
    let { archived, results } = await compare(dir, "2023/10/18/%");
    assert.ok(archived.length > 50, `${archived.length} alerts on 2023-10-18`);
    assert.deepEqual(results, archived);
    assert.deepEqual((await compare(dir, "2023/10/19/%")).results, [], "only the hours asked");

    // Again: the results are replaced, not doubled.
    const second = await run();
    assert.equal(second.code, 0, second.stderr);
    ({ archived, results } = await compare(dir, "2023/10/18/%"));
    assert.deepEqual(results, archived);

    const bad = await fink([
      "start",
      "mags",
      "--hours",
      "2023/10/18/24..2023/10/19/01",
      ...settings,
    ], {});
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /An hour range is YYYY\/MM\/dd\/hh\.\.YYYY\/MM\/dd\/hh in real UTC hours, found "2023\/10\/18\/24\.\.2023\/10\/19\/01"/,
    );
    const empty = await fink([
      "start",
      "mags",
      "--hours",
      "2024/01/01/00..2024/01/01/23",
      ...settings,
    ], {});
    assert.notEqual(empty.code, 0);
    assert.match(empty.stderr, /No archived hour in 2024\/01\/01\/00\.\.2024\/01\/01\/23/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a started batch plugin processes every closed hour by itself, and runs on demand too", async () => {
  const { dir, settings } = await project();
  const child = spawnFink(["start", "mags", "--set=plugins.batch_every_s=1", ...settings]);
  const log: string[] = [];
  const drained = drain(child.stderr, log);
  try {
    const state = await waitFor("the process to answer", async () => {
      const s = await readProcessState(`${dir}/state`);
      return s?.pid === child.pid ? s : undefined;
    });
    // Every hour of both dates is long closed: the schedule processes all 18 of them.
    const done = await waitFor("the schedule to process every hour", async () => {
      const text = await Deno.readTextFile(`${dir}/science/_progress/mags/hours/files.json`)
        .catch(() => null);
      const hours = text === null ? {} : JSON.parse(text).hours;
      return Object.keys(hours).length === 18 ? hours : undefined;
    });
    assert.ok(Object.keys(done).includes("2023/10/19/11"));
    let { archived, results } = await compare(dir, "%");
    assert.deepEqual(results, archived);

    // On demand through the CLI, in the running process.
    const cli = await fink([
      "start",
      "mags",
      "--hours",
      "2023/10/19/03..2023/10/19/04",
      ...settings,
    ], {});
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      /mags runs over 2023\/10\/19\/03\.\.2023\/10\/19\/04 in the running process/,
    );
    assert.match(cli.stdout, /^mags: 2\/2 hours$/m);
    ({ archived, results } = await compare(dir, "%"));
    assert.deepEqual(results, archived, "re-processed hours replaced, not doubled");

    // And through the API: a bad range is refused with the reason.
    const res = await fetch(`${state.url}/api/services/mags/start`, {
      method: "POST",
      headers: { authorization: `Bearer ${state.token}`, "content-type": "application/json" },
      body: JSON.stringify({ hours: "2023/10/19" }),
    });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /An hour range is YYYY\/MM\/dd\/hh/);
    const status = await (await fetch(`${state.url}/api/services`)).json();
    const mags = status.services.find((s: { name: string }) => s.name === "mags");
    assert.equal(mags.state, "running");
    assert.deepEqual(
      [mags.details.hours.kind, mags.details.hours.state, mags.details.hours.done],
      ["on demand", "done", 2],
    );
  } finally {
    await stopProcess(child, `${dir}/state`);
    await drained;
    await Deno.remove(dir, { recursive: true });
  }
});
