/**
 * Kafka source: a kafkajs consumer group over the configured topics (names or
 * /regex/ patterns). Offsets are committed to Kafka only after the archive made
 * the data durable; the archive's own committed offsets stay the truth.
 */
import { type Consumer, Kafka, type LogEntry, logLevel } from "kafkajs";
import { logger } from "../log.ts";
import type {
  PartitionPosition,
  Source,
  SourceHandler,
  SourceHealth,
  SourceMessage,
  TopicPartition,
} from "./source.ts";

/** Options of {@link createKafkaSource}. */
export interface KafkaSourceOptions {
  brokers: string[];
  /** Topic names, or patterns written `/regex/`. */
  topics: string[];
  group: string;
  clientId: string;
  /** Where a group without committed offsets starts. */
  fromBeginning: boolean;
  /** Session timeout of the group member, ms (default 30 s). */
  sessionTimeoutMs?: number;
  /** Partitions processed at the same time (default 4). */
  concurrency?: number;
  /** Bytes fetched per partition per request (default 4 MiB). */
  maxBytesPerPartition?: number;
}

/**
 * kafkajs asks for the partitions in the same order at every fetch and the broker fills
 * the answer in that order up to the request's limit: a limit smaller than the sum of the
 * per-partition ones leaves the last partitions out for as long as the first ones have a
 * backlog, and tonight's topic waits for last week's. So the request's limit covers this
 * many partitions in full, and the per-partition limit stays small enough to keep that
 * bounded while above the record batches producers write (Kafka's own default is 1 MiB).
 */
const PARTITIONS_PER_FETCH = 64;

/** kafkajs log messages that mean the broker cannot be reached. */
const UNREACHABLE =
  /connection error|connection timeout|closed connection|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|no brokers? available/i;

const log = logger("kafka-source");

const STOP_WAIT_MS = 5000;

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Turns `"/^ztf_.*$/"` into a RegExp and leaves plain names alone. */
export function parseTopic(topic: string): string | RegExp {
  const m = /^\/(.+)\/([a-z]*)$/.exec(topic);
  return m === null ? topic : new RegExp(m[1], m[2]);
}

/** A source consuming Kafka with a consumer group. */
export function createKafkaSource(options: KafkaSourceOptions): Source {
  const health: SourceHealth = { connected: false, error: null };
  const positions = new Map<string, PartitionPosition>();
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      health.error = `${message}${extra.broker ? ` (broker ${extra.broker})` : ""}`;
      if (UNREACHABLE.test(message)) health.connected = false;
      log.warn(message, { kafkajs: entry.namespace, broker: extra.broker });
    },
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 },
  });
  const maxBytesPerPartition = options.maxBytesPerPartition ?? 4 * 1024 * 1024;
  const consumer: Consumer = kafka.consumer({
    groupId: options.group,
    maxBytesPerPartition,
    maxBytes: maxBytesPerPartition * PARTITIONS_PER_FETCH,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3_000,
    retry: {
      initialRetryTime: 300,
      maxRetryTime: 10_000,
      retries: 10,
      restartOnFailure: () => Promise.resolve(true),
    },
  });
  consumer.on(consumer.events.CONNECT, () => {
    health.connected = true;
    health.error = null;
  });
  // kafkajs retries a lost broker for a long while before it crashes or disconnects;
  // any answered request is the sign that the broker is reachable again.
  consumer.on(consumer.events.REQUEST, () => {
    health.connected = true;
    health.error = null;
  });
  consumer.on(consumer.events.DISCONNECT, () => {
    health.connected = false;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    health.connected = false;
    health.error = `consumer crashed: ${e.payload.error.message}; restarting`;
  });
  let stopped = false;
  const stopping = new AbortController();

  async function connectWithRetry(): Promise<void> {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await consumer.connect();
        return;
      } catch (e) {
        health.error = `cannot reach Kafka at ${options.brokers.join(",")}: ${
          (e as Error).message
        }`;
        const delay = Math.min(30_000, 500 * 2 ** attempt);
        log.warn("kafka unreachable, retrying", {
          brokers: options.brokers,
          attempt,
          delayMs: delay,
        });
        await abortableDelay(delay, stopping.signal);
      }
    }
  }

  async function run(handler: SourceHandler): Promise<void> {
    await connectWithRetry();
    if (stopped) return;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned: TopicPartition[] = [];
      for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
        for (const partition of partitions) assigned.push({ topic, partition });
      }
      log.info("partitions assigned", { group: options.group, partitions: assigned.length });
      handler.onAssigned?.(assigned);
    });
    await consumer.subscribe({
      topics: options.topics.map(parseTopic),
      fromBeginning: options.fromBeginning,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency ?? 4,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const { topic, partition } = batch;
        positions.set(`${topic}\0${partition}`, {
          topic,
          partition,
          highWatermark: BigInt(batch.highWatermark),
        });
        const messages: SourceMessage[] = batch.messages.map((m) => ({
          topic,
          partition,
          offset: BigInt(m.offset),
          timestamp: Number(m.timestamp),
          value: m.value ?? new Uint8Array(0),
        }));
        await handler.onMessages(messages);
        resolveOffset(batch.lastOffset());
        await heartbeat();
      },
    });
  }

  let running: Promise<void> | null = null;
  return {
    description: `kafka ${options.brokers.join(",")} topics ${options.topics.join(",")}`,
    start(handler) {
      running = run(handler).catch((e) => {
        health.error = (e as Error).message;
        log.error("kafka source stopped", { error: e });
      });
      return Promise.resolve();
    },
    async commit(tp, nextOffset) {
      // Batches flushed while stopping are durable in the archive, whose offsets are the
      // truth; Kafka's copy (lag shown to others) catches up at the next start.
      if (stopped) return;
      try {
        await consumer.commitOffsets([{ ...tp, offset: nextOffset.toString() }]);
      } catch (e) {
        // The archive's own offsets are the truth; Kafka's copy only shows lag to others.
        log.warn("kafka offset commit failed", { ...tp, error: e });
      }
    },
    positions: () => [...positions.values()],
    health: () => ({ ...health }),
    finished: new Promise<void>(() => {}),
    async stop() {
      stopped = true;
      stopping.abort();
      // kafkajs may be inside its own connection retries, which cannot be cut
      // short: do not let an unreachable broker hold the shutdown for long.
      await bounded(consumer.disconnect().catch(() => {}), STOP_WAIT_MS);
      await bounded(running ?? Promise.resolve(), STOP_WAIT_MS);
    },
  };
}
