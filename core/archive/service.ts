/**
 * The archive service: source → batcher → encoder pool (both cores) →
 * exactly-once batch writer → storage, with counts at every stage, a status
 * for the API and a log line every few seconds.
 *
 * Several processes may archive into one root as members of one consumer
 * group: at every assignment this process takes over each partition in the
 * ledger (fencing its earlier owners) before it reads any of its messages,
 * and resumes after the ledger's committed offset. A batch whose commit is
 * fenced (the partition moved while it was being written) is dropped and
 * logged; the new owner reads it again.
 */
import type { Config } from "../config/mod.ts";
import { logger } from "../log.ts";
import type { Service } from "../services/service.ts";
import { createFilesSource } from "../source/files.ts";
import { createKafkaSource } from "../source/kafka.ts";
import type { Membership, ResumePoint, Source } from "../source/source.ts";
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";
import { FencedError, type Owner, thisProcess } from "../storage/fenced_log.ts";
import {
  isClearableStorageError,
  oneLine,
  openStorage,
  type RetryOptions,
} from "../storage/mod.ts";
import type { Storage } from "../storage/storage.ts";
import { Batcher } from "./batcher.ts";
import { type BatchWrite, writeBatch } from "./batch_writer.ts";
import type { ArchiveConsumer, ArchivedBatch } from "./consumers.ts";
import { EncoderPool } from "./encoder_pool.ts";
import type { EncodeOptions } from "./encoder.ts";
import { Compactor } from "./compactor.ts";
import { Ledger, type PartitionLedger } from "./ledger.ts";
import type { Ownership } from "./ownership.ts";
import { hourPathStart } from "./partitioner.ts";
import { listArchivedHours, listTopics } from "./reader.ts";
import { type ArchiveFigures, ArchiveStats } from "./stats.ts";

/** Options of {@link createArchiveService}. */
export interface ArchiveServiceOptions {
  /** Archive this folder of .avro files instead of consuming Kafka. */
  source?: string;
  /**
   * Who takes each committed batch, in this order (see consumers.ts): its offset
   * range and the Parquet files it wrote. Default none.
   */
  consumers?: ArchiveConsumer[];
  /**
   * Called once when the archive stops by itself on an error it cannot retry, with that
   * error on one line; the service manager then shows the service `failed`.
   */
  onFailed?: (reason: string) => void;
  /**
   * Told the partitions this process owns after each assignment, once the ledger took
   * them over: what comes after the archive (plugins, distribution) works on those, also
   * once the archive stopped, until another node takes them over and fences them off.
   */
  ownership?: Ownership;
}

/** What storage is failing on while the archive retries it. */
export interface StorageProblem {
  /** The backend's error, on one line. */
  message: string;
  /** When it started failing. */
  since: string;
  /** Retries so far. */
  retries: number;
}

/** The archive's details: where it reads and writes, its problems and its figures. */
export interface ArchiveSnapshot extends ArchiveFigures {
  /** The source's description, or null when the archive is not running. */
  source: string | null;
  /** Where it writes, or null when it is not running. */
  storage: string | null;
  /** Whether the source (Kafka) is connected; storage has its own field. */
  connected: boolean;
  /** What storage is failing on now, or null when it works. */
  storageProblem: StorageProblem | null;
  /** Current problems, one line each (source down, storage failing, a fatal error). */
  problems: string[];
}

/** The archive as a service, plus its live figures. */
export interface ArchiveService extends Service<ArchiveSnapshot> {
  details(): ArchiveSnapshot;
  readonly stats: ArchiveStats;
  /** Resolves when a finite source (files) has been archived completely. */
  idle(): Promise<void>;
  /** This process's consumer group membership while the archive consumes Kafka, else null. */
  membership(): Membership | null;
}

