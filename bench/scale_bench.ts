/**
 * `deno task bench scale`: several archive nodes in one consumer group on one
 * archive root, as docs/scale-out.md runs them (real `main.ts start archive`
 * processes, the embedded broker in this process, 8 partitions of real ZTF
 * alerts: the 2020-01-01 night the archive benchmark drains, cycled).
 *
 * - Throughput with 1, 2 and 3 nodes: a backlog is put in the broker, the
 *   nodes drain it; measured from the moment the group is stable with every
 *   node in it until the ledger has committed the whole backlog, plus the CPU
 *   time the nodes spent per 1,000 alerts (which the machine's load does not
 *   change much).
 * - Failover: 3 nodes archive a live stream; one is killed with SIGKILL; for
 *   each of its partitions, the time until another node commits a batch of it
 *   (the ledger's record says when and who), with the stages on the way (the
 *   coordinator drops the member, the group settles). Goal: under 10 s with the
 *   default group timeouts, which the result names.
 *
 * On one machine the nodes share its cores: the throughput of 2 or 3 nodes
 * shows what coordination costs, not what more machines give. The load
 * average is printed with the figures.
 */
import { Kafka, logLevel } from "kafkajs";
import { KEYS } from "../core/config/keys.ts";
import { ledgerPath } from "../core/archive/file_names.ts";
import { readCommittedOffsets } from "../core/archive/reader.ts";
import { latestRecord } from "../core/storage/fenced_log.ts";
import { Cluster, type ClusterNode } from "../tests/support/cluster.ts";
import { getJson } from "../tests/support/fink_process.ts";
import { waitFor } from "../tests/support/wait.ts";
import { sharedData } from "../tests/shared_data.ts";

/** Options of {@link runScaleBench}. */
export interface ScaleBenchOptions {
  /** Copies of the night's 50 real ZTF alerts in the backlog (default 160: 8,000 alerts). */
  copies?: number;
  /** Node counts to measure (default 1, 2, 3). */
  nodes?: number[];
  /** Live stream rate during the failover measure, alerts/s (default 100). */
  liveRate?: number;
}

const PARTITIONS = 8;
const CONFIG = "[distribution]\ndefault_filters = false\n";
/** The night the archive benchmark drains too (one schema, one hour: big files). */
const NIGHT = sharedData("ztf/alerts/fink-broker-local-20200101");

/** CPU seconds (user + system, every thread) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function loadAverage(): number[] {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
}

/** The group as the coordinator describes it: its state and member ids. */
async function describe(broker: string): Promise<{ state: string; members: string[] }> {
  const admin = new Kafka({ brokers: [broker], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups: [group] } = await admin.describeGroups(["fink-cluster"]);
    return { state: group.state, members: group.members.map((m) => m.memberId) };
  } finally {
    await admin.disconnect();
  }
}

async function members(broker: string): Promise<number> {
  const group = await describe(broker);
  return group.state === "Stable" ? group.members.length : -1;
}

async function committedMessages(cluster: Cluster): Promise<number> {
  const offsets = await readCommittedOffsets(cluster.archive());
  return offsets.reduce((n, o) => n + Number(o.offset) + 1, 0);
}

/** One drain of the backlog by `count` nodes. */
async function drain(count: number, copies: number) {
  const cluster = await Cluster.start({ backend: "local", partitions: PARTITIONS, config: CONFIG });
  try {
    const sent = await cluster.stream(copies, Infinity, { folder: NIGHT });
    const total = sent.messages.reduce((a, b) => a + b, 0);
    const nodes = Array.from({ length: count }, () => cluster.spawn());
    await waitFor(
      `${count} nodes in a stable group`,
      async () => await members(cluster.broker.address) === count ? true : undefined,
    );
    const startedAt = performance.now();
    const before = await committedMessages(cluster);
    const cpuBefore = nodes.map((n) => cpuSeconds(n.child.pid));
    await cluster.archived(sent);
    const seconds = (performance.now() - startedAt) / 1000;
    const cpu = nodes.reduce((sum, n, i) => sum + cpuSeconds(n.child.pid) - cpuBefore[i], 0);
    const drained = total - before;
    return {
      nodes: count,
      alerts: drained,
      seconds: Math.round(seconds * 10) / 10,
      alertsPerSecond: Math.round(drained / seconds),
      cpuSecondsPer1000Alerts: Math.round((cpu / drained) * 1000 * 100) / 100,
      loadAverage: loadAverage(),
    };
  } finally {
    await cluster.close();
  }
}

