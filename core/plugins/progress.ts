/**
 * How far each plugin's results are durable, kept beside the results under
 * the science root (written to a temporary name, then renamed):
 *
 * - stream plugins: `_progress/<plugin>/<topic>+<partition>.json` holds the
 *   next offset whose results are not yet durable; `started.json` marks a
 *   plugin that has run, so a topic-partition it has no file for is new to
 *   the archive (read from its first offset) rather than older than the plugin;
 * - batch plugins: `_progress/<plugin>/hours/<topic>.json` lists, per hour
 *   folder, the `partition+start+end` ranges of the archive files processed.
 */
import {
  formatTopicPartition,
  parseTopicPartition,
  type TopicPartition,
  TopicPartitionMap,
} from "../source/topic_partition.ts";
import { parseJsonFile, readReplaced, replaceJson } from "../storage/atomic_replace.ts";
import type { Storage } from "../storage/storage.ts";

/** The offset range of one archive file a batch plugin processed (its partition's). */
export interface ProcessedRange {
  partition: number;
  start: bigint;
  end: bigint;
}

/** Progress files of every plugin under one science root. */
export class ProgressStore {
  #storage: Storage;
  #hours = new Map<string, Map<string, ProcessedRange[]>>();

  /** A store over the science root's storage. */
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /**
   * The next offset to process per topic-partition of a stream plugin, or
   * null when the plugin never ran here.
   */
  async streamProgress(plugin: string): Promise<TopicPartitionMap<bigint> | null> {
    const entries = await this.#storage.list(`_progress/${plugin}`);
    if (!entries.some((e) => e.name === "started.json")) return null;
    const found = new TopicPartitionMap<bigint>();
    for (const entry of entries) {
      const tp = entry.isDirectory || !entry.name.endsWith(".json")
        ? null
        : parseTopicPartition(entry.name.slice(0, -".json".length));
      if (tp === null) continue;
      const next = await readReplaced(this.#storage, entry.path, parseNext);
      if (next !== null) found.set(tp, next);
    }
    return found;
  }

  /** Marks a stream plugin as having run (see the module documentation). */
  async markStarted(plugin: string): Promise<void> {
    await replaceJson(this.#storage, `_progress/${plugin}/started.json`, {
      at: new Date().toISOString(),
    });
  }

  /** Records that results are durable up to (excluding) `next`. */
  async saveStream(plugin: string, tp: TopicPartition, next: bigint): Promise<void> {
    await replaceJson(this.#storage, `_progress/${plugin}/${formatTopicPartition(tp)}.json`, {
      next: next.toString(),
      at: new Date().toISOString(),
    });
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
