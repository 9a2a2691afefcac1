/**
 * Publishes each batch's passing alerts in one Kafka transaction (kafkajs's
 * transactional producer) together with the distribution's progress, so that
 * a read_committed subscriber sees every alert once whatever crashes: the
 * progress of a source partition is the committed offset of consumer group
 * `<group>.<topic>.<partition>` on partition 0 of the progress topic, written
 * with `sendOffsets` inside the transaction. Works with the embedded broker
 * and any Kafka 2.x+.
 *
 * A message goes to the partition its `partitionKey` names (the alerts of an
 * object stay in order on one partition): kafkajs's default partitioner
 * would hash the key, and the key here is the whole schema, the same for
 * every message (hashing it took 90 % of the distribution's time).
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel, type Producer } from "kafkajs";
import "../source/kafkajs_timer_fix.ts";
import "../source/kafkajs_produce_fix.ts";
import { keyDefault } from "../config/keys.ts";

/** Options of {@link TransactionalPublisher.connect}. */
export interface PublisherOptions {
  brokers: string[];
  /** One distribution per transactional id: a second one fences the first. */
  transactionalId: string;
  /** Prefix of the progress groups. */
  group: string;
  /** Topic whose partition 0 carries the progress offsets (created when missing). */
  progressTopic: string;
  /** Partitions of the topics created for filters. */
  partitions: number;
  /**
   * Bytes of messages per produce request at most. Default: `distribution.request_kb`'s
   * default, so that a record batch stays under Kafka's default `message.max.bytes` (1 MB)
   * whatever broker receives it; the embedded broker takes {@link EMBEDDED_REQUEST_BYTES}.
   */
  requestBytes?: number;
}

/** One message to publish. */
export interface OutMessage {
  topic: string;
  /** The schema JSON, one buffer shared by the messages of a schema. */
  key: Buffer;
  value: Uint8Array;
  /** Chooses the partition: `partitionKey % partitions` of the topic (a non-negative integer). */
  partitionKey: number;
}

/** A source partition and the next offset to distribute after this transaction. */
export interface Progress {
  topic: string;
  partition: number;
  next: bigint;
}

/**
 * Produce request size for the embedded broker (it takes record batches of 16 MiB): a
 * transaction of 500 alerts is then 3 produce requests instead of 30, each one a round trip
 * that kafkajs's transactional producer waits for before sending the next.
 */
export const EMBEDDED_REQUEST_BYTES = 8_000_000;

/** Messages cut into runs of at most `limit` bytes (a larger message goes alone). */
function chunks(messages: OutMessage[], limit: number): OutMessage[][] {
  const out: OutMessage[][] = [];
  let current: OutMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.key.byteLength + m.value.byteLength + 64;
    if (current.length > 0 && bytes + size > limit) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** A connected transactional producer with its admin client. */
export class TransactionalPublisher {
  /** Partitions of each topic known to exist. */
  readonly #partitions = new Map<string, number>();
  readonly #requestBytes: number;

  private constructor(
    private readonly options: PublisherOptions,
    private readonly producer: Producer,
    private readonly admin: ReturnType<Kafka["admin"]>,
  ) {
    this.#requestBytes = options.requestBytes ?? keyDefault("distribution.request_kb") * 1000;
  }

  /** Connects, fencing any earlier producer with the same transactional id (its open transaction is aborted). */
  static async connect(options: PublisherOptions): Promise<TransactionalPublisher> {
    const kafka = new Kafka({
      brokers: options.brokers,
      clientId: "fink-distribution",
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 200 },
    });
    const producer = kafka.producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await producer.connect();
    } catch (error) {
      await admin.disconnect();
      throw error;
    }
    const publisher = new TransactionalPublisher(options, producer, admin);
    await publisher.ensureTopics([options.progressTopic]);
    // The first transaction sets the producer up (InitProducerId): an earlier
    // process's open transaction is aborted here, before progress is read.
    const init = await producer.transaction();
    await init.abort();
    return publisher;
  }

  /** Creates the topics that do not exist yet and learns how many partitions each has. */
  async ensureTopics(topics: string[]): Promise<void> {
    const missing = [...new Set(topics)].filter((t) => !this.#partitions.has(t));
    if (missing.length === 0) return;
    const existing = new Set(await this.admin.listTopics());
    const create = missing.filter((t) => !existing.has(t));
    if (create.length > 0) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: create.map((topic) => ({
          topic,
          numPartitions: topic === this.options.progressTopic ? 1 : this.options.partitions,
        })),
      });
    }
    const { topics: found } = await this.admin.fetchTopicMetadata({ topics: missing });
    for (const t of found) this.#partitions.set(t.name, Math.max(1, t.partitions.length));
  }

  /** The next offset to distribute of a source partition, null when nothing was ever committed. */
  async progress(topic: string, partition: number): Promise<bigint | null> {
    const [found] = await this.admin.fetchOffsets({
      groupId: this.#group(topic, partition),
      topics: [this.options.progressTopic],
    });
    const offset = found?.partitions.find((p) => p.partition === 0)?.offset ?? "-1";
    return offset === "-1" ? null : BigInt(offset);
  }

  /** Sends `messages` and moves `progress` in one transaction; aborts it on any failure. */
  async publish(messages: OutMessage[], progress: Progress): Promise<void> {
    await this.ensureTopics([...new Set(messages.map((m) => m.topic))]);
    const txn = await this.producer.transaction();
    try {
      for (const chunk of chunks(messages, this.#requestBytes)) {
        const byTopic = new Map<string, { key: Buffer; value: Buffer; partition: number }[]>();
        for (const m of chunk) {
          const list = byTopic.get(m.topic) ?? [];
          list.push({
            key: m.key,
            value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
            partition: m.partitionKey % this.#partitions.get(m.topic)!,
          });
          byTopic.set(m.topic, list);
        }
        await txn.sendBatch({
          topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })),
        });
      }
      await txn.sendOffsets({
        consumerGroupId: this.#group(progress.topic, progress.partition),
        topics: [{
          topic: this.options.progressTopic,
          partitions: [{ partition: 0, offset: progress.next.toString() }],
        }],
      });
      await txn.commit();
    } catch (error) {
      await txn.abort().catch(() => {});
      throw error;
    }
  }

  /** Disconnects the producer and the admin client. */
  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => {});
    await this.admin.disconnect().catch(() => {});
  }

  #group(topic: string, partition: number): string {
    return `${this.options.group}.${topic}.${partition}`;
  }
}
