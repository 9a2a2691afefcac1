/**
 * The README's example plugin, taken from the README itself, loads in the
 * sandboxed host and classifies real alerts, and the filter plugins of the
 * plugin and distribution READMEs answer a batch of real alerts: the docs
 * match behaviour.
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

for (const readme of ["core/plugins/README.md", "core/distribution/README.md"]) {
  Deno.test(`the filter plugin of ${readme} answers as written`, async () => {
    const text = await Deno.readTextFile(new URL(`../${readme}`, import.meta.url));
    const code = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1])
      .find((block) => block.includes('kind: "filter"'))!;
    const name = /name: "([a-z_]+)"/.exec(code)![1];
    const { root, dir, science } = await tempRoot();
    try {
      await Deno.writeTextFile(join(dir, `${name}.ts`), code.replaceAll('"../core/', `"${CORE}`));
      const host = await createPluginHost({
        root,
        sink: createParquetSink({ scienceRoot: science }),
      });
      try {
        assert.deepEqual(host.list().map((p) => [p.name, p.kind, p.state]), [
          [name, "filter", "running"],
        ]);
        const alerts = await readZtfAlerts();
        const batch = ztfBatch(alerts, { startOffset: 0 });
        const answer = Promise.withResolvers<bigint[]>();
        host.dispatch(batch, {
          to: [name],
          ticket: () => ({
            current: () => true,
            written: () => Promise.resolve(),
            deliver: (rows) => Promise.resolve(answer.resolve(rows.map((r) => r.id))),
          }),
        });
        const passed = await answer.promise;
        const ids = new Set(Array.from(batch.ids));
        assert.ok(passed.every((id) => ids.has(id)), "ids of the batch");
        assert.equal(host.list()[0].errors, 0, host.list()[0].lastError ?? "");
      } finally {
        await host.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
