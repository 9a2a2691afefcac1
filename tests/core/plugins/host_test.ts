import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { join } from "node:path";
import { parquetName } from "../../../core/archive/file_names.ts";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink, resultFilePath } from "../../../core/plugins/results.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";
import { sharedData } from "../../shared_data.ts";

const alerts = await readZtfAlerts();

function readParquet(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
}

Deno.test("a good plugin gets every batch and its rows are written as Parquet", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "good");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    configs: { good: { threshold: 15 } },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    assert.deepEqual(host.list().map((p) => [p.name, p.state]), [["good", "running"]]);
    const batches = [alerts.slice(0, 20), alerts.slice(20, 35), alerts.slice(35)].map((part, i) =>
      ztfBatch(part, { startOffset: i * 100, cutouts: true })
    );
    for (const batch of batches) assert.deepEqual(host.dispatch(batch).queued, ["good"]);
    await host.idle();

    const [status] = host.list();
    assert.deepEqual(status.batches, 3);
    assert.deepEqual(status.rows, alerts.length);
    assert.deepEqual(status.errors, 0);
    assert.ok(status.avgMsPerBatch !== null && status.lastMsPerBatch !== null);

    let total = 0;
    for (const batch of batches) {
      const path = resultFilePath(science, "good", { ...batch, eventHour: batch.eventHours[0] });
      assert.match(path, /science\/good\/2020\/01\/01\/13\/ztf-alerts\+0\+\d+\+\d+\.parquet$/);
      const table = readParquet(await Deno.readFile(path));
      assert.deepEqual(
        table.schema.fields.map((f) => String(f.type)),
        [
          "Int64",
          "Utf8",
          "Utf8",
          "Bool",
          "Float64",
          "Int32",
          "Int64",
          "Timestamp<MILLISECOND, UTC>",
        ],
      );
      assert.deepEqual([...table.getChild("id")!], Array.from(batch.ids));
      const mags = batch.table.getChild("candidate")!.getChild("magpsf")!;
      assert.deepEqual(
        [...table.getChild("bright")!],
        Array.from({ length: batch.table.numRows }, (_, i) => mags.get(i)! < 15),
      );
      // Declared columns only: the cutouts were never sent.
      assert.deepEqual(new Set(table.getChild("columns_seen")!.toArray()), new Set([3n]));
      total += table.numRows;
    }
    assert.deepEqual(total, alerts.length);

    const summary = host.summary("good");
    const bands = summary.counts.band;
    assert.deepEqual(Object.values(bands).reduce((a, b) => a + b, 0), alerts.length);
    assert.deepEqual(summary.recent.length, 20);
    assert.deepEqual(summary.recent.at(-1)!.id, alerts.at(-1)!.candid);
    // Recent rows name the alert's object, which the plugin did not return.
    assert.deepEqual(
      summary.recent.map((r) => r.objectId),
      alerts.slice(-20).map((a) => a.objectId),
    );
    assert.ok(log.events.some((e) => e.event === "log" && e.message === "threshold set"));
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a replayed batch replaces its result file instead of duplicating it", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "good");
  const host = await createPluginHost({
    root,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: () => {},
  });
  try {
    const batch = ztfBatch(alerts.slice(0, 10), { startOffset: 500 });
    host.dispatch(batch);
    host.dispatch(ztfBatch(alerts.slice(0, 10), { startOffset: 500 }));
    await host.idle();
    const hourDir = join(science, "good", "2020", "01", "01", "13");
    const names = [...Deno.readDirSync(hourDir)].map((e) => e.name);
    assert.deepEqual(names, [parquetName({ topic: "ztf-alerts", partition: 0 }, 500n, 509n)]);
    assert.deepEqual(readParquet(await Deno.readFile(join(hourDir, names[0]))).numRows, 10);
    assert.deepEqual(host.list()[0].batches, 2);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("files that cannot load are refused with the reason, the others run", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "good");
  for (const fixture of ["missing_export", "bad_manifest", "undeclared_kind", "hostile_toplevel"]) {
    await installPlugin(dir, fixture);
  }
  await Deno.writeTextFile(join(dir, "syntax_error.ts"), "export default {\n  name: 'x',,\n};\n");
  const dataFile = sharedData("kafka", "wire_format_facts.json");
  await Deno.writeTextFile(
    join(dir, "imports_data.ts"),
    `import data from "${dataFile}" with { type: "json" };\nexport default data;\n`,
  );
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    const states = Object.fromEntries(host.list().map((p) => [p.name, p]));
    assert.deepEqual(states.good.state, "running");
    const reason = (name: string) => {
      assert.deepEqual(states[name].state, "failed", name);
      assert.deepEqual(log.of(name, "failed").length, 1, name);
      return states[name].lastError ?? "";
    };
    assert.match(
      reason("missing_export"),
      /^plugin missing_export failed to load: .*no default export/,
    );
    assert.match(reason("bad_manifest"), /output "score" has type float; expected one of string/);
    assert.match(
      reason("undeclared_kind"),
      /permission "run" cannot be granted; declare only read/,
    );
    assert.match(
      reason("hostile_toplevel"),
      /^plugin hostile_toplevel: env access to "HOME" denied .*do I\/O in setup\(\)/,
    );
    assert.match(reason("syntax_error"), /^plugin syntax_error failed to load: .*SyntaxError/s);
    assert.match(
      reason("imports_data"),
      /^plugin imports_data: read access to ".*wire_format_facts\.json" denied/,
    );

    const report = host.dispatch(ztfBatch(alerts.slice(0, 5)));
    assert.deepEqual(report, { queued: ["good"], dropped: [] });
    await host.idle();
    assert.deepEqual(host.list().find((p) => p.name === "good")!.rows, 5);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("stop and start by name; a full queue skips and ready() waits for room", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "good");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    queueLimit: 1,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    host.stop("good");
    assert.deepEqual(host.list()[0].state, "stopped");
    assert.deepEqual(host.dispatch(ztfBatch(alerts.slice(0, 5))), { queued: [], dropped: [] });
    await host.start("good");
    assert.deepEqual(host.list()[0].state, "running");

    // One batch in flight and one queued fill the queue of 1; the third is skipped.
    const reports = [0, 1, 2].map((i) =>
      host.dispatch(ztfBatch(alerts.slice(i * 10, i * 10 + 10), { startOffset: i * 10 }))
    );
    assert.deepEqual(reports.map((r) => r.queued.length), [1, 1, 0]);
    assert.deepEqual(reports[2].dropped, ["good"]);
    assert.deepEqual(log.of("good", "dropped").length, 1);
    await host.ready();
    assert.deepEqual(host.dispatch(ztfBatch(alerts.slice(30, 40), { startOffset: 30 })).queued, [
      "good",
    ]);
    await host.idle();
    const [status] = host.list();
    assert.deepEqual([status.batches, status.dropped, status.rows], [3, 1, 30]);
    assert.throws(() => host.stop("nope"), /No plugin named "nope" \(known: good\)/);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
