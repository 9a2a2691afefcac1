import assert from "node:assert/strict";
import { SummaryAccumulator } from "../../../core/plugins/summary.ts";

Deno.test("a ranking keeps the distribution, the nulls and the most notable rows of the last hour", () => {
  let now = Date.UTC(2026, 2, 22, 12, 0);
  const summary = new SummaryAccumulator({ score: "float64", label: "string" }, {
    recentRows: 5,
    now: () => now,
    ranking: { column: "score", order: "ascending", bins: [-0.05, 0], top: 3 },
  });
  summary.add([
    { id: 1n, score: -0.09, label: "a" },
    { id: 2n, score: null, label: "a" },
    { id: 3n, score: -0.01, label: "b" },
  ]);
  now += 30 * 60_000;
  summary.add([{ id: 4n, score: 0.02, label: "b" }, { id: 5n, score: -0.03, label: "b" }]);
  let ranking = summary.snapshot("p").ranking!;
  assert.deepEqual(
    {
      counted: ranking.counted,
      nulls: ranking.nulls,
      edges: ranking.edges,
      counts: ranking.counts,
    },
    { counted: 4, nulls: 1, edges: [-0.05, 0], counts: [1, 2, 1] },
  );
  assert.deepEqual(ranking.top.map((r) => r.id), [1n, 5n, 3n]);

  // An hour after the first batch, its rows leave the top; the counts stay.
  now += 31 * 60_000;
  ranking = summary.snapshot("p").ranking!;
  assert.deepEqual(ranking.top.map((r) => r.id), [5n, 4n]);
  assert.equal(ranking.counted, 4);

  const descending = new SummaryAccumulator({ score: "float64" }, {
    recentRows: 1,
    ranking: { column: "score", order: "descending", bins: [], top: 1 },
  });
  descending.add([{ id: 1n, score: 1 }, { id: 2n, score: 3 }, { id: 3n, score: 2 }]);
  assert.deepEqual(descending.snapshot("q").ranking!.top.map((r) => r.id), [2n]);
  assert.equal(new SummaryAccumulator({}, { recentRows: 1 }).snapshot("r").ranking, undefined);
});
