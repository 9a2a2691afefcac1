/**
 * The Kafka source over the embedded broker: the Source contract (contract.ts), and topic
 * patterns: a topic created while the source runs is picked up at the next topic refresh,
 * every message delivered once, and topics the pattern does not match stay unread.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../../../core/config/mod.ts";
import { listAlertFiles } from "../../../core/source/files.ts";
import { createKafkaSource, matchTopics, parseTopic } from "../../../core/source/kafka.ts";
import type { Source, SourceHandler, SourceMessage } from "../../../core/source/source.ts";
import { startBroker } from "../../../simulator/broker/mod.ts";
import { TopicPartitionMap } from "../../../core/source/topic_partition.ts";
import { sharedData } from "../../shared_data.ts";
import { sourceContract } from "./contract.ts";

const WAIT_MS = 45_000;

async function readAlerts(folder: string): Promise<Uint8Array[]> {
  const files = await listAlertFiles(sharedData("ztf/alerts", folder));
  return await Promise.all(files.map((f) => Deno.readFile(f)));
}

/** Sends the values round-robin over the partitions; returns what each topic-partition got. */
async function produce(
  kafka: Kafka,
  topic: string,
  values: Uint8Array[],
  partitions: number,
): Promise<Map<string, Uint8Array>> {
  const producer = kafka.producer();
  await producer.connect();
  const sent = new Map<string, Uint8Array>();
  try {
    const result = await producer.send({
      topic,
      acks: -1,
      // kafkajs encodes Node Buffers only (a plain Uint8Array is written wrongly).
      messages: values.map((v, i) => ({
        partition: i % partitions,
        value: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
      })),
    });
    // One send per topic-partition: offsets follow each partition's base offset in order.
    const next = new Map(result.map((r) => [r.partition, BigInt(r.baseOffset!)]));
    values.forEach((v, i) => {
      const partition = i % partitions;
      const offset = next.get(partition)!;
      next.set(partition, offset + 1n);
      sent.set(`${topic}/${partition}/${offset}`, v);
    });
  } finally {
    await producer.disconnect();
  }
  return sent;
}

/**
 * Resolves once `done()` holds, checking it again at every `wake` call; rejects after
 * WAIT_MS naming what was awaited.
 */
class Waiter {
  #wakes: (() => void)[] = [];

