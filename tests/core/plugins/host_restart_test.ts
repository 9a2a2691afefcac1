import assert from "node:assert/strict";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";

const alerts = await readZtfAlerts(undefined, 20);

Deno.test("failing plugins are terminated, reported and restarted with backoff; others go on", async () => {
  const { root, dir, science } = await tempRoot();
  for (const name of ["good", "looping", "crash_process", "crash_setup", "bad_rows", "dies"]) {
    await installPlugin(dir, name);
  }
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    budgetMs: 400,
    restartBackoff: { initialMs: 50, maxMs: 200 },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  const failing = ["looping", "bad_rows", "dies"];
  try {
    // Setup failures restart on their own: 50, 100, 200, then capped at 200.
    const fifth = await log.waitFor((e) =>
      e.plugin === "crash_setup" && e.event === "restarting" && e.restarts === 5
    );
    assert.equal(fifth.delayMs, 200);
    assert.deepEqual(
      log.of("crash_setup", "restarting").slice(0, 5).map((e) => e.delayMs),
      [50, 100, 200, 200, 200],
    );
    assert.match(
      String(log.of("crash_setup", "error")[0].message),
      /^plugin crash_setup: setup\(\) threw: Error: model file missing$/,
    );

    let dispatched = 0;
    for (const round of [1, 2]) {
      for (const name of failing) {
        await log.waitFor((e) =>
          e.plugin === name && e.event === "started" &&
          log.of(name, "started").length === round
        );
      }
      const report = host.dispatch(ztfBatch(alerts, { startOffset: round * 100 }));
      dispatched++;
      assert.ok(report.queued.includes("good"));
      for (const name of failing) assert.ok(report.queued.includes(name), name);
      // "dies" completes this batch and dies on the next one.
      const second = host.dispatch(ztfBatch(alerts, { startOffset: round * 100 + 50 }), {
        to: ["dies"],
      });
      assert.deepEqual(second.queued, ["dies"]);
      for (const name of failing) {
        await log.waitFor((e) =>
          e.plugin === name && e.event === "restarting" &&
          e.restarts === round
        );
      }
    }
    for (const name of failing) {
      // "dies" completes a batch before dying each time, and a completed batch resets the backoff.
      const expected = name === "dies" ? [50, 50] : [50, 100];
      assert.deepEqual(log.of(name, "restarting").map((e) => e.delayMs), expected, name);
    }
    const message = (name: string) => String(log.of(name, "error")[0].message);
    assert.match(
      message("looping"),
      /^plugin looping: batch ztf-alerts\+0\+100\+119 exceeded its CPU budget of 400 ms \(\d+ ms used\); its process was killed$/,
    );
    assert.match(
      message("bad_rows"),
      /^plugin bad_rows: process\(\) returned invalid rows: Error: Row 0: column "secret" is not declared in outputs \(declared: score\)/,
    );
    assert.match(
      message("dies"),
      /^plugin dies: its process exited with code 1 \(Uncaught Error: late failure outside process\) while processing batch ztf-alerts\+0\+150\+169$/,
    );

    await host.idle();
    // An alert process() cannot handle gets a null result with the reason; the plugin goes on.
    const crashing = host.list().find((p) => p.name === "crash_process")!;
    assert.deepEqual(
      [crashing.state, crashing.batches, crashing.rows, crashing.failedAlerts, crashing.restarts],
      ["running", dispatched, dispatched * alerts.length, dispatched * alerts.length, 0],
    );
    assert.equal(crashing.lastFailedAlerts.length, 5);
    assert.equal(crashing.lastFailedAlerts[0].reason, "RangeError: catalog index corrupted");
    const good = host.list().find((p) => p.name === "good")!;
    assert.deepEqual([good.state, good.batches, good.rows, good.errors], [
      "running",
      dispatched,
      dispatched * alerts.length,
      0,
    ]);
    for (const name of failing) {
      const status = host.list().find((p) => p.name === name)!;
      assert.equal(status.restarts, 2, name);
      assert.equal(status.errors, 2, name);
    }
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
