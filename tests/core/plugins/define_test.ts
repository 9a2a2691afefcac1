import assert from "node:assert/strict";
import { definePlugin, type PluginManifest } from "../../../core/plugins/define.ts";

const BASE: PluginManifest = {
  name: "xmatch",
  description: "Cross-match",
  version: "1.0.0",
  kind: "stream",
  permissions: { read: ["catalogs"] },
  outputs: { cls: "string" },
  process: () => [],
};

Deno.test("definePlugin accepts the optional columns and budgetMs", () => {
  const columns = ["candid", "candidate", "prv_candidates.magpsf"];
  const manifest = definePlugin({ ...BASE, columns, budgetMs: 250 });
  assert.deepEqual(manifest.columns, columns);
  assert.equal(manifest.budgetMs, 250);
});

Deno.test("definePlugin refuses what the host cannot honour, naming the field", () => {
  const bad = (changes: Record<string, unknown>) => ({ ...BASE, ...changes }) as PluginManifest;
  assert.throws(() => definePlugin(bad({ columns: [] })), /"columns" must be a non-empty list/);
  assert.throws(() => definePlugin(bad({ columns: [1] })), /"columns" must be a non-empty list/);
  assert.throws(
    () => definePlugin(bad({ columns: ["candidate..jd"] })),
    /"columns" must be a non-empty list of column names or paths .* found \["candidate\.\.jd"\]/,
  );
  assert.throws(() => definePlugin(bad({ budgetMs: 0 })), /"budgetMs" must be a number .* found 0/);
  assert.throws(() => definePlugin(bad({ budgetMs: "5s" })), /"budgetMs" must be a number/);
  assert.throws(() => definePlugin(bad({ outputs: { id: "int64" } })), /output "id" is implicit/);
  for (const kind of ["run", "ffi", "sys", "all", "import"]) {
    assert.throws(
      () => definePlugin(bad({ permissions: { [kind]: [] } })),
      new RegExp(`permission "${kind}" cannot be granted; declare only read, write, net, env`),
    );
  }
});

Deno.test("definePlugin defaults version, kind and permissions", () => {
  const manifest = definePlugin({
    name: "tiny",
    description: "d",
    outputs: {},
    process: () => [],
  });
  assert.deepEqual([manifest.version, manifest.kind, manifest.permissions], [
    "0.0.0",
    "stream",
    {},
  ]);
  assert.throws(
    () => definePlugin(null as never),
    /A plugin manifest must be an object, found null/,
  );
});

Deno.test("definePlugin checks a ranking against the outputs and outputsFor's type", () => {
  const ranked = { ...BASE, outputs: { cls: "string" as const, score: "float64" as const } };
  const ranking = { column: "score", order: "ascending" as const, bins: [-1, 0, 1], top: 5 };
  assert.deepEqual(definePlugin({ ...ranked, ranking }).ranking, ranking);
  for (
    const bad of [
      { ...ranking, column: "cls" },
      { ...ranking, column: "missing" },
      { ...ranking, order: "up" },
      { ...ranking, bins: [1, 0] },
      { ...ranking, top: 0 },
    ]
  ) {
    assert.throws(
      () => definePlugin({ ...ranked, ranking: bad as typeof ranking }),
      /"ranking" must name a numeric output column/,
    );
  }
  assert.throws(
    () => definePlugin({ ...BASE, outputsFor: "all" as never }),
    /"outputsFor" must be a function/,
  );
});

Deno.test("definePlugin: a filter has no outputs and may name science inputs; only a filter names them", () => {
  const filter = definePlugin({
    name: "rising",
    kind: "filter",
    description: "d",
    columns: ["candid", "candidate"],
    science: ["classify"],
    process: () => [],
  });
  assert.deepEqual([filter.kind, filter.outputs, filter.science], ["filter", {}, ["classify"]]);
  const bad = (changes: Record<string, unknown>) => ({ ...filter, ...changes }) as PluginManifest;
  assert.throws(
    () => definePlugin(bad({ outputs: { score: "float64" } })),
    /Plugin rising: a filter has no outputs .*remove "outputs"/,
  );
  assert.throws(
    () => definePlugin(bad({ science: ["Not a name"] })),
    /Plugin rising: "science" must list plugin names such as \["classify"\], found \["Not a name"\]/,
  );
  assert.throws(
    () => definePlugin({ ...BASE, science: ["classify"] }),
    /Plugin xmatch: "science" \(the results a filter is given\) is for kind "filter" only/,
  );
});
