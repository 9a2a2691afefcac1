/**
 * The scale-out chaos run, on a local root or on the WebHDFS test server (one
 * test file each, so the two run side by side): three broker nodes in one
 * consumer group over 8 partitions archive real ZTF alerts streaming in while
 * nodes join, leave and are SIGKILLed at seeded moments, 20 times; then every
 * alert is archived exactly once, every stream plugin result exists exactly
 * once, and a read_committed consumer of the distribution's topic counts
 * every passing alert exactly once. Before the chaos, each node's
 * `/api/status` names the partitions it owns and one node's `/api/group`
 * shows all three, as Kafka describes them.
 *
 * `FINK_CHAOS_SEED=<n>` replays a run (the seed is printed, and named in any failure).
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { SeededRandom } from "../../simulator/alerts/random.ts";
import { ProgressStore } from "../../core/plugins/progress.ts";
import { openStorage } from "../../core/storage/mod.ts";
import {
  type Backend,
  Cluster,
  type ClusterNode,
  type Sent,
  TAGGER_PLUGIN,
} from "../support/cluster.ts";
import { query } from "../support/duckdb.ts";
import { getJson } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";
import { kcatCount, readTopic } from "../core/distribution/subscriber.ts";

const EVENTS = 20;
/** Copies of the 253 shared ZTF alerts streamed in (copy k of file i to partition (i+k) % 8). */
const COPIES = 2;
const PARTITIONS = 8;
const PER_SECOND = 12;
/** The filter the distribution publishes; the same predicate counts what it owes. */
const PASSES = "candidate.magpsf < 18";
const OUT_TOPIC = "fink_bright_ztf";

const CONFIG = `[distribution]
default_filters = false

[distribution.filters.bright]
where = "${PASSES}"
`;

