/**
 * How far each plugin's results are durable, kept beside the results under
 * the science root:
 *
 * - stream plugins: per plugin and topic-partition, a fenced commit log
 *   (`core/storage/fenced_log.ts`) under `_progress/<plugin>/<topic>+<p>/`
 *   whose latest record holds the next offset without durable results. A
 *   batch's result files are staged, then one record commits them with the
 *   progress that covers them, so results and progress move together, and a
 *   process that lost the partition (its archive no longer owns it) can no
 *   longer land either. Earlier versions' `<topic>+<p>.json` files are read.
 * - `started.json` marks a plugin that has run here, with where it started on
 *   every partition the archive had then (the archive's end): a partition it
 *   has no progress for starts there, or at its first offset when it is newer.
 * - batch plugins: `_progress/<plugin>/hours/<topic>.json` lists, per hour
 *   folder, the `partition+start+end` ranges of the archive files processed
 *   (written to a temporary name, then renamed).
 */
import {
  formatTopicPartition,
  parseTopicPartition,
  type TopicPartition,
  TopicPartitionMap,
} from "../source/topic_partition.ts";
import { parseJsonFile, readReplaced, replaceJson } from "../storage/atomic_replace.ts";
import {
  type Change,
  latestRecord,
  LogHold,
  type LogSession,
  newWriterId,
  openSession,
  type Owner,
  thisProcess,
} from "../storage/fenced_log.ts";
import type { Storage } from "../storage/storage.ts";

/** What a stream plugin's progress record holds. */
export interface ProgressState {
  /** The next offset whose results are not durable (decimal). */
  next: string;
}

/** The offset range of one archive file a batch plugin processed (its partition's). */
export interface ProcessedRange {
  partition: number;
  start: bigint;
  end: bigint;
}

/** Progress files of every plugin under one science root. */
export class ProgressStore {
  #storage: Storage;
  #owner: Owner;
  /** Names this process's sessions, so that one fenced by a newer one of its own says so. */
  #writer = newWriterId();
  #hours = new Map<string, Map<string, ProcessedRange[]>>();

  /** A store over the science root's storage; `owner` names this process in its records. */
  constructor(storage: Storage, owner: Owner = thisProcess()) {
    this.#storage = storage;
    this.#owner = owner;
  }

