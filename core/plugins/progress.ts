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
import { topicPartitionName } from "../archive/file_names.ts";
import type { Storage } from "../storage/storage.ts";

/** A topic-partition. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

const TMP = ".tmp";

/** Progress files of every plugin under one science root. */
export class ProgressStore {
  #storage: Storage;
  #hours = new Map<string, Map<string, string[]>>();

  /** A store over the science root's storage. */
  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /**
   * The next offset to process per `topic+partition` of a stream plugin, or
   * null when the plugin never ran here.
   */
  async streamProgress(plugin: string): Promise<Map<string, bigint> | null> {
    const entries = await this.#storage.list(`_progress/${plugin}`);
    if (!entries.some((e) => e.name === "started.json")) return null;
    const found = new Map<string, bigint>();
    for (const entry of entries) {
      const m = /^(.+\+\d+)\.json$/.exec(entry.name);
      if (entry.isDirectory || m === null) continue;
      const parsed = await this.#readJson(entry.path);
      if (typeof parsed?.next === "string") found.set(m[1], BigInt(parsed.next));
    }
    return found;
  }

  /** Marks a stream plugin as having run (see the module documentation). */
  async markStarted(plugin: string): Promise<void> {
    await this.#write(`_progress/${plugin}/started.json`, { at: new Date().toISOString() });
  }

  /** Records that results are durable up to (excluding) `next`. */
  async saveStream(plugin: string, tp: TopicPartition, next: bigint): Promise<void> {
    await this.#write(`_progress/${plugin}/${topicPartitionName(tp)}.json`, {
      next: next.toString(),
      at: new Date().toISOString(),
    });
  }

  /** The archive ranges (`partition+start+end`) processed per hour folder of a topic. */
  async hours(plugin: string, topic: string): Promise<Map<string, string[]>> {
    const key = `${plugin}/${topic}`;
    const cached = this.#hours.get(key);
    if (cached !== undefined) return cached;
    const parsed = await this.#readJson(`_progress/${plugin}/hours/${topic}.json`);
    const hours = new Map<string, string[]>(Object.entries(parsed?.hours ?? {}));
    this.#hours.set(key, hours);
    return hours;
  }

  /** Records the archive ranges of one hour folder as processed. */
  async saveHour(plugin: string, topic: string, hour: string, ranges: string[]): Promise<void> {
    const hours = await this.hours(plugin, topic);
    hours.set(hour, ranges);
    await this.#write(`_progress/${plugin}/hours/${topic}.json`, {
      hours: Object.fromEntries(hours),
    });
  }

  async #write(path: string, body: Record<string, unknown>): Promise<void> {
    await this.#storage.writeFile(path + TMP, new TextEncoder().encode(JSON.stringify(body)));
    await this.#storage.rename(path + TMP, path);
  }

  async #readJson(path: string): Promise<Record<string, any> | null> {
    // On HDFS a crash between the delete and the rename of a replace leaves only the copy.
    for (const candidate of [path, path + TMP]) {
      if (await this.#storage.stat(candidate) === null) continue;
      try {
        return JSON.parse(new TextDecoder().decode(await this.#storage.readFile(candidate)));
      } catch {
        // Torn by a crash while written: the other copy (or none) holds.
      }
    }
    return null;
  }
}
