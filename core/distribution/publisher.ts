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
 *
 * Each source partition has a transactional id of its own,
 * `<transactionalId>.<topic>.<partition>`: the process that takes a partition
 * over initializes it (InitProducerId), which bumps the producer epoch, aborts
 * the transaction the previous owner left open and fences that owner, whose
 * next send or commit fails; only then is the progress read.
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel, type Producer } from "kafkajs";
import "../source/kafkajs_timer_fix.ts";
import "../source/kafkajs_produce_fix.ts";
import { keyDefault } from "../config/keys.ts";

/** Options of {@link TransactionalPublisher.connect}. */
export interface PublisherOptions {
  brokers: string[];
  /** Prefix of the per-partition transactional ids: a process taking a partition fences the last. */
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
 * Produce request size for the embedded broker. It takes record batches of 16 MiB, but
 * bigger is slower: with 8 MB requests the broker spent 0.14 ms of CPU per published alert
 * against 0.06 at 1-2 MB, and `deno task bench distribute` published 4,000-4,300 alerts/s
 * against 5,900-6,300 (4 MB: 4,800; 3 MB: 5,000; 1 MB: 5,800).
 */
export const EMBEDDED_REQUEST_BYTES = 2_000_000;

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

/** Whether a Kafka error says another producer holds the transactional id now. */
export function isFenced(error: unknown): boolean {
  // kafkajs wraps a broker's answer (retries exhausted...): look a few causes down.
  let e = error as Record<string, any> | undefined;
  for (let depth = 0; depth < 5 && e; depth++, e = e.cause ?? e.originalError) {
    if (e.type === "INVALID_PRODUCER_EPOCH" || e.type === "PRODUCER_FENCED") return true;
  }
  return false;
}

/** A publisher whose source partition was taken over by another process. */
export class PartitionFencedError extends Error {}

/** The admin client and one transactional producer per source partition this process holds. */
export class TransactionalPublisher {
  /** Partitions of each topic known to exist. */
  readonly #partitions = new Map<string, number>();
  readonly #requestBytes: number;
  readonly #producers = new Map<string, Promise<Producer>>();
  /** Source partitions another process took over; left alone until {@link release}. */
  readonly #lost = new Set<string>();

  private constructor(
    private readonly options: PublisherOptions,
    private readonly kafka: Kafka,
    private readonly admin: ReturnType<Kafka["admin"]>,
  ) {
    this.#requestBytes = options.requestBytes ?? keyDefault("distribution.request_kb") * 1000;
  }

  /** Connects the admin client and creates the progress topic when missing. */
  static async connect(options: PublisherOptions): Promise<TransactionalPublisher> {
    const kafka = new Kafka({
      brokers: options.brokers,
      clientId: "fink-distribution",
      logLevel: logLevel.NOTHING,
      retry: { retries: 5, initialRetryTime: 200 },
    });
    const admin = kafka.admin();
    await admin.connect();
    const publisher = new TransactionalPublisher(options, kafka, admin);
    await publisher.ensureTopics([options.progressTopic]);
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

  /**
   * The next offset to distribute of a source partition, null when nothing was ever
   * committed. The partition's producer is initialized first, so the progress read is
   * past any transaction its previous owner had open.
   */
  async progress(topic: string, partition: number): Promise<bigint | null> {
    await this.#producer(topic, partition);
    const [found] = await this.admin.fetchOffsets({
      groupId: this.#group(topic, partition),
      topics: [this.options.progressTopic],
    });
    const offset = found?.partitions.find((p) => p.partition === 0)?.offset ?? "-1";
    return offset === "-1" ? null : BigInt(offset);
  }

  /** Whether another process took this source partition over (until {@link release}). */
  lost(topic: string, partition: number): boolean {
    return this.#lost.has(this.#group(topic, partition));
  }

  /**
   * Sends `messages` and moves `progress` in one transaction; aborts it on any failure.
   * Throws {@link PartitionFencedError} when another process took the partition over.
   */
  async publish(messages: OutMessage[], progress: Progress): Promise<void> {
    await this.ensureTopics([...new Set(messages.map((m) => m.topic))]);
    const producer = await this.#producer(progress.topic, progress.partition);
    const txn = await producer.transaction();
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
      if (!isFenced(error)) throw error;
      this.#lost.add(this.#group(progress.topic, progress.partition));
      throw new PartitionFencedError(
        `fenced: another process took ${progress.topic}[${progress.partition}] over ` +
          `(its transactional id was initialized again); this transaction was aborted`,
        { cause: error },
      );
    }
  }

  /** Drops every partition's producer: the next use initializes it again (after a rebalance). */
  async release(): Promise<void> {
    const producers = [...this.#producers.values()];
    this.#producers.clear();
    this.#lost.clear();
    for (const producer of producers) {
      await producer.then((p) => p.disconnect(), () => {}).catch(() => {});
    }
  }

  /** Disconnects the producers and the admin client. */
  async close(): Promise<void> {
    await this.release();
    await this.admin.disconnect().catch(() => {});
  }

  /** The partition's producer, initialized on first use (fencing the previous owner). */
  #producer(topic: string, partition: number): Promise<Producer> {
    const group = this.#group(topic, partition);
    let producer = this.#producers.get(group);
    if (producer === undefined) {
      producer = this.#initialize(`${this.options.transactionalId}.${topic}.${partition}`);
      producer.catch(() => {
        if (this.#producers.get(group) === producer) this.#producers.delete(group);
      });
      this.#producers.set(group, producer);
    }
    return producer;
  }

  async #initialize(transactionalId: string): Promise<Producer> {
    const producer = this.kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    try {
      // The first transaction sets the producer up (InitProducerId): the previous owner's
      // open transaction is aborted here, before progress is read.
      const init = await producer.transaction();
      await init.abort();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw error;
    }
    return producer;
  }

  #group(topic: string, partition: number): string {
    return `${this.options.group}.${topic}.${partition}`;
  }
}