/** The partitions a node's status says it owns. */
async function ownedBy(cluster: Cluster, node: ClusterNode): Promise<number[]> {
  const url = await cluster.api(node);
  const status = await getJson(`${url}/api/status`);
  return (status.group?.assigned ?? []).map((tp: { partition: number }) => tp.partition);
}

/** Kills one of 3 nodes archiving a live stream; how long until its partitions commit again. */
async function failover(liveRate: number) {
  const cluster = await Cluster.start({ backend: "local", partitions: PARTITIONS, config: CONFIG });
  const stop = new AbortController();
  try {
    const nodes = [cluster.spawn(), cluster.spawn(), cluster.spawn()];
    await waitFor(
      "3 nodes in a stable group",
      async () => await members(cluster.broker.address) === 3 ? true : undefined,
    );
    const streaming = cluster.stream(100_000, liveRate, { signal: stop.signal, folder: NIGHT });
    const victim = nodes[0];
    const partitions = await waitFor("the first node to own partitions", async () => {
      const owned = await ownedBy(cluster, victim);
      return owned.length > 0 ? owned : undefined;
    });
    // It must be archiving when it dies: its next commit is what the others take over.
    const storage = cluster.archive();
    await waitFor("the node to commit a batch of each of its partitions", async () => {
      for (const p of partitions) {
        const latest = await latestRecord(
          storage,
          ledgerPath({ topic: cluster.topic, partition: p }),
        );
        if (latest?.record.kind !== "commit" || latest.record.owner.pid !== victim.child.pid) {
          return undefined;
        }
      }
      return true;
    });
    const memberId = (await getJson(`${await cluster.api(victim)}/api/status`)).group.memberId;
    const killedAt = Date.now();
    cluster.signal(victim, "SIGKILL");
    // The stages: the coordinator drops the member (session timeout), the group settles
    // with the two others (rebalance), then each of them commits a batch of its new partitions.
    const stages = { droppedSeconds: 0, rebalancedSeconds: 0 };
    const watching = (async () => {
      await waitFor("the coordinator to drop the dead member", async () => {
        const group = await describe(cluster.broker.address);
        return group.members.includes(memberId) ? undefined : true;
      }, { timeoutMs: 120_000 });
      stages.droppedSeconds = (Date.now() - killedAt) / 1000;
      await waitFor(
        "the group to settle with the two others",
        async () => await members(cluster.broker.address) === 2 ? true : undefined,
        { timeoutMs: 120_000 },
      );
      stages.rebalancedSeconds = (Date.now() - killedAt) / 1000;
    })();
    const resumed = new Map<number, number>();
    await waitFor("another node to commit each of the dead node's partitions", async () => {
      for (const p of partitions) {
        if (resumed.has(p)) continue;
        const latest = await latestRecord(
          storage,
          ledgerPath({ topic: cluster.topic, partition: p }),
        );
        const record = latest?.record;
        if (record?.kind === "commit" && record.owner.pid !== victim.child.pid) {
          resumed.set(p, Date.parse(record.at) - killedAt);
        }
      }
      return resumed.size === partitions.length ? true : undefined;
    }, { timeoutMs: 120_000 });
    await watching;
    stop.abort();
    await streaming;
    const seconds = [...resumed.values()].map((ms) => Math.round(ms / 100) / 10);
    return {
      partitions,
      ...stages,
      secondsToArchiveAgain: Object.fromEntries([...resumed].map(([p, ms]) => [p, ms / 1000])),
      maxSeconds: Math.max(...seconds),
      goalSeconds: 10,
      timeouts: {
        sessionTimeoutMs: KEYS["kafka.session_timeout_ms"].default,
        heartbeatMs: KEYS["kafka.heartbeat_ms"].default,
        rebalanceTimeoutMs: KEYS["kafka.rebalance_timeout_ms"].default,
        batchMaxMs: KEYS["batch.max_ms"].default,
      },
      liveRate,
      loadAverage: loadAverage(),
    };
  } finally {
    stop.abort();
    await cluster.close();
  }
}

/** Runs the throughput and failover measures. */
export async function runScaleBench(options: ScaleBenchOptions = {}) {
  const copies = options.copies ?? 160;
  const throughput = [];
  for (const count of options.nodes ?? [1, 2, 3]) {
    console.error(`bench scale: draining with ${count} node(s) ...`);
    throughput.push(await drain(count, copies));
  }
  console.error("bench scale: failover ...");
  return { throughput, failover: await failover(options.liveRate ?? 100) };
}

if (import.meta.main) console.log(JSON.stringify(await runScaleBench(), null, 2));
