/**
 * The README's example plugin, taken from the README itself, loads in the
 * sandboxed host and classifies real alerts: the docs match behaviour.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPluginHost } from "../core/plugins/host.ts";
import { createParquetSink } from "../core/plugins/results.ts";
import { tempRoot } from "./fixtures/plugins/install.ts";
import { readZtfAlerts, ztfBatch } from "./fixtures/plugins/ztf_batch.ts";

const README = new URL("../README.md", import.meta.url);
const CORE = new URL("../core/", import.meta.url).href;

Deno.test("the README's example plugin runs as written", async () => {
  const text = await Deno.readTextFile(README);
  const section = text.slice(text.indexOf("## Plugins"));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1];
  assert.ok(code.trim().split("\n").length <= 11, "the example stays about ten lines");
  const { root, dir, science } = await tempRoot();
  try {
    // The plugin folder is a temporary one: its imports of core/ point at this checkout.
    await Deno.writeTextFile(join(dir, "bright.ts"), code.replaceAll('"../core/', `"${CORE}`));
    const host = await createPluginHost({
      root,
      sink: createParquetSink({ scienceRoot: science }),
    });
    try {
      assert.deepEqual(host.list().map((p) => [p.name, p.state]), [["bright", "running"]]);
      const alerts = await readZtfAlerts();
      host.dispatch(ztfBatch(alerts, { startOffset: 0 }));
      await host.idle();
      const [status] = host.list();
      assert.equal(status.errors, 0, status.lastError ?? "");
      assert.equal(status.rows, alerts.length, "one row per real alert");
      assert.ok(host.summary("bright").recent.length > 0);
    } finally {
      await host.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
