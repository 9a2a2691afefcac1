import assert from "node:assert/strict";
import { join } from "node:path";
import { createPluginHost } from "../../../core/plugins/host.ts";
import { createParquetSink } from "../../../core/plugins/results.ts";
import { EventLog, installPlugin, tempRoot } from "../../fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "../../fixtures/plugins/ztf_batch.ts";

const alerts = await readZtfAlerts(undefined, 10);

const EXPECTED: Record<string, RegExp> = {
  hostile_read: /^plugin hostile_read: read access to "\/etc\/passwd" denied \(it is not declared/,
  hostile_connect: /^plugin hostile_connect: net access to "127\.0\.0\.1:9" denied/,
  hostile_fetch: /^plugin hostile_fetch: net access to "127\.0\.0\.1:8080" denied/,
  hostile_env: /^plugin hostile_env: env access to "HOME" denied/,
  hostile_spawn: /^plugin hostile_spawn: run access to "ls" denied \(plugins are never granted run/,
  hostile_write: /^plugin hostile_write: write access to ".*outside\.txt" denied/,
};

Deno.test("each hostile plugin is denied what it did not declare and reported by name", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "good");
  for (const name of Object.keys(EXPECTED)) await installPlugin(dir, name);
  const inside = join(root, "out", "inside.txt");
  const outside = join(root, "outside.txt");
  await Deno.mkdir(join(root, "out"));
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    configs: { hostile_write: { inside, outside, allow: ["write:out"] } },
    restartBackoff: { initialMs: 60_000, maxMs: 60_000 },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    assert.ok(host.list().every((p) => p.state === "running"));
    const report = host.dispatch(ztfBatch(alerts));
    assert.equal(report.queued.length, 7);
    const errors = await Promise.all(
      Object.keys(EXPECTED).map((name) =>
        log.waitFor((e) => e.plugin === name && e.event === "error")
      ),
    );
    for (const [i, [name, pattern]] of Object.entries(EXPECTED).entries()) {
      assert.match(String(errors[i].message), pattern, name);
      const status = host.list().find((p) => p.name === name)!;
      assert.equal(status.state, "restarting", name);
      assert.equal(status.lastError, errors[i].message);
      assert.equal(status.batches, 0);
    }
    // The declared path was writable, the other one was not.
    assert.equal(await Deno.readTextFile(inside), "allowed\n");
    await assert.rejects(Deno.stat(outside), Deno.errors.NotFound);

    await host.idle();
    const good = host.list().find((p) => p.name === "good")!;
    assert.deepEqual([good.state, good.batches, good.rows, good.errors], ["running", 1, 10, 0]);
    assert.deepEqual(
      host.list().find((p) => p.name === "hostile_write")!.permissions,
      { write: ["out"] },
    );
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a frame forged out of its phase does not lift the CPU budget", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "forges_ready");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    budgetMs: 300,
    restartBackoff: { initialMs: 60_000, maxMs: 60_000 },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    host.dispatch(ztfBatch(alerts));
    const error = await log.waitFor(
      (e) => e.plugin === "forges_ready" && e.event === "error",
      120_000,
    );
    assert.match(String(error.message), /exceeded its CPU budget of 300 ms/);
    assert.equal(log.of("forges_ready", "started").length, 1);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a plugin that garbles its result stream and exits is reported as such, the others go on", async () => {
  const { root, dir, science } = await tempRoot();
  await installPlugin(dir, "garbles_and_exits");
  await installPlugin(dir, "good");
  const log = new EventLog();
  const host = await createPluginHost({
    root,
    restartBackoff: { initialMs: 60_000, maxMs: 60_000 },
    sink: createParquetSink({ scienceRoot: science }),
    onEvent: log.record,
  });
  try {
    host.dispatch(ztfBatch(alerts));
    const error = await log.waitFor((e) => e.plugin === "garbles_and_exits" && e.event === "error");
    assert.match(
      String(error.message),
      /^plugin garbles_and_exits: its process garbled its result stream \(it wrote to stdout itself\)/,
    );
    await host.idle();
    const good = host.list().find((p) => p.name === "good")!;
    assert.deepEqual([good.state, good.batches, good.rows], ["running", 1, 10]);
  } finally {
    await host.close();
    await Deno.remove(root, { recursive: true });
  }
});
