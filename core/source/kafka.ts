/**
 * Kafka source: a kafkajs consumer group over the configured topics (names or
 * /regex/ patterns). Offsets are committed to Kafka only after the archive made
 * the data durable; the archive's own committed offsets stay the truth.
 *
 * Group timeouts come from the configuration (`kafka.session_timeout_ms`,
 * `kafka.heartbeat_ms`, `kafka.rebalance_timeout_ms`): they set how soon the
 * partitions of a member that died move to the others. kafkajs heartbeats only
 * between batches, so while the handler holds a batch (waiting for room, for
 * storage) this source keeps heartbeating for it: a member busy writing is not
 * taken for a dead one.
 *
 * kafkajs resolves a pattern once, when it subscribes, and never looks again
 * (kafka.js.org "Consuming messages"; tulios/kafkajs#336, #1685): with patterns, this
 * source reads the topic list every `topicRefreshMs` and, when a new topic matches,
 * stops the consumer, subscribes it and runs again.
 */
import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type LogEntry,
  logLevel,
} from "kafkajs";
import "./kafkajs_timer_fix.ts";
import "./kafkajs_produce_fix.ts";
import { keyDefault } from "../config/keys.ts";
import { logger } from "../log.ts";
import type {
  Membership,
  PartitionPosition,
  ResumePoint,
  Source,
  SourceHandler,
  SourceHealth,
  SourceMessage,
} from "./source.ts";
import { type TopicPartition, TopicPartitionMap } from "./topic_partition.ts";