const log = logger("archive");
const LOG_EVERY_MS = 5000;
const COMPACT_EVERY_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Builds the archive service from the configuration. */
export function createArchiveService(
  config: Config,
  options: ArchiveServiceOptions = {},
): ArchiveService {
  let stats = new ArchiveStats();
  let running: Running | null = null;
  const storageProblem: StorageProblemHolder = { current: null };
  /** Ends the storage retries of the current run: a stop while storage still refuses us. */
  let shutdown = new AbortController();

  return {
    name: "archive",
    kind: "builtin",
    description: "Alerts from Kafka to hourly Parquet, exactly once",
    get stats() {
      return stats;
    },
    async start() {
      // Until the group assigns partitions, nothing downstream competes with the other nodes.
      if (options.source === undefined) options.ownership?.expectAssignment();
      // A start after the archive failed by itself replaces what is left of that run.
      await running?.stop().catch(() => {});
      running = null;
      stats = new ArchiveStats();
      storageProblem.current = null;
      shutdown = new AbortController();
      running = await startArchive(config, { ...options, stats, storageProblem, shutdown });
    },
    async stop() {
      // Still starting (recovery retrying a storage that refuses us): give up the retries.
      if (running === null) shutdown.abort();
      await running?.stop();
      running = null;
    },
    async idle() {
      await running?.source.finished;
      await running?.batcher.flushAll();
    },
    membership: () => running?.source.membership() ?? null,
    details() {
      return archiveDetails(stats, running, storageProblem.current);
    },
  };
}

/**
 * An encoded batch waiting for its turn to be written: all the batcher keeps of
 * it, so the raw messages are freed once encoded.
 */
interface PreparedBatch extends Omit<BatchWrite, "tp"> {
  /** The partition's ledger session its messages were taken under: the one it commits with. */
  ledger: PartitionLedger;
  /** Messages in the batch: they stop being in flight when it commits. */
  messages: number;
  /** Alerts decoded, archived or not. */
  decoded: number;
  /** Kafka timestamps of the batch's messages, for the latency figures. */
  timestamps: Float64Array;
}

/** What storage is failing on now, while the archive retries it; null when it works. */
interface StorageProblemHolder {
  current: StorageProblem | null;
}

interface Running {
  source: Source;
  batcher: Batcher<PreparedBatch>;
  storage: Storage;
  stop(): Promise<void>;
}

