/**
 * Late data end to end: three past nights of alerts wait in Kafka (one topic per
 * night, as ZTF publishes them) when the archive starts, and tonight's stream keeps
 * flowing while the archive drains that backlog. Tonight's alerts must not queue
 * behind the backlog (they are archived, one after another, before its last alert), no partition may starve, late alerts go to their own past hour
 * folders, and DuckDB finds every alert exactly once.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../../core/config/mod.ts";
import { type ArchiveService, createArchiveService } from "../../core/archive/service.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { AlertGenerator } from "../../simulator/alerts/generator.ts";
import { createEncoder } from "../../simulator/replayer/encodings.ts";
import { replay } from "../../simulator/replayer/mod.ts";
import { sharedData } from "../shared_data.ts";
import { archiveFiles, query } from "../support/duckdb.ts";
import { jdHour, readAlertIndex } from "./alert_index.ts";
import { waitFor } from "../support/wait.ts";

const DAY_MS = 86_400_000;
const JD_UNIX_EPOCH = 2440587.5;
const PARTITIONS = 3;
/** Synthetic alerts per past night (about 36 kB each, cutouts included). */
const BACKLOG_PER_NIGHT = 1500;
/** Real ZTF alerts added to the oldest night, their event times moved back as well. */
const REAL_FOLDER = "ztf/alerts/fink-broker-all-distribute-20231018";
const REAL_INDEX = "ztf_fink-broker-all-distribute-20231018.csv";
const REAL_LATE_DAYS = 3;
/** Only guards against a hang; the test proves order, never speed. */
const HANG_MS = 600_000;