  wake(): void {
    for (const w of this.#wakes) w();
  }

  async until(done: () => boolean, what: () => string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what()} after ${WAIT_MS} ms`)), WAIT_MS);
    });
    try {
      while (!done()) {
        let wake: () => void = () => {};
        await Promise.race([new Promise<void>((r) => this.#wakes.push(wake = r)), timeout]);
        this.#wakes = this.#wakes.filter((w) => w !== wake);
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Log lines written while a test runs (they are printed as well). */
class LogCapture {
  readonly lines: string[] = [];
  readonly #waiter = new Waiter();
  readonly #print = console.error;

  constructor() {
    console.error = (...args: unknown[]) => {
      this.lines.push(args.map(String).join(" "));
      this.#waiter.wake();
      this.#print(...args);
    };
  }

  /** Resolves once a line matches. */
  logged(pattern: RegExp): Promise<void> {
    return this.#waiter.until(
      () => this.lines.some((l) => pattern.test(l)),
      () => `No log line matched ${pattern}`,
    );
  }

  restore(): void {
    console.error = this.#print;
  }
}

/** A handler that writes every batch to disk, as the archive does, and records deliveries. */
class RecordingHandler implements SourceHandler {
  readonly deliveries = new Map<string, { count: number; value: Uint8Array }>();
  readonly problems: string[] = [];
  /** Awaited at the start of every call: lets a test keep a call in flight. */
  hold: () => Promise<void> = () => Promise.resolve();
  readonly #last = new Map<string, bigint>();
  readonly #waiter = new Waiter();
  #calls = 0;

  constructor(readonly dir: string) {}

  async onMessages(messages: SourceMessage[]): Promise<void> {
    this.#calls++;
    this.#waiter.wake();
    await this.hold();
    const { topic, partition } = messages[0];
    await Deno.writeFile(
      join(this.dir, `${topic}+${partition}+${messages[0].offset}`),
      Buffer.concat(messages.map((m) => m.value)),
    );
    for (const m of messages) {
      const tp = `${m.topic}/${m.partition}`;
      const last = this.#last.get(tp) ?? -1n;
      if (m.offset <= last) this.problems.push(`${tp} offset ${m.offset} after ${last}`);
      this.#last.set(tp, m.offset);
      const key = `${tp}/${m.offset}`;
      const seen = this.deliveries.get(key);
      this.deliveries.set(key, { count: (seen?.count ?? 0) + 1, value: m.value });
    }
    this.#waiter.wake();
  }

  /** Resolves once the handler was called at least once. */
  called(): Promise<void> {
    return this.#waiter.until(() => this.#calls > 0, () => "The handler was never called");
  }

  /** Resolves once every key was delivered. */
  delivered(keys: Iterable<string>, what: string): Promise<void> {
    const wanted = [...keys];
    const missing = () => wanted.filter((k) => !this.deliveries.has(k)).length;
    return this.#waiter.until(
      () => missing() === 0,
      () => `${what}: ${missing()} of ${wanted.length} messages missing`,
    );
  }
}

function assertDeliveredOnce(handler: RecordingHandler, sent: Map<string, Uint8Array>): void {
  for (const [key, value] of sent) {
    const got = handler.deliveries.get(key);
    assert.ok(got !== undefined, `${key} delivered`);
    assert.equal(got.count, 1, `${key} delivered once`);
    assert.deepEqual(new Uint8Array(got.value), value, `${key} carries the alert produced`);
  }
}

Deno.test("a pattern's plain names and regexes select topics, whatever the regex flags", () => {
  const configured = ["ztf", "/^ztf_night_.*/", "/RUBIN/gi"].map(parseTopic);
  const available = ["rubin_a", "ztf", "ztf_night_2", "ztf_nightly", "Rubin_b", "lsst"];
  assert.deepEqual(matchTopics(configured, available), [
    "Rubin_b",
    "rubin_a",
    "ztf",
    "ztf_night_2",
  ]);
  // A global regex keeps state in lastIndex; matching twice must not change the answer.
  assert.deepEqual(matchTopics(configured, available), matchTopics(configured, available));
  assert.deepEqual(matchTopics(configured, ["other"]), []);
});

Deno.test({
  name: "a topic created while the source runs is consumed, every message exactly once",
  // kafkajs keeps timers and sockets of its own after disconnect; the broker closes its side.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fink-kafka-topics-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const logs = new LogCapture();
    let source: Source | null = null;
    try {
      await admin.connect();
      await admin.createTopics({
        topics: [{ topic: "ztf_night_1", numPartitions: 3 }, { topic: "ztf_day_1" }],
      });
      const night1 = await produce(
        kafka,
        "ztf_night_1",
        await readAlerts("fink-broker-local-20200101"),
        3,
      );
      const other = await readAlerts("fink-client");
      await produce(kafka, "ztf_day_1", other, 1);

      const config = await loadConfig({
        file: null,
        env: {},
        sets: [
          `kafka.brokers=${broker.address}`,
          "kafka.topics=/^ztf_night_.*/",
          "kafka.group=topics-test",
          "kafka.topic_refresh_ms=200",
        ],
      });
      source = createKafkaSource({
        brokers: config.list("kafka.brokers"),
        topics: config.list("kafka.topics"),
        group: config.string("kafka.group"),
        clientId: config.string("kafka.client_id"),
        fromBeginning: config.string("kafka.start") === "earliest",
        topicRefreshMs: config.number("kafka.topic_refresh_ms"),
      });
      const handler = new RecordingHandler(dir);
      // The first batches stay in flight until the source has seen the new topic, so the
      // re-subscription happens while the handler still works on ztf_night_1.
      const newTopicSeen = logs.logged(/new topics match.*topics=ztf_night_2 /);
      handler.hold = () => newTopicSeen;
      await source.start(handler);
      await handler.called();
      assert.match(source.description, /\(matching ztf_night_1\)$/);

      // A topic the pattern does not match, then tonight's topic, both while running.
      await admin.createTopics({
        topics: [{ topic: "ztf_nightly" }, { topic: "ztf_night_2", numPartitions: 2 }],
      });
      await produce(kafka, "ztf_nightly", other, 1);
      const night2 = await produce(
        kafka,
        "ztf_night_2",
        await readAlerts("fink-alert-simulator-v3.1-20181129"),
        2,
      );
      await handler.delivered([...night1.keys(), ...night2.keys()], "both nights");
      await logs.logged(/subscribed to new topics" topics=ztf_night_2 /);

      // One more alert per partition: anything delivered a second time after the
      // re-subscription would come before these, partitions being read in order.
      const last = [
        ...await produce(kafka, "ztf_night_1", other.slice(0, 3), 3),
        ...await produce(kafka, "ztf_night_2", other.slice(0, 2), 2),
      ];
      await handler.delivered(last.map(([k]) => k), "alerts sent after the re-subscription");

      assert.deepEqual(handler.problems, []);
      assertDeliveredOnce(handler, new Map([...night1, ...night2, ...last]));
      assert.equal(handler.deliveries.size, night1.size + night2.size + last.length);
      const topics = new Set([...handler.deliveries.keys()].map((k) => k.split("/")[0]));
      assert.deepEqual([...topics].sort(), ["ztf_night_1", "ztf_night_2"]);
      assert.match(source.description, /\(matching ztf_night_1,ztf_night_2\)$/);
      assert.equal(source.health().connected, true);
    } finally {
      await source?.stop();
      logs.restore();
      await admin.disconnect();
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a pattern matching nothing at start waits for its first topic",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "fink-kafka-topics-" });
    const broker = await startBroker({ port: 0, dataDir: null });
    const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const logs = new LogCapture();
    const source = createKafkaSource({
      brokers: [broker.address],
      topics: ["/^ztf_night_.*/"],
      group: "topics-empty-test",
      clientId: "fink-test",
      // New topics are read from their beginning whatever the start position says.
      fromBeginning: false,
      topicRefreshMs: 200,
    });
    try {
      const handler = new RecordingHandler(dir);
      await source.start(handler);
      await logs.logged(/no topic matches the configured patterns yet/);
      assert.match(source.description, /\(matching none yet\)$/);
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: "ztf_night_1", numPartitions: 2 }] });
      const sent = await produce(kafka, "ztf_night_1", await readAlerts("fink-client"), 2);
      await handler.delivered(sent.keys(), "ztf_night_1 created after the start");
      assert.deepEqual(handler.problems, []);
      assertDeliveredOnce(handler, sent);
      assert.match(source.description, /\(matching ztf_night_1\)$/);
    } finally {
      await source.stop();
      logs.restore();
      await admin.disconnect();
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

sourceContract("kafka", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink-kafka-source-" });
  const broker = await startBroker({ port: 0, dataDir: null });
  const kafka = new Kafka({ brokers: [broker.address], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "ztf_contract", numPartitions: 2 }] });
  await admin.disconnect();
  // Five sends, each a record batch per partition: several deliveries per partition.
  const alerts = await readAlerts("fink-broker-local-20200101");
  const expected = new TopicPartitionMap<Uint8Array[]>();
  for (let i = 0; i < alerts.length; i += 10) {
    const sent = await produce(kafka, "ztf_contract", alerts.slice(i, i + 10), 2);
    // Each send's keys come in offset order per partition (see produce).
    for (const [key, value] of sent) {
      const partition = Number(key.split("/")[1]);
      expected.getOrCreate({ topic: "ztf_contract", partition }, () => []).push(value);
    }
  }
  return {
    source: createKafkaSource({
      brokers: [broker.address],
      topics: ["ztf_contract"],
      group: "contract",
      clientId: "fink-test",
      fromBeginning: true,
      // Fetches of one record batch each (a larger batch still comes whole).
      maxBytesPerPartition: 64 * 1024,
    }),
    expected,
    dir,
    close: async () => {
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});
