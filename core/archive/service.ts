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
import type { Source } from "../source/source.ts";
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
import { Ledger } from "./ledger.ts";
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
  const ledger = new Ledger(storage);
  const compactor = new Compactor(compactionStorage, {
    targetBytes: config.number("archive.compact_target_mb") * 1024 * 1024,
    committed: (tp) => ledger.committed(tp),
    graceMs: config.number("archive.compact_grace_minutes") * 60_000,
  });
  const compactions = await compactor.recover();
  if (compactions > 0) log.info("rolled back interrupted compactions", { count: compactions });
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
      topicRefreshMs: config.number("kafka.topic_refresh_ms"),
      onFetch,
    });

  /** Gives a committed batch to every consumer; the batch is archived whatever they do with it. */
  const handOn = async (batch: ArchivedBatch) => {
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
      const t0 = performance.now();
      const encoded = await pool.encode(messages, { ...encodeOptions, ingestTime: Date.now() });
      const { decodeMs, encodeMs } = encoded.timings;
      stats.stages.add("decode", decodeMs);
      stats.stages.add("encode", encodeMs);
      stats.stages.add("queue", performance.now() - t0 - decodeMs - encodeMs);
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
      const written = await stats.stages.time(
        "flush",
        () => writeBatch({ tp, ...batch }, { storage, ledger }),
      );
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

  await source.start({
    async onMessages(messages) {
      const tp = { topic: messages[0].topic, partition: messages[0].partition };
      const committed = await ledger.committed(tp);
      const counts = stats.partition(tp);
      if (counts.committedOffset === null && committed >= 0n) {
        counts.committedOffset = committed.toString();
      }
      await stats.stages.time("wait", () => batcher.add(messages, committed));
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
  const deleted = await compactor.expire();
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