  /**
   * The next offset to process per topic-partition of a stream plugin, or
   * null when the plugin never ran here; for readers (they never write).
   */
  async streamProgress(plugin: string): Promise<TopicPartitionMap<bigint> | null> {
    const entries = await this.#storage.list(`_progress/${plugin}`);
    if (!entries.some((e) => e.name === "started.json")) return null;
    const found = new TopicPartitionMap<bigint>();
    for (const entry of entries) {
      if (entry.isDirectory) {
        const tp = parseTopicPartition(entry.name);
        const latest = tp === null
          ? null
          : await latestRecord<ProgressState>(this.#storage, entry.path);
        if (tp !== null && latest !== null) found.set(tp, BigInt(latest.record.state.next));
        continue;
      }
      // An earlier version's file, for a partition without a log yet.
      const tp = entry.name.endsWith(".json")
        ? parseTopicPartition(entry.name.slice(0, -".json".length))
        : null;
      if (tp === null || found.has(tp)) continue;
      const next = await readReplaced(this.#storage, entry.path, parseNext);
      if (next !== null) found.set(tp, next);
    }
    return found;
  }

  /**
   * Where a plugin started per topic-partition (see the module documentation),
   * or null when it never ran here.
   */
  async started(plugin: string): Promise<TopicPartitionMap<bigint> | null> {
    return await readReplaced(this.#storage, `_progress/${plugin}/started.json`, parseStarted);
  }

  /**
   * Marks a stream plugin as having run, starting at `from` (next offset per
   * topic-partition). Of several processes marking it at once the first one
   * wins; returns the start in force.
   */
  async markStarted(
    plugin: string,
    from: TopicPartitionMap<bigint>,
  ): Promise<TopicPartitionMap<bigint>> {
    const body = {
      at: new Date().toISOString(),
      from: Object.fromEntries(
        [...from].map(([tp, next]) => [formatTopicPartition(tp), next.toString()]),
      ),
    };
    const path = `_progress/${plugin}/started.json`;
    await this.#storage.createIfAbsent(path, new TextEncoder().encode(JSON.stringify(body)));
    return (await this.started(plugin)) ?? from;
  }

  /**
   * Takes over a stream plugin's progress on a partition: fences this process's
   * and other processes' earlier sessions, completes what they committed, and
   * returns the session. `start` is where the plugin starts when it has no progress
   * on the partition yet.
   */
  async acquire(plugin: string, tp: TopicPartition, start: bigint): Promise<ProgressSession> {
    const key = formatTopicPartition(tp);
    const session = await openSession<ProgressState>(this.#storage, {
      dir: `_progress/${plugin}/${key}`,
      staging: `_staging/${plugin}/${key}`,
      owner: this.#owner,
      initial: async () => {
        const legacy = await readReplaced(
          this.#storage,
          `_progress/${plugin}/${key}.json`,
          parseNext,
        );
        return { next: (legacy ?? start).toString() };
      },
      writer: this.#writer,
    });
    return new ProgressSession(tp, session);
  }

  /** The archive ranges processed per hour folder (below the topic folder) of a topic. */
  async hours(plugin: string, topic: string): Promise<Map<string, ProcessedRange[]>> {
    const key = `${plugin}/${topic}`;
    const cached = this.#hours.get(key);
    if (cached !== undefined) return cached;
    const parsed = await readReplaced(
      this.#storage,
      `_progress/${plugin}/hours/${topic}.json`,
      parseHours,
    );
    const hours = new Map<string, ProcessedRange[]>(
      Object.entries(parsed ?? {}).map(([hour, ranges]) => [hour, ranges.flatMap(parseRange)]),
    );
    this.#hours.set(key, hours);
    return hours;
  }

  /** Records the archive ranges of one hour folder as processed. */
  async saveHour(
    plugin: string,
    topic: string,
    hour: { folder: string; ranges: ProcessedRange[] },
  ): Promise<void> {
    const hours = await this.hours(plugin, topic);
    hours.set(hour.folder, hour.ranges);
    const written = [...hours].map(([folder, ranges]) => [folder, ranges.map(formatRange)]);
    await replaceJson(this.#storage, `_progress/${plugin}/hours/${topic}.json`, {
      hours: Object.fromEntries(written),
    });
  }
}

/** The next offset of a stream plugin's progress file; null when it is not whole. */
function parseNext(bytes: Uint8Array): bigint | null {
  const parsed = parseJsonFile(bytes) as { next?: unknown } | null;
  return typeof parsed?.next === "string" ? BigInt(parsed.next) : null;
}

/**
 * Where a plugin started per topic-partition, from `started.json`; null when it is
 * not whole. A file of an earlier version (no `from`) says nothing of any partition.
 */
function parseStarted(bytes: Uint8Array): TopicPartitionMap<bigint> | null {
  const parsed = parseJsonFile(bytes) as { at?: unknown; from?: Record<string, unknown> } | null;
  if (parsed === null || typeof parsed !== "object") return null;
  const found = new TopicPartitionMap<bigint>();
  for (const [key, next] of Object.entries(parsed.from ?? {})) {
    const tp = parseTopicPartition(key);
    if (tp !== null && typeof next === "string") found.set(tp, BigInt(next));
  }
  return found;
}

/** The ranges per hour folder of a batch plugin's progress file; null when it is not whole. */
function parseHours(bytes: Uint8Array): Record<string, string[]> | null {
  const parsed = parseJsonFile(bytes) as { hours?: unknown } | null;
  const hours = parsed?.hours;
  return hours !== null && typeof hours === "object" ? hours as Record<string, string[]> : null;
}

/** A processed range as the progress file keeps it: `partition+start+end`. */
function formatRange(range: ProcessedRange): string {
  return `${range.partition}+${range.start}+${range.end}`;
}

/** A range of the progress file; none for text of another form. */
function parseRange(text: string): ProcessedRange[] {
  const m = /^(\d+)\+(\d+)\+(\d+)$/.exec(text);
  return m === null ? [] : [{ partition: Number(m[1]), start: BigInt(m[2]), end: BigInt(m[3]) }];
}

/** This process's hold on one plugin's progress on one partition. */
export class ProgressSession extends LogHold<ProgressState> {
  /** Holds `tp` through `session`. */
  constructor(readonly tp: TopicPartition, session: LogSession<ProgressState>) {
    super(session);
  }

  /** The next offset without durable results, as of this session's last commit. */
  get next(): bigint {
    return BigInt(this.session.state.next);
  }

  /**
   * Records that results are durable up to (excluding) `next`, making the staged
   * result files visible and removing the ones they supersede, all or nothing;
   * `onlyIf` is asked at the commit's turn (see {@link Change.onlyIf}). Resolves
   * whether it was committed.
   */
  commit(
    next: bigint,
    change: Omit<Change<ProgressState>, "state"> = {},
  ): Promise<boolean> {
    return this.session.commit({ state: () => ({ next: next.toString() }), ...change });
  }
}
