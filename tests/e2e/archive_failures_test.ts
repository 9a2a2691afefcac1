/**
 * The archive through outages: the Kafka broker going away and coming back on the
 * same port and data, and a WebHDFS archive root answering 500s and then running out
 * of quota while real alerts flow. The status names the problem while it lasts, and
 * in the end every alert is archived exactly once.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../../core/config/mod.ts";
import { type ArchiveService, createArchiveService } from "../../core/archive/service.ts";
import { listAlertFiles } from "../../core/source/files.ts";
import { type Broker, startBroker } from "../../simulator/broker/mod.ts";
import { sharedData } from "../shared_data.ts";
import { query } from "../support/duckdb.ts";
import { WebHdfsTestServer } from "../support/webhdfs_server.ts";
import { readAlertIndex } from "./alert_index.ts";

/** Real ZTF alert folders and their reference index. */
const BEFORE: [string, string] = [
  "ztf/alerts/fink-broker-local-20200101",
  "ztf_fink-broker-local-20200101.csv",
];
const AFTER: [string, string] = [
  "ztf/alerts/fink-alert-simulator-v3.1-20181129",
  "ztf_fink-alert-simulator-v3.1-20181129.csv",
];
const LARGE: [string, string] = [
  "ztf/alerts/fink-broker-all-distribute-20231018",
  "ztf_fink-broker-all-distribute-20231018.csv",
];