/** Options of {@link createKafkaSource}. */
export interface KafkaSourceOptions {
  brokers: string[];
  /** Topic names, or patterns written `/regex/`. */
  topics: string[];
  group: string;
  clientId: string;
  /** Where a group without committed offsets starts, for topics that exist at start. */
  fromBeginning: boolean;
  /** Session timeout of the group member, ms (default `kafka.session_timeout_ms`'s). */
  sessionTimeoutMs?: number;
  /**
   * Heartbeat interval, ms (default `kafka.heartbeat_ms`); also the longest a fetch waits
   * on the broker, so an idle member hears of a rebalance as soon.
   */
  heartbeatMs?: number;
  /** How long a rebalance waits for the members to rejoin, ms (default `kafka.rebalance_timeout_ms`). */
  rebalanceTimeoutMs?: number;
  /** Partitions processed at the same time (default 4). */
  concurrency?: number;
  /**
   * Bytes fetched per partition per request (default 2 MiB: on a 100,000-alert burst the
   * peak memory was lower than with 4 MiB, at the same speed). A record batch larger than
   * this still comes whole.
   */
  maxBytesPerPartition?: number;
  /** How often the topic list is read for new topics matching a pattern, ms (default `kafka.topic_refresh_ms`'s). */
  topicRefreshMs?: number;
  /** Told the duration of every fetch request, ms (for the archive's stage times). */
  onFetch?: (ms: number) => void;
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

/** The topics of `available` that a configured name or pattern selects, sorted. */
export function matchTopics(configured: (string | RegExp)[], available: string[]): string[] {
  const names = new Set(configured.filter((t) => typeof t === "string"));
  const patterns = configured.filter((t) => t instanceof RegExp);
  // search() ignores the g and y flags' lastIndex, which would make test() alternate.
  return available.filter((t) => names.has(t) || patterns.some((p) => t.search(p) >= 0)).sort();
}

/** A source consuming Kafka with a consumer group. */
export function createKafkaSource(options: KafkaSourceOptions): Source {
  const health: SourceHealth = { connected: false, error: null };
  const positions = new TopicPartitionMap<PartitionPosition>();
  const configured = options.topics.map(parseTopic);
  const hasPatterns = configured.some((t) => t instanceof RegExp);
  /** Topics handed to kafkajs so far. */
  const subscribed = new Set<string>();
  /**
   * Per partition, the offset after the last message handed to the handler. kafkajs
   * starts again from Kafka's committed offsets after a re-subscription or a restart,
   * and those only follow what the archive made durable: this keeps a message that the
   * handler already holds from being delivered twice.
   */
  const delivered = new TopicPartitionMap<bigint>();
  /** The first offset handed to the handler per partition, where it resumes when nothing is archived. */
  const firstDelivered = new TopicPartitionMap<bigint>();
  /** Counts assignments; a delivery started under an earlier one is dropped. */
  let assignments = 0;
  /** Resolves once the handler said where the current assignment's partitions resume. */
  let resumed: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  const retry = { initialRetryTime: 300, maxRetryTime: 10_000, retries: 10 };
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
    retry,
  });
  const maxBytesPerPartition = options.maxBytesPerPartition ?? 2 * 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? keyDefault("kafka.heartbeat_ms");
  const consumer: Consumer = kafka.consumer({
    groupId: options.group,
    maxBytesPerPartition,
    maxBytes: maxBytesPerPartition * PARTITIONS_PER_FETCH,
    sessionTimeout: options.sessionTimeoutMs ?? keyDefault("kafka.session_timeout_ms"),
    rebalanceTimeout: options.rebalanceTimeoutMs ?? keyDefault("kafka.rebalance_timeout_ms"),
    heartbeatInterval: heartbeatMs,
    maxWaitTimeInMs: heartbeatMs,
    retry: { ...retry, restartOnFailure: () => Promise.resolve(true) },
  });
  const membership: Membership = {
    group: options.group,
    memberId: null,
    clientId: options.clientId,
    assigned: [],
    since: null,
  };
  const admin: Admin | null = hasPatterns ? kafka.admin({ retry }) : null;
  /** Reads high watermarks of assigned partitions, so an idle partition shows its lag (0). */
  const offsetsAdmin: Admin = admin ?? kafka.admin({ retry });
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
  const onFetch = options.onFetch;
  if (onFetch) consumer.on(consumer.events.FETCH, (e) => onFetch(e.payload.duration));
  consumer.on(consumer.events.DISCONNECT, () => {
    health.connected = false;
  });
  consumer.on(consumer.events.CRASH, (e) => {
    health.connected = false;
    health.error = `consumer crashed: ${e.payload.error.message}; restarting`;
  });
  let stopped = false;
  const stopping = new AbortController();
  let resubscribing: Promise<void> = Promise.resolve();

  /** Runs `attempt` until it succeeds or the source stops, backing off between failures. */
  async function retrying<T>(what: string, attempt: () => Promise<T>): Promise<T | null> {
    for (let n = 1; !stopped; n++) {
      try {
        return await attempt();
      } catch (e) {
        health.error = `cannot ${what} at ${options.brokers.join(",")}: ${(e as Error).message}`;
        const delay = Math.min(30_000, 500 * 2 ** n);
        log.warn(`cannot ${what}, retrying`, {
          brokers: options.brokers,
          attempt: n,
          delayMs: delay,
        });
        await abortableDelay(delay, stopping.signal);
      }
    }
    return null;
  }

  /** Topics the configuration selects now: the names, plus what the patterns match. */
  async function selectedTopics(): Promise<string[]> {
    if (admin === null) return configured as string[];
    await admin.connect();
    return matchTopics(configured, await admin.listTopics());
  }

  async function deliver(handler: SourceHandler, payload: EachBatchPayload): Promise<void> {
    const { heartbeat } = payload;
    // The coordinator re-arms the session on every heartbeat, a rebalance in progress
    // included: this member stays in while the archive takes partitions over or holds a
    // batch, and rejoins once the batch is taken (kafkajs's next heartbeat).
    const beating = setInterval(() => heartbeat().catch(() => {}), heartbeatMs);
    try {
      await deliverHeld(handler, payload);
    } finally {
      clearInterval(beating);
    }
  }

  async function deliverHeld(handler: SourceHandler, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const assignment = assignments;
    await resumed;
    // Fetched before the handler's seek to where the partition resumes, or before a newer
    // assignment: the next fetch brings these messages again, from the right place.
    if (!isRunning() || isStale() || assignment !== assignments) return;
    if (batch.messages.length === 0) return;
    const { topic, partition } = batch;
    const key = { topic, partition };
    positions.set(key, { topic, partition, highWatermark: BigInt(batch.highWatermark) });
    const from = delivered.get(key) ?? -1n;
    const messages: SourceMessage[] = [];
    for (const m of batch.messages) {
      const offset = BigInt(m.offset);
      if (offset < from) continue;
      messages.push({
        topic,
        partition,
        offset,
        timestamp: Number(m.timestamp),
        value: m.value ?? new Uint8Array(0),
      });
    }
    if (messages.length > 0) {
      const next = messages[messages.length - 1].offset + 1n;
      delivered.set(key, next);
      if (!firstDelivered.has(key)) firstDelivered.set(key, messages[0].offset);
      try {
        await handler.onMessages(messages);
      } catch (e) {
        // Refused, so not held: kafkajs retries the batch and it must be delivered again.
        if (delivered.get(key) === next) delivered.set(key, messages[0].offset);
        throw e;
      }
    }
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }

  function runConsumer(handler: SourceHandler): Promise<void> {
    return consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency ?? 4,
      eachBatch: async (payload) => {
        const work = deliver(handler, payload);
        inFlight.add(work);
        try {
          await work;
        } finally {
          inFlight.delete(work);
        }
      },
    });
  }

  function onGroupJoin(
    handler: SourceHandler,
    payload: { memberId: string; memberAssignment: Record<string, number[]> },
  ): void {
    const assigned: TopicPartition[] = [];
    const owned = new TopicPartitionMap<true>();
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        assigned.push({ topic, partition });
        owned.set({ topic, partition }, true);
      }
    }
    assigned.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    membership.memberId = payload.memberId;
    membership.assigned = assigned;
    membership.since = new Date().toISOString();
    for (const key of [...delivered.keys(), ...positions.keys()]) {
      if (!owned.has(key)) {
        delivered.delete(key);
        positions.delete(key);
      }
    }
    const assignment = ++assignments;
    log.info("partitions assigned", {
      group: options.group,
      member: payload.memberId,
      partitions: assigned.map((tp) => `${tp.topic}[${tp.partition}]`).join(",") || "none",
    });
    resumed = Promise.resolve(handler.onAssigned?.(assigned)).then((points) => {
      if (assignment === assignments) seekTo(points ?? []);
    }).catch((error) => {
      health.error = `the archive could not take over its partitions: ${(error as Error).message}`;
      log.error("taking over the assigned partitions failed", { error });
    });
    void readWatermarks(assigned);
  }

  /**
   * Resumes each partition where the handler says, which is past Kafka's committed offset
   * when the archive made batches durable that Kafka has not heard of. A partition with
   * nothing archived resumes at the first offset this process delivered (what it held was
   * dropped), else where Kafka says: with kafka.start=latest, a partition without a commit
   * would otherwise skip what arrived while it was held.
   */
  function seekTo(points: ResumePoint[]): void {
    for (const { topic, partition, next } of points) {
      const key = { topic, partition };
      const offset = next ?? firstDelivered.get(key) ?? null;
      if (offset === null) continue;
      delivered.set(key, offset);
      try {
        consumer.seek({ topic, partition, offset: offset.toString() });
      } catch (error) {
        // kafkajs is restarting its consumer (no group yet): the join that follows seeks again.
        if (!/not initialized/i.test((error as Error).message)) throw error;
        log.warn("cannot seek yet, the consumer is restarting; its next join resumes here", {
          topic,
          partition,
          offset,
          error: (error as Error).message,
        });
      }
    }
  }

  /**
   * Positions of assigned partitions no fetch has reported yet: a partition with nothing
   * new never reaches the handler, and its lag would stay unknown instead of 0.
   */
  async function readWatermarks(assigned: TopicPartition[]): Promise<void> {
    try {
      await offsetsAdmin.connect();
      for (const topic of new Set(assigned.map((tp) => tp.topic))) {
        for (const p of await offsetsAdmin.fetchTopicOffsets(topic)) {
          const key = { topic, partition: p.partition };
          if (!assigned.some((tp) => tp.topic === topic && tp.partition === p.partition)) continue;
          if (positions.has(key)) continue;
          positions.set(key, { topic, partition: p.partition, highWatermark: BigInt(p.high) });
        }
      }
    } catch (e) {
      // Only the lag figure waits for the first fetch; consumption is not affected.
      log.warn("could not read the partitions' high watermarks", { error: e });
    }
  }

  /**
   * Subscribes topics that appeared since the start. kafkajs cannot change a running
   * subscription: stop (which leaves the group), wait for every handler call, subscribe,
   * run again. The new topics are read from their beginning whatever `fromBeginning`
   * says: everything in them arrived after this source started.
   */
  async function addTopics(handler: SourceHandler, topics: string[]): Promise<void> {
    try {
      if (subscribed.size > 0) {
        await consumer.stop();
        await Promise.allSettled(inFlight);
      }
      if (stopped) return;
      await consumer.subscribe({ topics, fromBeginning: true });
      for (const t of topics) subscribed.add(t);
      log.info("subscribed to new topics", { topics: topics.join(","), group: options.group });
    } catch (e) {
      log.warn("cannot subscribe to new topics, will retry", {
        topics: topics.join(","),
        error: e,
      });
    }
    // Whatever failed above, the topics subscribed before keep being consumed.
    if (!stopped && subscribed.size > 0) await runConsumer(handler);
  }

  async function watchTopics(handler: SourceHandler): Promise<void> {
    const every = options.topicRefreshMs ?? keyDefault("kafka.topic_refresh_ms");
    while (!stopped) {
      await abortableDelay(every, stopping.signal);
      if (stopped) return;
      try {
        const fresh = (await selectedTopics()).filter((t) => !subscribed.has(t));
        if (fresh.length === 0) continue;
        log.info("new topics match the configured patterns", {
          topics: fresh.join(","),
          patterns: options.topics.join(","),
        });
        resubscribing = addTopics(handler, fresh);
        await resubscribing;
      } catch (e) {
        log.warn("topic refresh failed, will retry", { error: e, delayMs: every });
      }
    }
  }

  async function run(handler: SourceHandler): Promise<void> {
    await retrying("reach Kafka", () => consumer.connect());
    const initial = await retrying("list topics", selectedTopics);
    if (stopped || initial === null) return;
    consumer.on(
      consumer.events.GROUP_JOIN,
      (e) => onGroupJoin(handler, e.payload),
    );
    if (initial.length > 0) {
      await consumer.subscribe({ topics: initial, fromBeginning: options.fromBeginning });
      for (const t of initial) subscribed.add(t);
      await runConsumer(handler);
    } else {
      log.warn("no topic matches the configured patterns yet", {
        patterns: options.topics.join(","),
      });
    }
    if (hasPatterns) await watchTopics(handler);
  }

  let running: Promise<void> | null = null;
  return {
    get description() {
      const base = `kafka ${options.brokers.join(",")} topics ${options.topics.join(",")}`;
      return hasPatterns ? `${base} (matching ${[...subscribed].join(",") || "none yet"})` : base;
    },
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
    membership: () => ({ ...membership, assigned: [...membership.assigned] }),
    finished: new Promise<void>(() => {}),
    async stop() {
      stopped = true;
      stopping.abort();
      membership.assigned = [];
      // A re-subscription may be joining the group: let it finish (it checks `stopped`
      // before running again) so no consumer runs on after the disconnect.
      await bounded(resubscribing, STOP_WAIT_MS);
      // kafkajs may be inside its own connection retries, which cannot be cut
      // short: do not let an unreachable broker hold the shutdown for long.
      await bounded(consumer.disconnect().catch(() => {}), STOP_WAIT_MS);
      await bounded(offsetsAdmin.disconnect().catch(() => {}), STOP_WAIT_MS);
      await bounded(running ?? Promise.resolve(), STOP_WAIT_MS);
    },
  };
}