async function startArchive(
  config: Config,
  ctx: ArchiveServiceOptions & {
    stats: ArchiveStats;
    storageProblem: StorageProblemHolder;
    shutdown: AbortController;
  },
): Promise<Running> {
  const { stats, shutdown } = ctx;
  const retry: RetryOptions = {
    // Nothing is lost while storage is down, full, read-only or refusing us: the
    // archive waits (the consumer pauses) until an operator clears the problem.
    maxAttempts: Infinity,
    isTransient: isClearableStorageError,
    signal: shutdown.signal,
    onRetry: (r) => {
      const message = oneLine((r.error as Error).message);
      const problem = ctx.storageProblem.current;
      ctx.storageProblem.current = {
        message,
        since: problem?.since ?? new Date().toISOString(),
        retries: (problem?.retries ?? 0) + 1,
      };
      stats.addError(`storage ${r.op} ${r.path} failed (attempt ${r.attempt}): ${message}`);
      log.warn("storage failing, retrying", {
        op: r.op,
        path: r.path,
        attempt: r.attempt,
        delayMs: r.delayMs,
        error: message,
      });
    },
    onRecovered: (r) => {
      ctx.storageProblem.current = null;
      log.info("storage recovered", { op: r.op, attempts: r.attempts, waitedMs: r.waitedMs });
    },
  };
  const root = config.string("archive.root");
  const storage = openStorage(root, { retry, onIo: (e) => stats.stages.addIo(e) });
  // Its own instance, so that its disk time is told apart from the batches'.
  const compactionStorage = openStorage(root, {
    retry,
    onIo: (e) => stats.stages.addCompactionIo(e),
  });
  const owner: Owner = thisProcess();
  const ledger = new Ledger(storage, owner);
  /** The partitions this process holds, each being taken over (a promise of its ledger session). */
  const held = new TopicPartitionMap<{ tp: TopicPartition; taking: Promise<PartitionLedger> }>();
  const sessions = new TopicPartitionMap<PartitionLedger>();
  /** Why taking over a partition failed (storage refused in a way retries cannot fix). */
  let takeoverFailure: Error | null = null;
  const compactor = new Compactor(compactionStorage, {
    targetBytes: config.number("archive.compact_target_mb") * 1024 * 1024,
    graceMs: config.number("archive.compact_grace_minutes") * 60_000,
  });
  const pool = new EncoderPool();
  const encodeOptions: EncodeOptions = {
    partition: {
      layout: config.choice("archive.layout"),
      field: config.string("archive.event_time"),
      unit: config.choice("archive.event_time_unit"),
    },
    decoder: {
      mode: config.choice("decode.mode"),
      schemaPath: config.string("decode.schema") || undefined,
      registryUrl: config.string("decode.registry") || undefined,
    },
  };
  const onFetch = (ms: number) => stats.stages.add("fetch", ms);
  const source = ctx.source !== undefined
    ? createFilesSource(ctx.source, { onFetch })
    : createKafkaSource({
      brokers: config.list("kafka.brokers"),
      topics: config.list("kafka.topics"),
      group: config.string("kafka.group"),
      clientId: config.string("kafka.client_id"),
      fromBeginning: config.choice("kafka.start") === "earliest",
      sessionTimeoutMs: config.number("kafka.session_timeout_ms"),
      heartbeatMs: config.number("kafka.heartbeat_ms"),
      rebalanceTimeoutMs: config.number("kafka.rebalance_timeout_ms"),
      topicRefreshMs: config.number("kafka.topic_refresh_ms"),
      onFetch,
    });

  /** Gives a committed batch to every consumer; the batch is archived whatever they do with it. */
  const handOn = async (batch: ArchivedBatch) => {
    ctx.ownership?.archived(batch);
    for (const consumer of ctx.consumers ?? []) {
      try {
        await consumer.onArchived(batch);
      } catch (e) {
        stats.addError(`${consumer.name}: ${(e as Error).message}`);
        log.warn("an archive consumer failed on a committed batch", {
          consumer: consumer.name,
          topic: batch.topic,
          partition: batch.partition,
          error: e,
        });
      }
    }
  };

  /** Hour folders written since their last compaction, with their topic. */
  const dirtyHours = new Map<string, string>();
  const closedAfterMs = config.number("archive.compact_after_minutes") * 60_000;
  let compacting: Promise<void> = Promise.resolve();
  /**
   * Hours already in the archive (written before this start, or by the partitions' earlier
   * owners) are compacted like the new ones: listed again whenever this process gains a
   * partition, each hour then merged for the partitions this process owns.
   */
  const compactPass = () => {
    compacting = compacting.then(() =>
      compactClosedHours(compactor, dirtyHours, {
        closedAfterMs,
        owned: (tp) => {
          const session = sessions.get(tp);
          return session === undefined || session.fenced !== null ? null : session;
        },
        held: () => [...sessions.values()].filter((session) => session.fenced === null),
      })
    ).catch((e) => {
      if (e instanceof FencedError) {
        log.info("compaction stopped: the partition was taken over", { error: e.message });
        return;
      }
      stats.addError(`compaction: ${(e as Error).message}`);
      log.warn("compaction failed, will retry", { error: e });
    });
  };
  const compactEarlierHours = () => {
    compacting = compacting.then(() => earlierHours(storage, dirtyHours)).catch((e) => {
      log.warn("could not list the archived hours; only new ones get compacted", { error: e });
    });
    compactPass();
  };
  const batcher = new Batcher({
    maxMessages: config.number("batch.max_alerts"),
    maxBytes: config.number("batch.max_mb") * 1024 * 1024,
    maxMs: config.number("batch.max_ms"),
    maxBufferedBytes: config.number("batch.buffer_mb") * 1024 * 1024,
    onAccept(m) {
      const counts = stats.partition(m);
      counts.received++;
      counts.inFlight++;
      counts.bytesIn += m.value.byteLength;
    },
    onDrop(tp, count) {
      // Revoked before it was archived: the partition's next owner receives them again.
      const counts = stats.partition(tp);
      counts.received -= count;
      counts.inFlight -= count;
    },
    async prepare(tp, messages): Promise<PreparedBatch> {
      // Cut now, under the session its messages were taken under (a takeover forgets them).
      const session = sessions.get(tp)!;
      const t0 = performance.now();
      const encoded = await pool.encode(messages, { ...encodeOptions, ingestTime: Date.now() });
      const { decodeMs, encodeMs } = encoded.timings;
      stats.stages.add("decode", decodeMs);
      stats.stages.add("encode", encodeMs);
      stats.stages.add("queue", performance.now() - t0 - decodeMs - encodeMs);
      return {
        ledger: session,
        start: messages[0].offset,
        end: messages[messages.length - 1].offset,
        messages: messages.length,
        files: encoded.files,
        decoded: encoded.decoded,
        quarantined: encoded.quarantined.map((q) => ({
          ...q,
          timestamp: messages.find((m) => m.offset === q.offset)?.timestamp,
        })),
        timestamps: Float64Array.from(messages, (m) => m.timestamp),
      };
    },
    async flush(tp, batch) {
      const { start, end, quarantined, timestamps } = batch;
      const counts = stats.partition(tp);
      let written;
      try {
        written = await stats.stages.time(
          "flush",
          () => writeBatch({ tp, ...batch }, { storage, ledger: batch.ledger }),
        );
      } catch (error) {
        if (!(error instanceof FencedError)) throw error;
        // Not archived here: the partition's owner now reads these messages again.
        counts.received -= batch.messages;
        counts.inFlight -= batch.messages;
        fenced(tp, { start, end }, error);
        return;
      }
      for (const f of written) {
        stats.addFile(tp.topic, f.hour, f.rows, f.size);
        dirtyHours.set(`${tp.topic}/${f.hour}`, tp.topic);
      }
      for (const q of quarantined) {
        log.warn("alert quarantined", {
          topic: tp.topic,
          partition: tp.partition,
          offset: q.offset,
          reason: q.reason,
        });
        stats.addError(`${tp.topic}[${tp.partition}]@${q.offset}: ${q.reason}`);
      }
      counts.decoded += batch.decoded;
      counts.archived += written.reduce((n, f) => n + f.rows, 0);
      counts.quarantined += quarantined.length;
      counts.inFlight -= batch.messages;
      counts.committedOffset = end.toString();
      stats.lastCommit = { at: new Date().toISOString(), ...tp, offset: end.toString() };
      stats.recordLatencies(tp.topic, Date.now(), timestamps);
      await source.commit(tp, end + 1n);
      await handOn({ ...tp, startOffset: start, endOffset: end, files: written });
    },
  });

  /** Logs a batch the ledger refused; a fence by another process ends this process's hold. */
  function fenced(tp: TopicPartition, range: { start: bigint; end: bigint }, error: FencedError) {
    const fields = { ...tp, start: range.start, end: range.end };
    if (error.by.ours) {
      log.info(
        "batch dropped: this process took the partition over again after a rebalance",
        fields,
      );
      return;
    }
    const by = error.by.record?.owner;
    log.warn("fenced: cannot commit this batch, the partition was taken over by another process", {
      ...fields,
      by: by?.member ?? "unknown",
      host: by?.host,
      pid: by?.pid,
      record: error.by.slot,
    });
    stats.addError(`${tp.topic}[${tp.partition}]: ${error.message}`);
  }

  /**
   * Takes over the partitions of a new assignment (the kept ones too: another process may
   * have held them in between, unknown to this one while it was paused) before any of their
   * messages is taken, and says where each resumes.
   */
  async function assign(tps: TopicPartition[]): Promise<ResumePoint[]> {
    owner.member = source.membership()?.memberId ?? null;
    const before = new TopicPartitionMap([...held.keys()].map((tp) => [tp, true] as const));
    const wanted = new TopicPartitionMap(tps.map((tp) => [tp, true] as const));
    const revoked = [...held.values()].map((h) => h.tp).filter((tp) => !wanted.has(tp));
    batcher.forget([...tps, ...revoked]);
    for (const tp of [...revoked, ...tps]) {
      held.delete(tp);
      sessions.delete(tp);
    }
    for (const tp of revoked) stats.partition(tp).lag = null;
    const committed = new TopicPartitionMap<bigint>();
    const takeovers = Promise.all(tps.map((tp) => {
      const taking = ledger.acquire(tp).then((session) => {
        if (held.get(tp)?.taking === taking) sessions.set(tp, session);
        return session;
      });
      held.set(tp, { tp, taking });
      return taking.then((session) => {
        // Every assigned partition is in the figures from the start, idle or not.
        const counts = stats.partition(tp);
        if (session.committed >= 0n) counts.committedOffset = session.committed.toString();
        committed.set(tp, session.committed);
        return { ...tp, next: session.committed >= 0n ? session.committed + 1n : null };
      });
    }));
    let points: ResumePoint[];
    try {
      points = await takeovers;
    } catch (error) {
      takeoverFailure ??= error as Error;
      throw error;
    }
    if (tps.some((tp) => !before.has(tp))) compactEarlierHours();
    log.info("partitions taken over", {
      partitions: tps.map((tp) => `${tp.topic}[${tp.partition}]`).join(",") || "none",
    });
    ctx.ownership?.assign(tps, committed);
    return points;
  }

  await source.start({
    async onMessages(messages) {
      const key = { topic: messages[0].topic, partition: messages[0].partition };
      const taking = held.get(key)?.taking;
      const session = await taking;
      // Not this process's any more, taken over again meanwhile, or fenced: the owner (this
      // process's newer session, or another) reads these messages from its committed offset.
      const current = held.get(key)?.taking === taking;
      if (session === undefined || !current || session.fenced !== null) return;
      await stats.stages.time("wait", () => batcher.add(messages, session.committed));
    },
    onAssigned: assign,
  });
  log.info("archive started", {
    source: source.description,
    root: storage.location,
    consumers: (ctx.consumers ?? []).map((c) => c.name),
  });

  const ticker = setInterval(() => {
    stats.tick();
    for (const p of source.positions()) {
      const c = stats.partition(p);
      const committed = c.committedOffset === null ? -1n : BigInt(c.committedOffset);
      c.lag = Number(p.highWatermark - committed - 1n);
    }
  }, 1000);
  const logger = setInterval(() => logFigures(stats, batcher), LOG_EVERY_MS);
  const compactionTimer = setInterval(compactPass, COMPACT_EVERY_MS);
  const failureWatch = setInterval(() => {
    const failure = batcher.failed ?? takeoverFailure;
    if (failure !== null) {
      const reason = oneLine(failure.message);
      log.error("archive stopped on an error it cannot retry; fix it, then start archive", {
        error: reason,
      });
      clearInterval(failureWatch);
      source.stop();
      ctx.onFailed?.(reason);
    }
  }, 1000);

  return {
    source,
    batcher,
    storage,
    async stop() {
      clearInterval(ticker);
      clearInterval(logger);
      clearInterval(failureWatch);
      clearInterval(compactionTimer);
      await compacting;
      await source.stop();
      // Flush what is buffered, but do not wait forever on a storage that stays down.
      const giveUp = setTimeout(() => shutdown.abort(), 30_000);
      await batcher.close();
      clearTimeout(giveUp);
      await pool.close();
      logFigures(stats, batcher);
      log.info("archive stopped");
    },
  };
}

