import assert from "node:assert/strict";
import { ArchiveStats } from "../../../core/archive/stats.ts";
import { loadConfig } from "../../../core/config/mod.ts";
import { Histogram, SHORT_SECONDS } from "../../../core/histogram.ts";
import {
  classifierOf,
  figuresOf,
  type FigureSources,
  type PluginFigureSource,
} from "../../../core/metrics/figures.ts";
import { SummaryAccumulator } from "../../../core/plugins/summary.ts";
import type { ServiceStatus } from "../../../core/services/service.ts";

function plugin(name: string, rows: { id: bigint; [column: string]: string | bigint }[]) {
  const outputs = Object.fromEntries(
    Object.keys(rows[0]).filter((c) => c !== "id").map((c) => [c, "string" as const]),
  );
  const summary = new SummaryAccumulator(outputs, { recentRows: 5 });
  summary.add(rows);
  const details: PluginFigureSource = {
    name,
    state: "running",
    permissions: {},
    batches: 1,
    rows: rows.length,
    errors: 0,
    lastError: null,
    avgMsPerBatch: 1,
    batchSeconds: new Histogram(SHORT_SECONDS).snapshot(),
    restarts: 0,
    summary: summary.snapshot(name),
  };
  const status: ServiceStatus = { name, kind: "plugin", description: name, state: "running" };
  return { details, status };
}

function sources(stats: ArchiveStats): FigureSources {
  const classify = plugin("classify", [{ id: 1n, class: "RRLyr" }, { id: 2n, class: "RRLyr" }]);
  const tagger = plugin("tagger", [{ id: 1n, kind: "asteroid" }, { id: 3n, kind: "star" }]);
  const archive: ServiceStatus = {
    name: "archive",
    kind: "builtin",
    description: "archive",
    state: "running",
  };
  return {
    services: [archive, classify.status, tagger.status],
    archive: {
      source: "test",
      storage: "/archive",
      connected: true,
      storageProblem: null,
      problems: [],
      ...stats.figures(0),
    },
    plugins: [classify.details, tagger.details],
  };
}

Deno.test("which plugin and column feed the class counts is configuration", async () => {
  const stats = new ArchiveStats();
  const config = await loadConfig({
    file: null,
    env: {},
    sets: ["classification.plugin=tagger", "classification.column=kind"],
  });
  const classifier = classifierOf(config);
  assert.deepEqual(classifier, { plugin: "tagger", column: "kind" });
  const figures = figuresOf(sources(stats), { classifier });
  assert.equal(figures.classes?.plugin, "tagger");
  assert.deepEqual(figures.classes?.counts, { asteroid: 1, star: 1 });
  assert.deepEqual(figures.classes?.recent.map((r) => r.id), [3n, 1n], "newest first");
  const defaults = figuresOf(sources(stats));
  assert.deepEqual(defaults.classes?.counts, { RRLyr: 2 });
});

Deno.test("figures are a copy of the archive's counts at the instant they were read", () => {
  const stats = new ArchiveStats();
  const counts = stats.partition({ topic: "ztf", partition: 0 });
  counts.received = 10;
  counts.archived = 7;
  counts.inFlight = 3;
  counts.lag = 4;
  stats.addFile("ztf", "2020/01/01/13", 7, 700);
  const figures = figuresOf(sources(stats));
  counts.received = 20;
  stats.addFile("ztf", "2020/01/01/13", 1, 100);
  assert.equal(figures.partitions[0].received, 10);
  assert.equal(figures.totals.received, 10);
  assert.equal(figures.hours[0].alerts, 7);
  assert.equal(figures.lag, 4);
  assert.deepEqual(figures.plugins.map((p) => [p.name, p.rows]), [["classify", 2], ["tagger", 2]]);
});
