/**
 * All partition logs of the broker: topic creation and deletion, recovery of
 * topics from `<dataDir>/<topic>-<partition>/` folders on start, periodic
 * flush (fdatasync) and retention.
 */
import { join } from "node:path";
import { BatchCache } from "./batch_cache.ts";
import { PartitionLog, type RetentionLimits } from "./partition_log.ts";

export { PartitionLog } from "./partition_log.ts";

/** How the topic store keeps its data. */
export interface LogStoreOptions extends RetentionLimits {
  /** Root folder; null keeps every topic in memory. */
  dataDir: string | null;
  segmentBytes: number;
  segmentMs: number;
  /** Bytes of recent batches kept in memory for Fetch (disk mode). */
  cacheBytes: number;
  /** How often written segments are synced to disk (ms). */
  flushIntervalMs: number;
  /** How often retention runs (ms). */
  retentionCheckMs: number;
}

/** Thrown for a topic that cannot be created, with the Kafka error it maps to. */
export class TopicError extends Error {
  override name = "TopicError";
  constructor(readonly code: "invalid_name" | "exists" | "invalid_partitions", message: string) {
    super(message);
  }
}

const MAX_PARTITIONS = 10_000;
/** Folders of the data dir that are not topic partitions (the group coordinator's offsets). */
const RESERVED = new Set(["__consumer_offsets"]);

/** Checks a topic name the way Kafka does: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
export function validateTopicName(name: string): void {
  if (
    !/^[a-zA-Z0-9._-]{1,249}$/.test(name) || name === "." || name === ".." || RESERVED.has(name)
  ) {
    throw new TopicError(
      "invalid_name",
      `Invalid topic name ${JSON.stringify(name)}: expected 1-249 characters of [a-zA-Z0-9._-]`,
    );
  }
}

/** Topics and their partition logs. */
export class LogStore {
  readonly #topics = new Map<string, PartitionLog[]>();
  readonly #cache: BatchCache | null;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** The timer's flush under way; a tick finding one skips. */
  #flushing: Promise<void> | null = null;

  private constructor(readonly options: LogStoreOptions) {
    this.#cache = options.dataDir === null ? null : new BatchCache(options.cacheBytes);
  }

  /** Opens the store, recovering every topic found under `dataDir`, and starts its timers. */
  static open(options: LogStoreOptions): LogStore {
    const store = new LogStore(options);
    if (options.dataDir !== null) store.#recover(options.dataDir);
    if (options.dataDir !== null && options.flushIntervalMs > 0) {
      store.#timers.push(
        setInterval(() => store.#tick(), options.flushIntervalMs),
      );
    }
    if (options.retentionCheckMs > 0) {
      store.#timers.push(
        setInterval(
          () => guarded("retention", () => store.enforceRetention()),
          options.retentionCheckMs,
        ),
      );
    }
    return store;
  }

  #recover(dataDir: string): void {
    Deno.mkdirSync(dataDir, { recursive: true });
    const found = new Map<string, number>();
    for (const entry of Deno.readDirSync(dataDir)) {
      const m = /^(.+)-(\d+)$/.exec(entry.name);
      if (!entry.isDirectory || !m || RESERVED.has(m[1])) continue;
      found.set(m[1], Math.max(found.get(m[1]) ?? 0, Number(m[2]) + 1));
    }
    for (const [topic, partitions] of found) {
      const logs: PartitionLog[] = [];
      for (let p = 0; p < partitions; p++) logs.push(this.#openPartition(topic, p));
      this.#topics.set(topic, logs);
    }
  }

  #openPartition(topic: string, partition: number): PartitionLog {
    const dataDir = this.options.dataDir;
    return PartitionLog.open({
      dir: dataDir === null ? null : join(dataDir, `${topic}-${partition}`),
      segmentBytes: this.options.segmentBytes,
      segmentMs: this.options.segmentMs,
      cache: this.#cache,
    });
  }

  /** Creates a topic; throws {@link TopicError} on a bad name or count, or when it exists. */
  createTopic(name: string, partitions: number, validateOnly = false): void {
    validateTopicName(name);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
      throw new TopicError(
        "invalid_partitions",
        `Invalid partition count ${partitions}: expected 1 to ${MAX_PARTITIONS}`,
      );
    }
    if (this.#topics.has(name)) {
      throw new TopicError("exists", `Topic ${JSON.stringify(name)} already exists`);
    }
    if (validateOnly) return;
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++) logs.push(this.#openPartition(name, p));
    this.#topics.set(name, logs);
  }

  /** Deletes a topic and its files; returns false when it does not exist. */
  deleteTopic(name: string): boolean {
    const logs = this.#topics.get(name);
    if (!logs) return false;
    this.#topics.delete(name);
    for (const log of logs) log.destroy();
    return true;
  }

  /** The log of a partition, or undefined when the topic or partition does not exist. */
  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.#topics.get(topic)?.[partition];
  }

  /** Number of partitions of a topic, or undefined when it does not exist. */
  partitionsOf(topic: string): number | undefined {
    return this.#topics.get(topic)?.length;
  }

  /** Names of all topics with their partition counts, sorted by name. */
  topics(): { name: string; partitions: number }[] {
    return [...this.#topics].map(([name, logs]) => ({ name, partitions: logs.length }))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /**
   * Syncs all written data to disk, off the event loop (fdatasync of a
   * second of alerts took 0.2-0.7 s here, during which nothing was answered).
   */
  async flush(): Promise<void> {
    const logs = [...this.#topics.values()].flat();
    await Promise.all(logs.map((log) => log.flush()));
  }

  /** Resolves once every batch appended so far, in every partition, is written (or failed to be). */
  async settled(): Promise<void> {
    const logs = [...this.#topics.values()].flat();
    await Promise.allSettled(logs.map((log) => log.settled()));
  }

  #tick(): void {
    if (this.#flushing) return;
    this.#flushing = this.flush()
      .catch((error) => logFailure("flush", error))
      .finally(() => this.#flushing = null);
  }

  /** Applies the size and age limits to every partition; returns the number of segments deleted. */
  enforceRetention(now = Date.now()): number {
    let deleted = 0;
    for (const logs of this.#topics.values()) {
      for (const log of logs) deleted += log.enforceRetention(this.options, now);
    }
    return deleted;
  }

  /** Stops the timers, flushes and closes every file. */
  close(): void {
    for (const t of this.#timers) clearInterval(t);
    for (const logs of this.#topics.values()) for (const log of logs) log.close();
  }
}

/** Logs a timer task's failure: a disk error must not end the process. */
function logFailure(task: string, error: unknown): void {
  console.error(
    JSON.stringify({ component: "broker.log", event: `${task}_failed`, error: String(error) }),
  );
}

/** Runs a timer task, logging instead of throwing. */
function guarded(task: string, run: () => unknown): void {
  try {
    run();
  } catch (error) {
    logFailure(task, error);
  }
}
