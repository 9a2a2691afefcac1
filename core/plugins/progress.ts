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
 *   folder, the `partition+start+end` ranges of the archive files processed.
 */
import {
  latestRecord,
  LogHold,
  type LogSession,
  newWriterId,
  openSession,
  type Owner,
  type Rename,
  thisProcess,
} from "../storage/fenced_log.ts";
import type { Storage } from "../storage/storage.ts";

/** A topic-partition. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What a stream plugin's progress record holds. */
export interface ProgressState {
  /** The next offset whose results are not durable (decimal). */
  next: string;
}

const TMP = ".tmp";
const PARTITION = /^(.+)\+(\d+)$/;
const LEGACY_FILE = /^(.+\+\d+)\.json$/;

function key(tp: TopicPartition): string {
  return `${tp.topic}+${tp.partition}`;
}

/** Progress files of every plugin under one science root. */
export class ProgressStore {
  #storage: Storage;
  #owner: Owner;
  /** Names this process's sessions, so that one fenced by a newer one of its own says so. */
  #writer = newWriterId();
  #hours = new Map<string, Map<string, string[]>>();

  /** A store over the science root's storage; `owner` names this process in its records. */
  constructor(storage: Storage, owner: Owner = thisProcess()) {
    this.#storage = storage;
    this.#owner = owner;
  }

  /**
   * The next offset to process per `topic+partition` of a stream plugin, or
   * null when the plugin never ran here; for readers (they never write).
   */
  async streamProgress(plugin: string): Promise<Map<string, bigint> | null> {
    const entries = await this.#storage.list(`_progress/${plugin}`);
    if (!entries.some((e) => e.name === "started.json")) return null;
    const found = new Map<string, bigint>();
    for (const entry of entries) {
      const legacy = LEGACY_FILE.exec(entry.name);
      if (!entry.isDirectory && legacy !== null && !found.has(legacy[1])) {
        const parsed = await this.#readJson(entry.path);
        if (typeof parsed?.next === "string") found.set(legacy[1], BigInt(parsed.next));
      }
      if (entry.isDirectory && PARTITION.test(entry.name)) {
        const latest = await latestRecord<ProgressState>(this.#storage, entry.path);
        if (latest !== null) found.set(entry.name, BigInt(latest.record.state.next));
      }
    }
    return found;
  }

  /**
   * Where a plugin started per `topic+partition` (see the module documentation),
   * or null when it never ran here.
   */
  async started(plugin: string): Promise<Map<string, bigint> | null> {
    const parsed = await this.#readJson(`_progress/${plugin}/started.json`);
    if (parsed === null) return null;
    return new Map(Object.entries(parsed.from ?? {}).map(([k, v]) => [k, BigInt(v as string)]));
  }

  /**
   * Marks a stream plugin as having run, starting at `from` (next offset per
   * `topic+partition`). Of several processes marking it at once the first one
   * wins; returns the start in force.
   */
  async markStarted(plugin: string, from: Map<string, bigint>): Promise<Map<string, bigint>> {
    const body = {
      at: new Date().toISOString(),
      from: Object.fromEntries([...from].map(([k, v]) => [k, v.toString()])),
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
    const session = await openSession<ProgressState>(this.#storage, {
      dir: `_progress/${plugin}/${key(tp)}`,
      staging: `_staging/${plugin}/${key(tp)}`,
      owner: this.#owner,
      initial: async () => {
        const legacy = await this.#readJson(`_progress/${plugin}/${key(tp)}.json`);
        return { next: typeof legacy?.next === "string" ? legacy.next : start.toString() };
      },
      writer: this.#writer,
    });
    return new ProgressSession(tp, session);
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
    const path = `_progress/${plugin}/hours/${topic}.json`;
    const body = new TextEncoder().encode(JSON.stringify({ hours: Object.fromEntries(hours) }));
    await this.#storage.writeFile(path + TMP, body);
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
   * result files visible and removing the ones they supersede, all or nothing.
   */
  async commit(
    next: bigint,
    files: { renames?: Rename[]; removes?: string[] } = {},
  ): Promise<void> {
    await this.session.commit({ state: { next: next.toString() }, ...files });
  }
}
