/**
 * The archive service: source → batcher → encoder pool (both cores) →
 * exactly-once batch writer → storage, with counts at every stage, a status
 * for the API and a log line every few seconds.
 */
import type { Config } from "../config/mod.ts";
import { logger } from "../log.ts";
import type { Service } from "../services/service.ts";
import { createFilesSource } from "../source/files.ts";
import { createKafkaSource } from "../source/kafka.ts";
import type { ArchivedBatch } from "../plugins/archive_batches.ts";
import type { Membership, Source } from "../source/source.ts";
import { isClearableStorageError, oneLine, openStorage } from "../storage/mod.ts";
import type { Storage } from "../storage/storage.ts";
import { Batcher } from "./batcher.ts";
import { type BatchWrite, writeBatch } from "./batch_writer.ts";
import { EncoderPool } from "./encoder_pool.ts";
import type { EncodeOptions } from "./encoder.ts";
import { Compactor } from "./compactor.ts";
import { Ledger } from "./ledger.ts";
import { hourPathStart } from "./partitioner.ts";
import { listArchivedHours, listTopics } from "./reader.ts";
import { ArchiveStats } from "./stats.ts";

/** Options of {@link createArchiveService}. */
export interface ArchiveServiceOptions {
  /** Archive this folder of .avro files instead of consuming Kafka. */
  source?: string;
  /**
   * Called after each batch is committed, with its offset range and the Parquet
   * files it wrote (paths relative to `archive.root`): the plugin bus reads them
   * back. Awaited, so it must return quickly (the bus never waits for plugins).
   */
  onBatch?: (batch: ArchivedBatch) => Promise<void>;
  /**
   * Called once when the archive stops by itself on an error it cannot retry, with that
   * error on one line; the service manager then shows the service `failed`.
   */
  onFailed?: (reason: string) => void;
}

/** The archive as a service, plus its live figures. */
export interface ArchiveService extends Service {
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
  const storageProblem: StorageProblem = { current: null };
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
  /** Messages in the batch: they stop being in flight when it commits. */
  messages: number;
  /** Alerts decoded, archived or not. */
  decoded: number;
  /** Kafka timestamps of the batch's messages, for the latency figures. */
  timestamps: Float64Array;
}