/** Runs the chaos test on `backend`. */
export async function chaosRun(backend: Backend): Promise<void> {
  const seed = Number(Deno.env.get("FINK_CHAOS_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  console.error(`scale-out chaos (${backend}): FINK_CHAOS_SEED=${seed}`);
  const random = new SeededRandom(seed);
  const cluster = await Cluster.start({
    backend,
    partitions: PARTITIONS,
    plugins: { tagger: TAGGER_PLUGIN },
    config: CONFIG,
    settings: {
      "batch.max_alerts": 50,
      "batch.max_ms": 300,
      "plugins.stop_wait_s": 2,
    },
  });
  const events: string[] = [];
  const began = Date.now();
  // Where the time goes, for a run on a slow machine.
  const phase = (what: string) =>
    console.error(`scale-out chaos (${backend}): ${what} after ${(Date.now() - began) / 1000} s`);
  try {
    const nodes = [cluster.spawn(), cluster.spawn(), cluster.spawn()];
    await checkGroupStatus(cluster, nodes);
    phase("three nodes settled");
    const streaming = cluster.stream(COPIES, PER_SECOND);
    for (let i = 0; i < EVENTS; i++) {
      // The moment of the event, not a synchronisation: where the work stands when it comes.
      await new Promise((r) => setTimeout(r, random.uniform(500, 3000)));
      const alive = cluster.running();
      const choices = [
        ...(alive.length < 3 ? ["join"] : []),
        ...(alive.length > 1 ? ["leave", "kill"] : []),
      ];
      const action = choices[random.int(choices.length)];
      if (action === "join") {
        events.push(`join ${cluster.spawn().name}`);
        continue;
      }
      const node = alive[random.int(alive.length)];
      events.push(`${action} ${node.name}`);
      if (action === "kill") cluster.signal(node, "SIGKILL");
      else await cluster.leave(node);
    }
    const sent = await streaming;
    phase(`${EVENTS} events and every alert sent`);
    // Nodes asked to leave are still running until they have: they do not count.
    while (cluster.running().filter((n) => !n.leaving).length < 2) cluster.spawn();
    for (const kind of ["join", "leave", "kill"]) {
      assert.ok(events.some((e) => e.startsWith(kind)), `no ${kind} among ${events.join(", ")}`);
    }

    await cluster.archived(sent);
    phase("every alert archived");
    // Results and distribution caught up everywhere; then the nodes stop, so that no
    // compaction moves files while they are counted.
    const progress = new ProgressStore(openStorage(cluster.scienceRoot));
    await waitFor("the plugin's results for every archived alert", async () => {
      const next = await progress.streamProgress("tagger");
      const done = sent.messages.every((n, p) =>
        (next?.get({ topic: cluster.topic, partition: p }) ?? 0n) >= BigInt(n)
      );
      return done ? true : undefined;
    }, { timeoutMs: 600_000 });
    phase("every result written");
    await distributed(cluster, sent);
    phase("every passing alert distributed");
    await cluster.stopAll();

    const archive = await cluster.archivedOnce(sent, PASSES);

    // Every archived alert has exactly one result of the stream plugin.
    const results = await query(`
      select id::varchar id, count(*)::int n,
             string_agg(regexp_extract(filename, '[^/]+$'), ' ') files
      from read_parquet('${cluster.scienceDir}/tagger/**/*.parquet', filename = true)
      group by id`) as { id: string; n: number; files: string }[];
    const owed = new Map<string, string[]>();
    for (const r of archive) owed.set(r.id, [...owed.get(r.id) ?? [], `${r.p}/${r.o}`]);
    const got = new Map(results.map((r) => [r.id, r]));
    const wrong = [...new Set([...owed.keys(), ...got.keys()])]
      .filter((id) => (owed.get(id)?.length ?? 0) !== (got.get(id)?.n ?? 0))
      .map((id) =>
        `${id}: archived at ${owed.get(id)?.join(" ") ?? "none"}, results ${got.get(id)?.n ?? 0} (${
          got.get(id)?.files ?? "no file"
        })`
      );
    assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} alerts' results differ`);

    // A read_committed consumer of the distribution's topic sees every passing alert once.
    const passing = archive.filter((r) => r.passes);
    const records = await readTopic(cluster.broker.address, OUT_TOPIC, passing.length);
    const seen = records.map((r) => `${r.kafka_partition}/${r.kafka_offset}/${r.candid}`);
    assert.equal(new Set(seen).size, seen.length, "a passing alert was published twice");
    assert.deepEqual(seen.sort(), passing.map((r) => `${r.p}/${r.o}/${r.id}`).sort());
    assert.equal(
      await kcatCount(cluster.broker.address, OUT_TOPIC, { partitions: "all" }),
      passing.length,
    );
  } catch (error) {
    const logs = cluster.logs();
    throw new Error(
      `${(error as Error).message}\n(replay with FINK_CHAOS_SEED=${seed}; events: ${
        events.join(", ")
      })\n${logs}`,
      { cause: error },
    );
  } finally {
    await cluster.close();
  }
}

/**
 * Once the three nodes settled: the partitions each node's `/api/status` says it owns are
 * disjoint and cover the topic, and one node's `/api/group` shows the three members holding
 * exactly those, itself marked.
 */
async function checkGroupStatus(cluster: Cluster, nodes: ClusterNode[]): Promise<void> {
  const urls = await Promise.all(nodes.map((n) => cluster.api(n)));
  assert.ok(urls.every((u) => u !== null), "a node exited at start");
  // Rebalances go on while the nodes start: what is compared is the settled state.
  let last = "";
  await waitFor("each node's status to agree with Kafka's group description", async () => {
    const statuses = await Promise.all(urls.map((u) => getJson(`${u}/api/status`)));
    const view = await getJson(`${urls[0]}/api/group`);
    const byMember = new Map<string, number[]>(
      view.members.map((m: any) => [m.memberId, m.partitions.map((p: any) => p.partition)]),
    );
    const owned = statuses.map((s) => (s.group?.assigned ?? []).map((tp: any) => tp.partition));
    const self = view.members.filter((m: any) => m.self).map((m: any) => m.clientId);
    last = JSON.stringify({ state: view.state, owned, described: [...byMember.values()], self });
    const agree = view.state === "Stable" && view.members.length === 3 &&
      statuses.every((s, i) => byMember.get(s.group?.memberId)?.join() === owned[i].join()) &&
      owned.flat().sort().join() === "0,1,2,3,4,5,6,7" && self.join() === nodes[0].name;
    return agree ? true : undefined;
  }).catch((error) => {
    throw new Error(`${(error as Error).message}; last seen: ${last}`);
  });
}

/** Waits until the distribution's progress (in Kafka, per source partition) reached the end. */
async function distributed(cluster: Cluster, sent: Sent): Promise<void> {
  const admin = new Kafka({ brokers: [cluster.broker.address], logLevel: logLevel.NOTHING })
    .admin();
  await admin.connect();
  try {
    await waitFor("the distribution to publish every partition", async () => {
      for (const [p, n] of sent.messages.entries()) {
        const [found] = await admin.fetchOffsets({
          groupId: `fink-distribution.${cluster.topic}.${p}`,
          topics: ["fink_distribution_progress"],
        }).catch(() => [undefined]);
        const offset = found?.partitions.find((x) => x.partition === 0)?.offset ?? "-1";
        if (Number(offset) < n) return undefined;
      }
      return true;
    }, { timeoutMs: 600_000 });
  } finally {
    await admin.disconnect();
  }
}
