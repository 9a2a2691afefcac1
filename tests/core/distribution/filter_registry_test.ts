/**
 * Where filters come from: the built-in ones, `[distribution.filters.<name>]`
 * sections of the configuration, and posted ones kept across restarts; a bad
 * name or a missing expression is refused naming the filter.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../../core/config/mod.ts";
import { FilterRegistry } from "../../../core/distribution/filter_registry.ts";
import { FilterError, parseDefinition } from "../../../core/distribution/sql_filter.ts";

Deno.test("filters come from the defaults, the configuration and the API, later ones replacing earlier ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "fink.toml");
    await Deno.writeTextFile(
      file,
      `[distribution.filters.rrab]\nwhere = "classify.class = 'RRAB' AND candidate.magpsf < 17"\n` +
        `[distribution.filters.anomalies]\nwhere = "anomaly.anomaly_score < -0.8"\n`,
    );
    const config = await loadConfig({ file, env: {} });
    assert.deepEqual(Object.keys(config.filters), ["rrab", "anomalies"]);
    const sources = {
      defaults: config.bool("distribution.default_filters"),
      configured: config.filters,
      file: join(dir, "filters.json"),
    };
    const registry = await FilterRegistry.open(sources);
    assert.deepEqual(registry.list().map((f) => [f.name, f.origin]), [
      ["anomalies", "config"],
      ["bright_transients", "default"],
      ["catalog_match", "default"],
      ["rrab", "config"],
    ]);
    await registry.put(parseDefinition("faint", { where: "candidate.magpsf > 20" }));
    const reopened = await FilterRegistry.open(sources);
    assert.equal(reopened.list().find((f) => f.name === "faint")?.where, "candidate.magpsf > 20");
    assert.equal(await reopened.remove("faint"), true);
    assert.equal(
      (await FilterRegistry.open(sources)).list().some((f) => f.name === "faint"),
      false,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a filter needs a topic-safe name and an expression", () => {
  assert.throws(() => parseDefinition("Bad Name", { where: "true" }), FilterError);
  assert.throws(
    () => parseDefinition("empty", { where: " " }),
    /Filter empty needs "where": a SQL boolean expression/,
  );
});