/** Produces every alert file of a folder (10 per request); returns their candids. */
async function produceFolder(
  brokerAddress: string,
  topic: string,
  [folder, csv]: [string, string],
): Promise<string[]> {
  const kafka = new Kafka({ brokers: [brokerAddress], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    const files = await listAlertFiles(sharedData(folder));
    for (let i = 0; i < files.length; i += 10) {
      const values = await Promise.all(files.slice(i, i + 10).map((f) => Deno.readFile(f)));
      await producer.send({
        topic,
        acks: -1,
        // kafkajs encodes Node Buffers only (a plain Uint8Array is written wrongly).
        messages: values.map((v, j) => ({
          key: String(i + j),
          value: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
        })),
      });
    }
    const index = await readAlertIndex(csv);
    assert.equal(index.length, files.length, `one alert per file in ${folder}`);
    return index.map((r) => r.candid);
  } finally {
    await producer.disconnect();
  }
}

async function createTopic(brokerAddress: string, topic: string, partitions: number) {
  const admin = new Kafka({ brokers: [brokerAddress], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
  await admin.disconnect();
}

/** Bounded poll of an observable condition. */
async function waitFor(what: string, ms: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function accounted(service: ArchiveService): number {
  return service.stats.total("archived") + service.stats.total("quarantined");
}

/** The status the API shows: whether Kafka is connected, and the current problems. */
function status(service: ArchiveService): { connected: boolean; problems: string[] } {
  const details = service.details!();
  return { connected: details.connected as boolean, problems: details.problems as string[] };
}

/** Candids of the Parquet files under `dir`, read by DuckDB, sorted. */
async function archivedCandids(dir: string): Promise<string[]> {
  const rows = await query(
    `SELECT candid::VARCHAR AS candid FROM read_parquet('${dir}/**/*.parquet', union_by_name = true)`,
  );
  return rows.map((r) => String(r.candid)).sort();
}

async function archiveConfig(brokerAddress: string, root: string, group: string) {
  return await loadConfig({
    file: null,
    env: {},
    sets: [
      `kafka.brokers=${brokerAddress}`,
      "kafka.topics=ztf",
      `kafka.group=${group}`,
      `archive.root=${root}`,
      "batch.max_ms=100",
      "batch.max_alerts=20",
    ],
  });
}

Deno.test({
  name: "a broker outage shows in the status and loses or repeats no alert once it is back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "fink-broker-down-" });
    const dataDir = await Deno.makeTempDir({ prefix: "fink-broker-data-" });
    let broker: Broker = await startBroker({ port: 0, dataDir });
    const port = broker.port;
    await createTopic(broker.address, "ztf", 3);
    const service = createArchiveService(await archiveConfig(broker.address, root, "outage"));
    try {
      await service.start();
      const before = await produceFolder(broker.address, "ztf", BEFORE);
      await waitFor("the first alerts", 30_000, () => accounted(service) === before.length);
      assert.equal(status(service).connected, true);
      assert.deepEqual(status(service).problems, []);

      await broker.close();
      await waitFor(
        "the status to show Kafka unreachable",
        30_000,
        () => status(service).connected === false && status(service).problems.length > 0,
      );
      const down = status(service).problems.join("; ");
      assert.match(down, /kafka|broker|connect/i, down);
      assert.equal(accounted(service), before.length, "nothing appears while the broker is down");

      broker = await startBroker({ port, dataDir });
      await waitFor(
        "the archive to reconnect",
        30_000,
        () => status(service).connected === true && status(service).problems.length === 0,
      );
      const after = await produceFolder(broker.address, "ztf", AFTER);
      await waitFor(
        "the alerts produced after the outage",
        30_000,
        () => accounted(service) === before.length + after.length,
      );
      await service.stop();
      assert.equal(service.stats.total("quarantined"), 0, JSON.stringify(service.stats.errors));
      assert.deepEqual(await archivedCandids(join(root, "ztf")), [...before, ...after].sort());
    } finally {
      await service.stop();
      await broker.close();
      await Deno.remove(root, { recursive: true });
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a failing and then full WebHDFS is retried with backoff, shown, and loses no alert",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hdfs = await WebHdfsTestServer.start();
    const broker = await startBroker({ port: 0, dataDir: null });
    await createTopic(broker.address, "ztf", 2);
    const service = createArchiveService(
      await archiveConfig(broker.address, hdfs.url("/archive"), "hdfs-faults"),
    );
    const storageProblem = () => status(service).problems.find((p) => p.startsWith("storage"));
    try {
      await service.start();

      // Server errors: the next requests, whatever they are, answer 500.
      hdfs.failNext(3, { status: 500, message: "Injected namenode failure" });
      hdfs.failNext(3, {
        ops: ["CREATE"],
        stage: "datanode",
        message: "Injected datanode failure",
      });
      const first = await produceFolder(broker.address, "ztf", BEFORE);
      await waitFor(
        "the status to name the failing storage",
        20_000,
        () => storageProblem() !== undefined,
      );
      assert.match(storageProblem()!, /Injected (namenode|datanode) failure/);
      await waitFor(
        "the alerts written despite the 500s",
        30_000,
        () => accounted(service) === first.length,
      );
      assert.equal(storageProblem(), undefined, "the problem clears once writes succeed");
      const served500 = hdfs.requests.filter((r) => r.status === 500).length;
      assert.equal(served500, 6);

      // Disk full: every datanode write is refused until the quota is lifted.
      hdfs.setSpaceQuota(1);
      const quotaFrom = hdfs.requests.length;
      /** When each request since the quota was first seen (polled every 10 ms). */
      const seenAt: number[] = [];
      const stamp = () => {
        while (seenAt.length < hdfs.requests.length - quotaFrom) seenAt.push(Date.now());
      };
      const refusedTimes = () => {
        const times = new Map<string, number[]>();
        hdfs.requests.slice(quotaFrom, quotaFrom + seenAt.length).forEach((r, i) => {
          if (r.status === 403) times.set(r.path, [...times.get(r.path) ?? [], seenAt[i]]);
        });
        return [...times.values()];
      };
      const producing = produceFolder(broker.address, "ztf", LARGE);
      await waitFor("four refused attempts of one write", 20_000, () => {
        stamp();
        return refusedTimes().some((t) => t.length >= 4);
      });
      assert.match(storageProblem() ?? "", /quota/i);
      // Backoff: each attempt waits longer than the one before (100-200 ms, then 400-800 ms).
      const [t0, t1, t2, t3] = refusedTimes().find((t) => t.length >= 4)!;
      assert.ok(
        t1 - t0 >= 80 && t3 - t2 > t1 - t0 + 100,
        `refused attempts at +0, +${t1 - t0}, +${t2 - t0}, +${t3 - t0} ms do not back off`,
      );
      const second = await producing;
      assert.ok(accounted(service) < first.length + second.length, "nothing lands while full");
      hdfs.setSpaceQuota(null);
      await waitFor(
        "the alerts written once space is back",
        40_000,
        () => accounted(service) === first.length + second.length,
      );
      assert.equal(storageProblem(), undefined, "the problem clears once space is back");
      await service.stop();

      assert.equal(service.stats.total("quarantined"), 0, JSON.stringify(service.stats.errors));
      const candids = await archivedCandids(hdfs.localPath("/archive/ztf"));
      assert.deepEqual(candids, [...first, ...second].sort(), "every alert archived exactly once");
      const wal = await readdir(hdfs.localPath("/archive/_wal"), { recursive: true });
      assert.deepEqual(wal.filter((f) => f.endsWith(".json")), [], "no batch left half written");
    } finally {
      await service.stop();
      await broker.close();
      await hdfs.close();
    }
  },
});
