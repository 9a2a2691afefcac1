import assert from "node:assert/strict";
import { join } from "node:path";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";

const alerts = await readZtfAlerts(undefined, 30);

Deno.test("plugins dropped into the watched folder start, reload on change, stop on removal", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "trivial");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    debounceMs: 50,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  let dispatched = 0;
  let offset = 0;
  function dispatch(): string[] {
    dispatched++;
    offset += 100;
    return host.dispatch(ztfBatch(alerts, { startOffset: offset })).queued;
  }
  try {
    assert.deepEqual(dispatch(), ["trivial"]);

    const path = await installPlugin(dir, "good");
    await log.waitFor((e) => e.plugin === "good" && e.event === "started");
    assert.deepEqual(dispatch().sort(), ["good", "trivial"]);
    const batch = await log.waitFor((e) => e.plugin === "good" && e.event === "batch");
    assert.equal(batch.rows, alerts.length);

    // A new version replaces the running one without touching the other plugin.
    const started = log.of("good", "started").length;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(join(dir, ".good.tmp"), text.replace('"1.0.0"', '"1.0.1"'));
    await Deno.rename(join(dir, ".good.tmp"), path);
    await log.waitFor((e) =>
      e.plugin === "good" && e.event === "started" && log.of("good", "started").length > started
    );
    assert.equal(host.list().find((p) => p.name === "good")!.version, "1.0.1");
    assert.equal(log.of("good", "loaded").at(-1)!.version, "1.0.1");
    assert.deepEqual(dispatch().sort(), ["good", "trivial"]);

    await Deno.remove(path);
    await log.waitFor((e) => e.plugin === "good" && e.event === "removed");
    assert.deepEqual(host.list().map((p) => p.name), ["trivial"]);
    assert.deepEqual(dispatch(), ["trivial"]);

    await host.idle();
    const trivial = host.list()[0];
    assert.deepEqual([trivial.state, trivial.batches, trivial.errors, trivial.restarts], [
      "running",
      dispatched,
      0,
      0,
    ]);
    assert.equal(trivial.rows, dispatched * alerts.length);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a file that fails to load while the host runs is reported and retried when fixed", async () => {
  const { root, dir, science } = await tempRoot();
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    debounceMs: 50,
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    assert.deepEqual(host.list(), []);
    const path = join(dir, "good.ts");
    await Deno.writeTextFile(join(dir, ".good.tmp"), "export default {;\n");
    await Deno.rename(join(dir, ".good.tmp"), path);
    const failed = await log.waitFor((e) => e.event === "failed");
    assert.match(String(failed.message), /^plugin good failed to load: .*SyntaxError/s);
    assert.equal(host.list()[0].state, "failed");

    await installPlugin(dir, "good");
    await log.waitFor((e) => e.plugin === "good" && e.event === "started");
    host.dispatch(ztfBatch(alerts));
    await host.idle();
    assert.equal(host.list()[0].rows, alerts.length);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