/** What storage is failing on now, while the archive retries it; null when it works. */
interface StorageProblem {
  current: { message: string; since: string; retries: number } | null;
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
    storageProblem: StorageProblem;
    shutdown: AbortController;
  },
): Promise<Running> {
  const { stats, shutdown } = ctx;
  const storage = openStorage(config.string("archive.root"), {
    retry: {
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
    },
  });
  const ledger = new Ledger(storage);
  const compactor = new Compactor(storage, {
    targetBytes: config.number("archive.compact_target_mb") * 1024 * 1024,
    committed: (tp) => ledger.committed(tp),
  });
  const compactions = await compactor.recover();
  if (compactions > 0) log.info("finished interrupted compactions", { count: compactions });
  const recovery = await ledger.recover();
  if (recovery.rolledBack > 0) {
    log.info("rolled back uncommitted batches", {
      batches: recovery.rolledBack,
      files: recovery.removedFiles.length,
    });
  }
  const pool = new EncoderPool();
  const encodeOptions: EncodeOptions = {
    partition: {
      layout: config.string("archive.layout") as "plain" | "hive",
      field: config.string("archive.event_time"),
      unit: config.string("archive.event_time_unit") as "auto",
    },
    decoder: {
      mode: config.string("decode.mode") as "auto",
      schemaPath: config.string("decode.schema") || undefined,
      registryUrl: config.string("decode.registry") || undefined,
    },
  };
  const source = ctx.source !== undefined ? createFilesSource(ctx.source) : createKafkaSource({
    brokers: config.list("kafka.brokers"),
    topics: config.list("kafka.topics"),
    group: config.string("kafka.group"),
    clientId: config.string("kafka.client_id"),
    fromBeginning: config.string("kafka.start") === "earliest",
    sessionTimeoutMs: config.number("kafka.session_timeout_ms"),
    heartbeatMs: config.number("kafka.heartbeat_ms"),
    rebalanceTimeoutMs: config.number("kafka.rebalance_timeout_ms"),
    topicRefreshMs: config.number("kafka.topic_refresh_ms"),
  });

  /** Hour folders written since their last compaction, with their topic. */
  const dirtyHours = new Map<string, string>();
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
    async prepare(_tp, messages): Promise<PreparedBatch> {
      const encoded = await pool.encode(messages, { ...encodeOptions, ingestTime: Date.now() });
      return {
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
      const written = await writeBatch({ tp, ...batch }, { storage, ledger });
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
      const durable = Date.now();
      for (const t of timestamps) stats.recordLatency(durable - t);
      await source.commit(tp, end + 1n);
      try {
        await ctx.onBatch?.({ ...tp, startOffset: start, endOffset: end, files: written });
      } catch (e) {
        // The batch is archived; a plugin-side failure must not stop the archive.
        stats.addError(`plugins: ${(e as Error).message}`);
        log.warn("plugin dispatch failed", { ...tp, error: e });
      }
    },
  });

  await source.start({
    async onMessages(messages) {
      const tp = { topic: messages[0].topic, partition: messages[0].partition };
      const committed = await ledger.committed(tp);
      const counts = stats.partition(tp);
      if (counts.committedOffset === null && committed >= 0n) {
        counts.committedOffset = committed.toString();
      }
      await batcher.add(messages, committed);
    },
    async onAssigned(tps) {
      ledger.forget(tps);
      // Every assigned partition is in the figures from the start, idle or not.
      for (const tp of tps) {
        const counts = stats.partition(tp);
        const committed = await ledger.committed(tp).catch(() => -1n);
        if (counts.committedOffset === null && committed >= 0n) {
          counts.committedOffset = committed.toString();
        }
      }
    },
  });
  log.info("archive started", { source: source.description, root: storage.location });

  const ticker = setInterval(() => {
    stats.tick();
    for (const p of source.positions()) {
      const c = stats.partition(p);
      const committed = c.committedOffset === null ? -1n : BigInt(c.committedOffset);
      c.lag = Number(p.highWatermark - committed - 1n);
    }
  }, 1000);
  const logger = setInterval(() => logFigures(stats, batcher), LOG_EVERY_MS);
  const closedAfterMs = config.number("archive.compact_after_minutes") * 60_000;
  // Hours written before this start (a stop, a crash) are compacted like the new ones, now.
  let compacting = earlierHours(storage, dirtyHours).catch((e) => {
    log.warn("could not list the archived hours; only new ones get compacted", { error: e });
  });
  const compactPass = () => {
    compacting = compacting.then(() => compactClosedHours(compactor, dirtyHours, closedAfterMs))
      .catch((e) => {
        stats.addError(`compaction: ${(e as Error).message}`);
        log.warn("compaction failed, will retry", { error: e });
      });
  };
  compactPass();
  const compactionTimer = setInterval(compactPass, COMPACT_EVERY_MS);
  const failureWatch = setInterval(() => {
    if (batcher.failed !== null) {
      const reason = oneLine(batcher.failed.message);
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

/** Compacts the written hours that are closed (their end is `closedAfterMs` in the past). */
async function compactClosedHours(
  compactor: Compactor,
  dirtyHours: Map<string, string>,
  closedAfterMs: number,
): Promise<void> {
  for (const [dir, topic] of [...dirtyHours]) {
    const start = hourPathStart(dir);
    if (start === null || start + HOUR_MS + closedAfterMs > Date.now()) continue;
    const result = await compactor.compactHour(topic, dir);
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
  storageProblem: StorageProblem["current"],
): Record<string, unknown> {
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
    ].filter((p) => p),
    ...stats.figures(running?.batcher.buffered.messages ?? 0),
  };
}
