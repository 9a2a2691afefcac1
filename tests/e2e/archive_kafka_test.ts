/**
 * End to end over the real alerts: the embedded broker, kafkajs, the archive
 * service, the local disk, and DuckDB (a reader we did not write) reading the
 * archive back as one hive-partitioned table.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../../core/config/mod.ts";
import { type ArchiveService, createArchiveService } from "../../core/archive/service.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { listAlertFiles } from "../../core/source/files.ts";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { type IndexRow, jdHour, readAlertIndex, ZTF_FOLDERS } from "./alert_index.ts";
import { waitFor } from "../support/wait.ts";

/** Only guards against a hang: a loaded machine is slow, and the test proves counts, not speed. */
const HANG_MS = 300_000;
const RUBIN_FOLDERS: [string, string][] = [
  ["rubin/alerts/fink-broker-lsstcam-v9.0-20250905", "rubin_fink-broker-lsstcam-v9.0-20250905.csv"],
  ["rubin/alerts/fink-broker-v7.4-fink-annotated", "rubin_fink-broker-v7.4-fink-annotated.csv"],
];

async function produceFolders(
  kafka: Kafka,
  topic: string,
  folders: [string, string][],
): Promise<{ messages: number; index: IndexRow[] }> {
  const producer = kafka.producer();
  await producer.connect();
  let messages = 0;
  const index: IndexRow[] = [];
  for (const [folder, csv] of folders) {
    const files = await listAlertFiles(sharedData(folder));
    const values = await Promise.all(files.map((f) => Deno.readFile(f)));
    for (let i = 0; i < values.length; i += 50) {
      await producer.send({
        topic,
        acks: -1,
        // kafkajs encodes Node Buffers only (a plain Uint8Array is written wrongly).
        messages: values.slice(i, i + 50).map((value, j) => ({
          key: String(i + j),
          value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
        })),
      });
    }
    messages += files.length;
    index.push(...await readAlertIndex(csv));
  }
  await producer.disconnect();
  return { messages, index };
}

/** Waits (bounded) until the archive has accounted for `rows` alerts. */
async function archived(service: ArchiveService, rows: number): Promise<void> {
  const accounted = () => service.stats.total("archived") + service.stats.total("quarantined");
  await waitFor(`${rows} rows archived`, () => accounted() >= rows, { timeoutMs: HANG_MS })
    .catch((e) => {
      throw new Error(`${e.message}: the archive reached ${accounted()}`);
    });
}

function sortedCounts(values: string[]): [string, number][] {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m].sort(([a], [b]) => a.localeCompare(b));
}

Deno.test({
  name: "real ZTF and Rubin alerts go through Kafka into hourly Parquet that DuckDB reads back",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "fink-e2e-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: "ztf", numPartitions: 4 }, { topic: "rubin", numPartitions: 2 }],
    });
    await admin.disconnect();
    const ztf = await produceFolders(kafka, "ztf", [...ZTF_FOLDERS]);
    const rubin = await produceFolders(kafka, "rubin", RUBIN_FOLDERS);
    const config = await loadConfig({
      file: null,
      env: {},
      sets: [
        `kafka.brokers=${broker.address}`,
        "kafka.topics=ztf,rubin",
        "kafka.group=e2e",
        `archive.root=${root}`,
        "archive.layout=hive",
        "batch.max_ms=100",
      ],
    });
    const service = createArchiveService(config);
    try {
      await service.start();
      await archived(service, ztf.index.length + rubin.index.length);
      await service.stop();
      assert.equal(service.stats.total("quarantined"), 0, JSON.stringify(service.stats.errors));
      assert.equal(service.stats.total("received"), ztf.messages + rubin.messages);

      const rows = await query(`
        SELECT candid::VARCHAR AS candid, objectId, candidate.jd AS jd, candidate.ra AS ra,
               candidate.dec AS dec, candidate.magpsf AS magpsf, year, month, day, hour,
               kafka_topic, kafka_partition, kafka_offset
        FROM read_parquet(${await archiveFiles(`${join(root, "ztf")}/*/*/*/*/*.parquet`)},
                          hive_partitioning = true, union_by_name = true)`);
      assert.equal(rows.length, ztf.index.length, "every ZTF alert archived once");
      assert.deepEqual(
        sortedCounts(rows.map((r) => String(r.candid))),
        sortedCounts(ztf.index.map((r) => r.candid)),
        "the same candids, exactly (64-bit), as the reference decoder read",
      );
      const byCandid = new Map(rows.map((r) => [String(r.candid), r]));
      for (const expected of ztf.index) {
        const row = byCandid.get(expected.candid)!;
        assert.equal(row.objectId, expected.objectId);
        assert.equal(row.jd, Number(expected.jd));
        assert.equal(row.ra, Number(expected.ra));
        assert.equal(row.dec, Number(expected.dec));
        assert.equal(row.magpsf, Math.fround(Number(expected.magpsf)));
        const hour = `${row.year}/${String(row.month).padStart(2, "0")}/${
          String(row.day).padStart(2, "0")
        }/${String(row.hour).padStart(2, "0")}`;
        assert.equal(hour, jdHour(Number(expected.jd)), `partition of candid ${expected.candid}`);
        assert.equal(row.kafka_topic, "ztf");
      }

      const rubinRows = await query(`
        SELECT diaSource.diaSourceId::VARCHAR AS id, diaSource.midpointMjdTai AS mjd, year, day, hour
        FROM read_parquet(${await archiveFiles(`${join(root, "rubin")}/*/*/*/*/*.parquet`)},
                          hive_partitioning = true, union_by_name = true)`);
      assert.deepEqual(
        sortedCounts(rubinRows.map((r) => String(r.id))),
        sortedCounts(rubin.index.map((r) => r.diaSourceId)),
      );
      for (const r of rubinRows) {
        const utc = new Date((Number(r.mjd) - 40587) * 86_400_000 - 37_000);
        assert.equal(Number(r.hour), utc.getUTCHours());
        assert.equal(Number(r.day), utc.getUTCDate());
      }

      // A replay (a new group starts from the earliest offset) adds nothing.
      const replay = createArchiveService(
        await loadConfig({
          file: null,
          env: {},
          sets: [
            `kafka.brokers=${broker.address}`,
            "kafka.topics=ztf,rubin",
            "kafka.group=e2e-replay",
            `archive.root=${root}`,
            "archive.layout=hive",
            "batch.max_ms=100",
          ],
        }),
      );
      await replay.start();
      await waitFor(
        "the replay to catch up",
        () =>
          replay.stats.partitions.size >= 6 &&
          [...replay.stats.partitions.values()].every((p) => p.lag !== null && p.lag <= 0),
        { timeoutMs: HANG_MS },
      );
      await replay.stop();
      assert.equal(replay.stats.total("archived"), 0, "nothing archived twice");
      const again = await query(
        `SELECT count(*)::INTEGER AS n
         FROM read_parquet(${await archiveFiles(`${root}/ztf/*/*/*/*/*.parquet`)})`,
      );
      assert.equal(again[0].n, ztf.index.length);
    } finally {
      await broker.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
