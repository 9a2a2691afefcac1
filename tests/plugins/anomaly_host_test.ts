import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPluginHost, type PluginHost } from "../../core/plugins/host.ts";
import { createParquetSink } from "../../core/plugins/results.ts";
import { EventLog } from "../fixtures/plugins/install.ts";
import { alertTables, ANNOTATED } from "./anomaly_alerts.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MODEL = "plugins/data/models/anomaly_detection_forest_AAD_beta.zip";

async function resultFiles(folder: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) out.push(...await resultFiles(path));
    else if (entry.name.endsWith(".parquet")) out.push(path);
  }
  return out;
}

function anomalyStatus(host: PluginHost) {
  return host.list().find((s) => s.name === "anomaly")!;
}

Deno.test("in its sandboxed process, with read access to its models only, the plugin scores as Fink", async () => {
  const [annotated] = await alertTables([ANNOTATED]);
  const dir = await Deno.makeTempDir({ prefix: "fink_anomaly_" });
  const science = join(dir, "science");
  const log = new EventLog();
  const host = await createPluginHost({
    root: ROOT,
    // The project's own plugins folder: a plugin may import nothing outside it but core/.
    dir: join(ROOT, "plugins"),
    configs: { anomaly: { models: { twin: MODEL } } },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
    watch: false,
  });
  try {
    const status = anomalyStatus(host);
    assert.equal(status.state, "running", status.lastError ?? "");
    assert.deepEqual(status.permissions, { read: ["plugins/data/models", "models"] });
    host.dispatch({
      table: annotated.table,
      topic: "ztf",
      partition: 0,
      startOffset: 0,
      endOffset: annotated.ids.length - 1,
      ids: annotated.ids,
      eventHours: new Array(annotated.ids.length).fill(493_000),
    });
    await host.idle();
    assert.equal(anomalyStatus(host).errors, 0, anomalyStatus(host).lastError ?? "");

    const files = await resultFiles(join(science, "anomaly"));
    assert.equal(files.length, 1);
    const table = arrow.tableFromIPC(pq.readParquet(await Deno.readFile(files[0])).intoIPCStream());
    assert.equal(table.numRows, 31);
    assert.deepEqual([...table.getChild("id")!], [...annotated.ids]);
    const beta = annotated.table.getChild("anomaly_score_beta")!;
    const score = table.getChild("anomaly_score")!;
    const twin = table.getChild("anomaly_score_twin")!;
    assert.ok(table.getChild("lc_features_r_stetson_K"));
    let scored = 0;
    for (let i = 0; i < 31; i++) {
      const expected = beta.get(i);
      if (expected === null || Number.isNaN(expected)) {
        assert.equal(score.get(i), null, `alert ${i}`);
        continue;
      }
      assert.ok(Math.abs(score.get(i) - expected) <= 1e-6, `alert ${i}: ${score.get(i)}`);
      assert.equal(twin.get(i), score.get(i));
      scored++;
    }
    assert.equal(scored, 13);

    // The live summary: how many were scored, their distribution, the most anomalous first.
    const ranking = host.summary("anomaly").ranking!;
    assert.equal(ranking.column, "anomaly_score");
    assert.equal(ranking.counted, 13);
    assert.equal(ranking.nulls, 18);
    assert.equal(ranking.counts.reduce((a, b) => a + b, 0), 13);
    assert.equal(ranking.top.length, 10);
    const lowest = Math.min(...[...score].filter((s) => s !== null));
    assert.equal(ranking.top[0].anomaly_score, lowest);
    assert.ok(log.events.some((e) => e.event === "log" && e.message === "anomaly model loaded"));
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing model path stops the plugin at setup with the path in its error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_anomaly_" });
  const log = new EventLog();
  const host = await createPluginHost({
    root: ROOT,
    // The project's own plugins folder: a plugin may import nothing outside it but core/.
    dir: join(ROOT, "plugins"),
    configs: { anomaly: { model: "models/next_month.zip" } },
    sink: createParquetSink({ scienceRoot: join(dir, "science") }),
    onEvent: log.record,
    watch: false,
    restartBackoff: { initialMs: 60_000, maxMs: 60_000 },
  });
  try {
    const failed = await log.waitFor((e) => e.plugin === "anomaly" && e.event === "error");
    assert.match(
      failed.message ?? "",
      /setup\(\) threw: Error: plugins\.anomaly\.model: model file .*models\/next_month\.zip not found/,
    );
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("as a child `deno run --allow-read=<its read paths> --no-prompt` process, the plugin scores as Fink", async () => {
  const [annotated] = await alertTables([ANNOTATED]);
  const table = new arrow.Table({
    candid: annotated.table.getChild("candid")!,
    candidate: annotated.table.getChild("candidate")!,
    prv_candidates: annotated.table.getChild("prv_candidates")!,
  });
  const read = ["plugins/data/models", "models"].map((p) => join(ROOT, p)).join(",");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-read=${read}`,
      "--no-prompt",
      fileURLToPath(new URL("../fixtures/plugins/anomaly_child.ts", import.meta.url)),
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(arrow.tableToIPC(table, "stream"));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const rows = new TextDecoder().decode(stdout).trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(rows.length, 31);
  const beta = annotated.table.getChild("anomaly_score_beta")!;
  rows.forEach((row, i) => {
    assert.equal(row.id, String(annotated.ids[i]));
    const expected = beta.get(i);
    if (expected === null || Number.isNaN(expected)) assert.equal(row.anomaly_score, null);
    else assert.ok(Math.abs(row.anomaly_score - expected) <= 1e-6, `alert ${i}`);
  });
});
