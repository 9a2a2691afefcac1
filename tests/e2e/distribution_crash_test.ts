/**
 * Exactly once on the output: `start distribute` is killed with SIGKILL at
 * 20 seeded random moments while it publishes a real archive (25 batches of
 * real ZTF alerts) to a broker outside the process; after a last run, a
 * read_committed consumer (kafkajs and kcat) counts every alert once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { startBroker } from "../../simulator/broker/mod.ts";
import { archiveFixture } from "../core/distribution/archive_fixture.ts";
import { kcatCount, readTopic } from "../core/distribution/subscriber.ts";
import { drain, spawnFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const KILLS = 20;

/** A small seeded generator (LCG), so a failing run can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("SIGKILL of the distribution 20 times: a read_committed consumer sees every alert exactly once", async () => {
  const fixture = await archiveFixture();
  const dir = await Deno.makeTempDir({ prefix: "fink_distribution_crash_" });
  const broker = await startBroker({ port: 0, dataDir: null });
  const config = join(dir, "fink.toml");
  await Deno.writeTextFile(
    config,
    `[distribution]\ndefault_filters = false\n\n[distribution.filters.all]\nwhere = "true"\n`,
  );
  const args = [
    "start",
    "distribute",
    `--config=${config}`,
    `--set=archive.root=${join(fixture, "archive")}`,
    `--set=science.root=${join(fixture, "science")}`,
    `--set=process.state_dir=${dir}/state`,
    `--set=plugins.dir=${dir}/plugins`,
    "--set=ui.port=0",
    `--set=distribution.brokers=${broker.address}`,
    "--set=distribution.poll_ms=50",
  ];
  const random = seeded(14);
  const logs: string[] = [];
  try {
    for (let i = 0; i < KILLS; i++) {
      const child = spawnFink(args);
      const draining = drain(child.stderr, logs);
      // Killed at a random moment of its work: reading, encoding, sending or committing a round
      // (the first round of a run takes seconds on a loaded machine, later ones about one).
      const started = i + 1;
      await waitFor("the distribution to start", () =>
        Promise.resolve(
          (logs.join("").match(/distribution started/g)?.length ?? 0) >= started ? true : undefined,
        ), { timeoutMs: 120_000 });
      await new Promise((r) => setTimeout(r, random() * 8000));
      child.kill("SIGKILL");
      await child.status;
      await draining;
    }
    const beforeLast = await kcatCount(broker.address, "fink_all_ztf").catch(() => 0);
    const child = spawnFink(args);
    const draining = drain(child.stderr, logs);
    try {
      await waitFor(
        "every alert published",
        async () => await kcatCount(broker.address, "fink_all_ztf") >= 50 ? true : undefined,
        { timeoutMs: 120_000 },
      );
      const admin = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await waitFor("the progress at the archive's end", async () => {
        const [found] = await admin.fetchOffsets({
          groupId: "fink-distribution.files.0",
          topics: ["fink_distribution_progress"],
        });
        return found.partitions[0].offset === "50" ? true : undefined;
      });
      await admin.disconnect();
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await draining;
    }
    assert.equal(await kcatCount(broker.address, "fink_all_ztf"), 50, logs.join("").slice(-3000));
    const records = await readTopic(broker.address, "fink_all_ztf", 50);
    assert.equal(new Set(records.map((r) => String(r.candid))).size, 50);
    const aborted = logs.join("").match(/distribution round failed/g)?.length ?? 0;
    assert.ok(beforeLast > 0, "some rounds were committed between kills");
    console.log(
      `50 alerts exactly once after ${KILLS} kills: ${beforeLast} published before the last run, ` +
        `${aborted} failed rounds retried`,
    );
  } finally {
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