/** `ztf_YYYYMMDD_programid1`, the ZTF topic of the night `daysAgo` nights back. */
function nightTopic(daysAgo: number): string {
  const d = new Date(Date.now() - daysAgo * DAY_MS);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, "0")}${
    String(d.getUTCDate()).padStart(2, "0")
  }`;
  return `ztf_${ymd}_programid1`;
}

function nowJd(): number {
  return Date.now() / DAY_MS + JD_UNIX_EPOCH;
}

function committed(service: ArchiveService, topic: string, partition: number): bigint {
  const c = service.stats.partitions.get({ topic, partition })?.committedOffset;
  return c === null || c === undefined ? -1n : BigInt(c);
}

/** One alert of tonight's stream, as produced. */
interface LiveAlert {
  candid: string;
  partition: number;
  offset: bigint;
  sentAt: number;
  archivedAt: number | null;
  /** Whether some backlog partition still had unarchived alerts when this one was archived. */
  beforeBacklogDrained: boolean;
}

Deno.test({
  name: "tonight's alerts are archived before three late nights finish draining, each once",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "fink-late-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
    const nights = [3, 2, 1].map(nightTopic);
    const tonight = nightTopic(0);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [...nights, tonight].map((topic) => ({ topic, numPartitions: PARTITIONS })),
    });
    await admin.disconnect();

    const replays = [3, 2, 1].map((lateDays, i) =>
      replay({
        brokers: broker.address,
        topic: nights[i],
        source: "synthetic",
        observations: 1,
        alertsPerObservation: BACKLOG_PER_NIGHT,
        lateDays,
        seed: 100 + lateDays,
      }).done
    );
    const backlogSent = (await Promise.all(replays)).reduce((n, s) => n + s.sent, 0);
    const real = await replay({
      brokers: broker.address,
      topic: nights[0],
      source: sharedData(REAL_FOLDER),
      lateDays: REAL_LATE_DAYS,
    }).done;
    const realIndex = await readAlertIndex(REAL_INDEX);
    assert.equal(real.sent, realIndex.length);

    const backlog = new Map<string, bigint>();
    const admin2 = kafka.admin();
    await admin2.connect();
    for (const topic of nights) {
      for (const p of await admin2.fetchTopicOffsets(topic)) {
        backlog.set(`${topic}\0${p.partition}`, BigInt(p.high));
      }
    }
    await admin2.disconnect();
    const backlogTotal = [...backlog.values()].reduce((n, h) => n + Number(h), 0);
    assert.equal(backlogTotal, backlogSent + real.sent);
    for (const [k, high] of backlog) assert.ok(high > 50n, `backlog partition ${k} holds ${high}`);

    const config = await loadConfig({
      file: null,
      env: {},
      sets: [
        `kafka.brokers=${broker.address}`,
        "kafka.topics=/^ztf_\\d{8}_programid1$/",
        "kafka.group=late-data",
        `archive.root=${root}`,
        "archive.layout=hive",
        "batch.max_ms=200",
        "batch.max_alerts=10",
      ],
    });
    const service = createArchiveService(config);
    const producer = kafka.producer();
    await producer.connect();
    const live: LiveAlert[] = [];
    /** Backlog partitions that had committed something when the first one was complete. */
    let startedWhenFirstDone: string[] | null = null;
    let backlogDrainedAt: number | null = null;
    try {
      await service.start();
      const startedAt = Date.now();
      await waitFor(
        "the archive to receive the backlog",
        () => service.stats.total("received") > 0,
        { timeoutMs: HANG_MS },
      );

      const generator = new AlertGenerator({ seed: 7 });
      const encoder = createEncoder({ encoding: "container", topic: tonight, key: "objectId" });
      const backlogArchived = () => {
        const offsets = [...backlog].map(([k, high]) => {
          const [topic, p] = k.split("\0");
          const c = committed(service, topic, Number(p));
          if (c + 1n > high) throw new Error(`Partition ${k} committed past its end ${high}`);
          return { k, c, done: c + 1n === high };
        });
        if (startedWhenFirstDone === null && offsets.some((o) => o.done)) {
          startedWhenFirstDone = offsets.filter((o) => o.c >= 0n).map((o) => o.k);
        }
        return offsets.reduce((sum, o) => sum + Number(o.c + 1n), 0);
      };
      const watch = () => {
        const drained = backlogArchived() === backlogTotal;
        if (drained) backlogDrainedAt ??= Date.now();
        for (const a of live) {
          if (a.archivedAt === null && committed(service, tonight, a.partition) >= a.offset) {
            a.archivedAt = Date.now();
            a.beforeBacklogDrained = !drained;
          }
        }
      };
      const backlogDone = () => backlogArchived() === backlogTotal;
      /** Sends one alert of tonight's stream. */
      const sendLive = async (): Promise<LiveAlert> => {
        const alert = generator.next(nowJd());
        const message = await encoder.encodeAlert(alert);
        const value = message.value;
        const [meta] = await producer.send({
          topic: tonight,
          acks: -1,
          // kafkajs encodes Node Buffers only (a plain Uint8Array is written wrongly).
          messages: [{
            key: message.key,
            value: Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          }],
        });
        const sent: LiveAlert = {
          candid: alert.candid.toString(),
          partition: meta.partition,
          offset: BigInt(meta.baseOffset!),
          sentAt: Date.now(),
          archivedAt: null,
          beforeBacklogDrained: false,
        };
        live.push(sent);
        return sent;
      };
      // Tonight's stream: one alert at a time, the next once the previous is archived (or the
      // backlog is). If tonight's alerts queued behind the backlog, the first one would be
      // archived only after the last backlog alert, however fast or slow the machine is.
      while (!backlogDone()) {
        const sent = await sendLive();
        await waitFor("a live alert archived, or the backlog", () => {
          watch();
          return sent.archivedAt !== null || backlogDone();
        }, { timeoutMs: HANG_MS });
      }
      backlogDrainedAt ??= Date.now();
      await waitFor("tonight's last alert", () => {
        watch();
        return live.every((a) => a.archivedAt !== null);
      }, { timeoutMs: HANG_MS });
      await service.stop();

      const latencies = live.map((a) => a.archivedAt! - a.sentAt).sort((a, b) => a - b);
      const drainMs = backlogDrainedAt! - startedAt;
      const before = live.filter((a) => a.beforeBacklogDrained);
      const figures = {
        backlog: backlogTotal,
        drainMs,
        live: live.length,
        liveBeforeDrain: before.length,
        liveMedianMs: latencies[Math.floor(latencies.length / 2)],
        liveMaxMs: latencies[latencies.length - 1],
      };
      console.error(JSON.stringify({ component: "archive_late_data_test", ...figures }));
      // Order, not time: tonight's alerts were archived one after another while the backlog
      // still had alerts to archive. Only the last one sent may land after the drain. How many
      // were sent depends on the machine's speed (a fast drain leaves time for few), so the
      // count asked for is one: had the stream queued behind the backlog, none would be.
      assert.ok(
        before.length >= 1,
        `only ${before.length} of tonight's ${live.length} alerts were archived before the ` +
          `backlog of ${backlogTotal} alerts: tonight's stream waits for the backlog`,
      );
      assert.ok(
        live.slice(0, -1).every((a) => a.beforeBacklogDrained),
        "every live alert but the last was archived before the backlog drained",
      );
      assert.equal(
        (startedWhenFirstDone ?? []).length,
        backlog.size,
        `a backlog partition was finished while others had not started: ${startedWhenFirstDone}`,
      );
      assert.equal(service.stats.total("quarantined"), 0, JSON.stringify(service.stats.errors));

      const rows = await query(`
        SELECT candid::VARCHAR AS candid, candidate.jd AS jd, year, month, day, hour,
               kafka_topic, kafka_partition, kafka_offset::VARCHAR AS kafka_offset
        FROM read_parquet(${await archiveFiles(
        `${join(root, "ztf_*")}/*/*/*/*/*.parquet`,
      )}, hive_partitioning = true,
                          union_by_name = true)`);
      assert.equal(rows.length, backlogTotal + live.length, "every alert archived");
      const perCandid = new Map<string, number>();
      const perOffset = new Set<string>();
      for (const r of rows) {
        perCandid.set(String(r.candid), (perCandid.get(String(r.candid)) ?? 0) + 1);
        perOffset.add(`${r.kafka_topic}\0${r.kafka_partition}\0${r.kafka_offset}`);
        const hour = `${r.year}/${String(r.month).padStart(2, "0")}/${
          String(r.day).padStart(2, "0")
        }/${String(r.hour).padStart(2, "0")}`;
        assert.equal(hour, jdHour(Number(r.jd)), `hour folder of candid ${r.candid}`);
      }
      // The real folder holds a few alerts twice (in two files); each message counts once.
      const inIndex = new Map<string, number>();
      for (const x of realIndex) inIndex.set(x.candid, (inIndex.get(x.candid) ?? 0) + 1);
      const wrong = [...perCandid].filter(([candid, n]) => n !== (inIndex.get(candid) ?? 1));
      assert.deepEqual(wrong, [], "every candid archived as often as it was produced");
      assert.equal(perOffset.size, rows.length, "no Kafka offset archived twice");
      for (const a of live) assert.ok(perCandid.has(a.candid), `live candid ${a.candid} archived`);

      // Each past night's synthetic alerts sit in that night's hours, tonight's in today's.
      const synthetic = await query(`
        SELECT kafka_topic, min(candidate.jd) AS lo, max(candidate.jd) AS hi
        FROM read_parquet(${await archiveFiles(
        `${join(root, "ztf_*")}/*/*/*/*/*.parquet`,
      )}, union_by_name = true)
        WHERE objectId LIKE 'FSIM%' GROUP BY kafka_topic`);
      const topicDays = new Map(
        [...nights.map((t, i) => [t, 3 - i] as const), [tonight, 0] as const],
      );
      assert.equal(synthetic.length, topicDays.size);
      for (const r of synthetic) {
        const daysAgo = topicDays.get(String(r.kafka_topic))!;
        const ago = (x: unknown) => nowJd() - Number(x);
        assert.ok(
          ago(r.hi) > daysAgo - 0.1 && ago(r.lo) < daysAgo + 0.1,
          `${r.kafka_topic} holds event times ${ago(r.hi)}..${ago(r.lo)} days ago`,
        );
      }
      // The real alerts keep their candids and moved exactly REAL_LATE_DAYS back.
      const realRows = rows.filter((r) => inIndex.has(String(r.candid)));
      assert.equal(realRows.length, realIndex.length);
      const realJd = new Map(realIndex.map((x) => [x.candid, Number(x.jd) - REAL_LATE_DAYS]));
      for (const r of realRows) assert.equal(r.jd, realJd.get(String(r.candid)));
    } finally {
      await producer.disconnect();
      await service.stop();
      await broker.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
