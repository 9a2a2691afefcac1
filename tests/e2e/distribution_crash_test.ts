/**
 * Exactly once on the output: `start distribute` is killed with SIGKILL 20
 * times, each time at a seeded random moment after it committed a first
 * transaction of its run (so while it still publishes), over an archive of
 * 600 real ZTF alerts in 300 batches, to a broker outside the process; after
 * a last run, a read_committed consumer (kafkajs and kcat) counts every alert
 * once.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import "../../core/source/kafkajs_timer_fix.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { kcatCount, readTopic } from "../core/distribution/subscriber.ts";
import { drain, spawnFink } from "../support/fink_process.ts";
import { archiveAlertFolder } from "../support/sky_archive.ts";
import { waitFor } from "../support/wait.ts";
import { sharedData } from "../shared_data.ts";

const KILLS = 20;
const ALERTS = 600;
const GROUP = "fink-distribution.ztf.0";
const PROGRESS = "fink_distribution_progress";

/** A small seeded generator (LCG), so a failing run can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("SIGKILL of the distribution 20 times while it publishes: a read_committed consumer sees every alert exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_distribution_crash_" });
  await archiveAlertFolder(
    join(dir, "archive"),
    "ztf",
    sharedData("ztf/alerts/fink-broker-local-20200101"),
    { alerts: ALERTS, perBatch: 2 },
  );
  const broker = await startBroker({ port: 0, dataDir: null });
  const admin = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const progress = async () => {
    const [found] = await admin.fetchOffsets({ groupId: GROUP, topics: [PROGRESS] })
      .catch(() => [undefined]);
    return Number(found?.partitions[0]?.offset ?? -1);
  };
  const config = join(dir, "fink.toml");
  await Deno.writeTextFile(
    config,
    `[distribution]\ndefault_filters = false\n\n[distribution.filters.all]\nwhere = "true"\n`,
  );
  const args = [
    "start",
    "distribute",
    `--config=${config}`,
    `--set=archive.root=${join(dir, "archive")}`,
    `--set=science.root=${join(dir, "science")}`,
    `--set=process.state_dir=${dir}/state`,
    `--set=plugins.dir=${dir}/plugins`,
    "--set=ui.port=0",
    `--set=distribution.brokers=${broker.address}`,
    "--set=distribution.poll_ms=50",
  ];
  const random = seeded(14);
  const logs: string[] = [];
  let interrupted = 0;
  try {
    for (let i = 0; i < KILLS; i++) {
      const before = await progress();
      const child = spawnFink(args);
      const draining = drain(child.stderr, logs);
      // Killed at a random moment of its work: reading, filtering, encoding, sending or
      // committing a round, once this run has committed one.
      await waitFor(
        "a transaction of this run",
        async () => await progress() > before ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, random() * 300));
      child.kill("SIGKILL");
      await child.status;
      await draining;
      if (await progress() < ALERTS) interrupted++;
    }
    const beforeLast = await kcatCount(broker.address, "fink_all_ztf");
    const child = spawnFink(args);
    const draining = drain(child.stderr, logs);
    try {
      await waitFor(
        "the progress at the archive's end",
        async () => await progress() === ALERTS ? true : undefined,
      );
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await draining;
    }
    assert.equal(
      await kcatCount(broker.address, "fink_all_ztf"),
      ALERTS,
      logs.join("").slice(-3000),
    );
    const records = await readTopic(broker.address, "fink_all_ztf", ALERTS);
    assert.equal(records.length, ALERTS);
    assert.equal(new Set(records.map((r) => String(r.kafka_offset))).size, ALERTS);
    assert.ok(
      interrupted >= KILLS / 2,
      `most kills must land while alerts remain to publish, found ${interrupted}`,
    );
    console.log(
      `${ALERTS} alerts exactly once after ${KILLS} kills (${interrupted} with alerts left to ` +
        `publish): ${beforeLast} published before the last run`,
    );
  } finally {
    await admin.disconnect();
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
