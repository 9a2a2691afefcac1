import assert from "node:assert/strict";
import { ArchiveStats } from "../../../core/archive/stats.ts";
import { ProgressStore } from "../../../core/plugins/progress.ts";
import {
  filesJobSummary,
  formatSummary,
  type PluginJobDetails,
  waitForStreamPlugins,
} from "../../../core/process/files_job.ts";
import type { ServiceStatus } from "../../../core/services/service.ts";
import { openStorage } from "../../../core/storage/mod.ts";
import { waitFor } from "../../support/wait.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";

function plugin(
  name: string,
  state: ServiceStatus["state"],
  details: Partial<PluginJobDetails> = {},
): ServiceStatus<PluginJobDetails> {
  return {
    name,
    kind: "plugin",
    description: name,
    state,
    details: { kind: "stream", rows: 0, errors: 0, lastError: null, ...details },
  };
}

Deno.test("a files job waits for running stream plugins' progress, then names failures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const stats = new ArchiveStats();
    const counts = stats.partition({ topic: "files", partition: 0 });
    counts.archived = 70;
    counts.quarantined = 1;
    counts.committedOffset = "70";
    const progress = new ProgressStore(openStorage(dir));
    await progress.markStarted("classify", new TopicPartitionMap());
    const session = await progress.acquire("classify", { topic: "files", partition: 0 }, 0n);
    await session.commit(40n);
    const services = [
      plugin("classify", "running", { rows: 70 }),
      plugin("broken", "failed", { lastError: "boom" }),
      plugin("batchy", "running", { kind: "batch" }),
    ];
    services[1].error = "plugin broken: boom";
    const inputs = { stats, progress, plugins: () => services };

    const reports: string[] = [];
    let done = false;
    const waiting = waitForStreamPlugins(inputs, {
      pollMs: 5,
      reportMs: 0,
      report: (line) => reports.push(line),
    }).then(() => done = true);
    // The first report comes after a full round over the plugins that found one behind.
    await waitFor("the first report", () => reports.length > 0, { everyMs: 5 });
    assert.equal(done, false, "classify is 31 alerts behind");
    assert.match(reports[0], /classify 31 alerts behind/);
    await session.commit(71n);
    await waiting;

    const summary = await filesJobSummary("files:x", inputs);
    assert.deepEqual(formatSummary(summary), [
      "files:x: 70 alerts archived, 1 quarantined",
      "  classify: 70 results",
      "  broken: 0 results; failed: plugin broken: boom",
      "failures: broken",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