/** Adds every hour folder already in the archive to `dirtyHours`. */
async function earlierHours(storage: Storage, dirtyHours: Map<string, string>): Promise<void> {
  for (const topic of await listTopics(storage)) {
    for (const { dir } of await listArchivedHours(storage, topic)) dirtyHours.set(dir, topic);
  }
}

/**
 * Compacts the written hours that are closed (their end is `closedAfterMs` in the past),
 * for the partitions `owned` gives a ledger session for.
 */
async function compactClosedHours(
  compactor: Compactor,
  dirtyHours: Map<string, string>,
  options: {
    closedAfterMs: number;
    owned(tp: TopicPartition): PartitionLedger | null;
    /** The sessions this process holds now, whose pending merges it expires. */
    held(): PartitionLedger[];
  },
): Promise<void> {
  for (const [dir, topic] of [...dirtyHours]) {
    const start = hourPathStart(dir);
    if (start === null || start + HOUR_MS + options.closedAfterMs > Date.now()) continue;
    const result = await compactor.compactHour(
      topic,
      dir,
      (partition) => options.owned({ topic, partition }),
    );
    dirtyHours.delete(dir);
    if (result.written > 0) {
      log.info("hour compacted", {
        topic,
        hour: dir,
        merged: result.merged,
        files: result.written,
      });
    }
  }
  const deleted = await compactor.expire(options.held());
  if (deleted > 0) log.info("deleted merged files past their grace", { files: deleted });
}

function logFigures(stats: ArchiveStats, batcher: Batcher): void {
  const r = stats.rates();
  log.info("figures", {
    in_per_s: r.inPerSecond,
    out_per_s: r.outPerSecond,
    mb_in_per_s: r.mbInPerSecond,
    received: stats.total("received"),
    archived: stats.total("archived"),
    quarantined: stats.total("quarantined"),
    in_flight: stats.total("inFlight"),
    buffered: batcher.buffered.messages,
    files: stats.filesWritten,
    last_commit: stats.lastCommit?.at,
  });
}

function archiveDetails(
  stats: ArchiveStats,
  running: Running | null,
  storageProblem: StorageProblem | null,
): ArchiveSnapshot {
  const health = running?.source.health() ?? { connected: false, error: null };
  const failed = running?.batcher.failed;
  return {
    source: running?.source.description ?? null,
    storage: running?.storage.location ?? null,
    // The source (Kafka) only; storage has its own field.
    connected: health.connected,
    storageProblem,
    problems: [
      health.error,
      storageProblem && `storage: ${storageProblem.message}`,
      failed && oneLine(failed.message),
    ].filter((p): p is string => typeof p === "string" && p !== ""),
    ...stats.figures(running?.batcher.buffered.messages ?? 0),
  };
}
