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
import { archiveFiles, query } from "../support/duckdb.ts";
import { WebHdfsTestServer } from "../support/webhdfs_server.ts";
import { readAlertIndex } from "./alert_index.ts";
import { waitFor } from "../support/wait.ts";

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

/** Only guards against a hang: a loaded machine is slow, and the test proves counts, not speed. */
const HANG_MS = 300_000;

function accounted(service: ArchiveService): number {
  return service.stats.total("archived") + service.stats.total("quarantined");
}

/** The status the API shows: whether Kafka is connected, and the current problems. */
function status(service: ArchiveService): { connected: boolean; problems: string[] } {
  const details = service.details!();
  return { connected: details.connected as boolean, problems: details.problems as string[] };
}

/** One "storage failing, retrying" log line of the archive. */
interface StorageRetry {
  op: string;
  path: string;
  attempt: number;
  delayMs: number;
  /** When the line was logged (performance.now()), i.e. just before the wait began. */
  loggedAt: number;
}

const RETRY_LINE =
  /service=archive msg="storage failing, retrying" op=(\S+) path=("(?:[^"\\]|\\.)*"|\S+) attempt=(\d+) delayMs=(\d+)/;

/** Collects the archive's retry log lines (still printing every line) until restored. */
class RetryLog {
  readonly retries: StorageRetry[] = [];
  readonly #print = console.error;

  constructor() {
    console.error = (...args: unknown[]) => {
      const match = RETRY_LINE.exec(args.map(String).join(" "));
      if (match) {
        const [, op, path, attempt, delayMs] = match;
        this.retries.push({
          op,
          path: path.startsWith('"') ? JSON.parse(path) : path,
          attempt: Number(attempt),
          delayMs: Number(delayMs),
          loggedAt: performance.now(),
        });
      }
      this.#print(...args);
    };
  }

  restore(): void {
    console.error = this.#print;
  }
}

/** Candids of the Parquet files under `dir`, read by DuckDB, sorted. */
async function archivedCandids(dir: string): Promise<string[]> {
  const rows = await query(
    `SELECT candid::VARCHAR AS candid FROM read_parquet(${await archiveFiles(
      `${dir}/*/*/*/*/*.parquet`,
    )}, union_by_name = true)`,
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
      await waitFor("the first alerts", () => accounted(service) === before.length, {
        timeoutMs: HANG_MS,
      });
      assert.equal(status(service).connected, true);
      assert.deepEqual(status(service).problems, []);

      await broker.close();
      await waitFor(
        "the status to show Kafka unreachable",
        () => status(service).connected === false && status(service).problems.length > 0,
        { timeoutMs: HANG_MS },
      );
      const down = status(service).problems.join("; ");
      assert.match(down, /kafka|broker|connect/i, down);
      assert.equal(accounted(service), before.length, "nothing appears while the broker is down");

      broker = await startBroker({ port, dataDir });
      await waitFor(
        "the archive to reconnect",
        () => status(service).connected === true && status(service).problems.length === 0,
        { timeoutMs: HANG_MS },
      );
      const after = await produceFolder(broker.address, "ztf", AFTER);
      await waitFor(
        "the alerts produced after the outage",
        () => accounted(service) === before.length + after.length,
        { timeoutMs: HANG_MS },
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
    const retryLog = new RetryLog();
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
        "the alerts written despite the 500s",
        () => accounted(service) === first.length,
        { timeoutMs: HANG_MS },
      );
      // The current problem may already be gone; the status's recent errors keep every failure.
      const failures = (service.details!().errors as { message: string }[])
        .map((e) => e.message)
        .filter((m) => m.startsWith("storage"));
      const named = (kind: string) =>
        failures.filter((m) => m.includes(`Injected ${kind} failure`));
      assert.deepEqual(
        [named("namenode").length, named("datanode").length],
        [3, 3],
        `each injected failure is shown once: ${JSON.stringify(failures)}`,
      );
      assert.equal(storageProblem(), undefined, "the problem clears once writes succeed");
      const served500 = hdfs.requests.filter((r) => r.status === 500).length;
      assert.equal(served500, 6);

      // Disk full: every datanode write is refused until the quota is lifted.
      hdfs.setSpaceQuota(1);
      const quotaFrom = retryLog.retries.length;
      /** The retries of the first write refused four times since the quota was set. */
      const refusedFourTimes = () => {
        const byWrite = Map.groupBy(
          retryLog.retries.slice(quotaFrom),
          (r) => `${r.op} ${r.path}`,
        );
        return [...byWrite.values()].find((r) => r.length >= 4);
      };
      const producing = produceFolder(broker.address, "ztf", LARGE);
      await waitFor(
        "four refused attempts of one write",
        () => refusedFourTimes() !== undefined,
        { timeoutMs: HANG_MS },
      );
      assert.match(storageProblem() ?? "", /quota/i);
      const refused = refusedFourTimes()!.slice(0, 4);
      const quotaRefusals = hdfs.requests.filter((r) => r.status === 403).length;
      assert.ok(quotaRefusals >= 4, `${quotaRefusals} writes refused for quota`);
      // Exponential backoff with equal jitter over the default 200 ms base: attempt n waits
      // within [100, 200] * 2^(n-1) ms, so each wait is at least as long as the one before.
      assert.deepEqual(refused.map((r) => r.attempt), [1, 2, 3, 4]);
      refused.forEach(({ attempt, delayMs }) => {
        const cap = 200 * 2 ** (attempt - 1);
        assert.ok(
          delayMs >= cap / 2 && delayMs <= cap,
          `attempt ${attempt} waits ${delayMs} ms, outside [${cap / 2}, ${cap}]`,
        );
      });
      // A busy machine only lengthens the gaps; 2 ms covers timer and clock rounding.
      for (let i = 1; i < refused.length; i++) {
        const gap = refused[i].loggedAt - refused[i - 1].loggedAt;
        assert.ok(
          gap >= refused[i - 1].delayMs - 2,
          `attempt ${i + 1} came ${gap.toFixed(0)} ms after attempt ${i}, ` +
            `before its ${refused[i - 1].delayMs} ms wait was over`,
        );
      }
      const second = await producing;
      assert.ok(accounted(service) < first.length + second.length, "nothing lands while full");
      hdfs.setSpaceQuota(null);
      await waitFor(
        "the alerts written once space is back",
        () => accounted(service) === first.length + second.length,
        { timeoutMs: HANG_MS },
      );
      assert.equal(storageProblem(), undefined, "the problem clears once space is back");
      await service.stop();

      assert.equal(service.stats.total("quarantined"), 0, JSON.stringify(service.stats.errors));
      const candids = await archivedCandids(hdfs.localPath("/archive/ztf"));
      assert.deepEqual(candids, [...first, ...second].sort(), "every alert archived exactly once");
      const staged = await readdir(hdfs.localPath("/archive/_staging"), { recursive: true })
        .catch(() => []);
      assert.deepEqual(staged.filter((f) => f.endsWith(".parquet")), [], "no batch half written");
    } finally {
      retryLog.restore();
      await service.stop();
      await broker.close();
      await hdfs.close();
    }
  },
});
