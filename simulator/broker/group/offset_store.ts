/**
 * Committed consumer-group offsets: (group, topic, partition) → (offset, metadata).
 *
 * With a data folder, each group's offsets live in one JSON file under
 * `<dataDir>/__consumer_offsets/`, replaced atomically (write a temporary
 * file, fsync it, rename it over the old one, fsync the folder) before a
 * commit is acknowledged, so a broker restart keeps them. Writes for one
 * group are serialised and coalesced: commits arriving while a write is in
 * flight share the next one.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "../../../core/log.ts";

/** One committed offset. */
export interface CommittedOffset {
  offset: bigint;
  metadata: string;
}

/** One offset to commit. */
export interface OffsetEntry extends CommittedOffset {
  topic: string;
  partition: number;
}

/** Name of the folder, inside the data folder, holding the offset files. */
export const OFFSETS_FOLDER = "__consumer_offsets";

const FILE_VERSION = 1;
const SUFFIX = ".json";
const TEMP_SUFFIX = ".json.tmp";

/** The committed offsets of every group, in memory and optionally on disk. */
export class OffsetStore {
  #groups = new Map<string, Map<string, Map<number, CommittedOffset>>>();
  #queued = new Map<string, Promise<void>>();
  #tail = new Map<string, Promise<void>>();

  private constructor(readonly dir: string | null, private readonly log: Logger) {}

  /**
   * Opens the store, loading the offsets kept under `<dataDir>/__consumer_offsets/`
   * (created when missing); in memory only when `dataDir` is null.
   */
  static open(dataDir: string | null, log: Logger): OffsetStore {
    if (dataDir === null) return new OffsetStore(null, log);
    const dir = join(dataDir, OFFSETS_FOLDER);
    Deno.mkdirSync(dir, { recursive: true });
    const store = new OffsetStore(dir, log);
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isFile) continue;
      const path = join(dir, entry.name);
      if (entry.name.endsWith(TEMP_SUFFIX)) {
        // A write cut short by a crash; the file it was replacing is intact.
        Deno.removeSync(path);
      } else if (entry.name.endsWith(SUFFIX)) {
        store.#load(path);
      }
    }
    return store;
  }

  /** The committed offset of one partition, if any. */
  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.#groups.get(group)?.get(topic)?.get(partition);
  }

  /** Every committed offset of a group, by topic then partition. */
  topics(group: string): ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>> {
    return this.#groups.get(group) ?? new Map();
  }

  /** Records offsets; resolves once they are durable (immediately in memory-only mode). */
  commit(group: string, entries: readonly OffsetEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    let topics = this.#groups.get(group);
    if (!topics) this.#groups.set(group, topics = new Map());
    for (const e of entries) {
      let partitions = topics.get(e.topic);
      if (!partitions) topics.set(e.topic, partitions = new Map());
      partitions.set(e.partition, { offset: e.offset, metadata: e.metadata });
    }
    return this.#persist(group);
  }

  /** Waits for every write in flight. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#tail.values()]);
  }

  #persist(group: string): Promise<void> {
    if (this.dir === null) return Promise.resolve();
    const queued = this.#queued.get(group);
    if (queued) return queued;
    const previous = this.#tail.get(group) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => {
      this.#queued.delete(group);
      return this.#write(group);
    });
    this.#queued.set(group, next);
    this.#tail.set(group, next);
    next.catch(() => {}).finally(() => {
      if (this.#tail.get(group) === next) this.#tail.delete(group);
    });
    return next;
  }

  async #write(group: string): Promise<void> {
    const dir = this.dir as string;
    const offsets = [];
    for (const [topic, partitions] of this.topics(group)) {
      for (const [partition, c] of partitions) {
        offsets.push({ topic, partition, offset: c.offset.toString(), metadata: c.metadata });
      }
    }
    const text = JSON.stringify({ version: FILE_VERSION, group, offsets });
    const path = join(dir, fileNameOf(group));
    const temp = path.slice(0, -SUFFIX.length) + TEMP_SUFFIX;
    const file = await Deno.open(temp, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, new TextEncoder().encode(text));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
    const folder = await Deno.open(dir, { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  }

  #load(path: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Deno.readTextFileSync(path));
    } catch (e) {
      throw new Error(
        `Committed offsets file ${path} is not valid JSON (${(e as Error).message}); ` +
          "restore it from a backup or delete it to forget that group's offsets",
      );
    }
    const data = parsed as {
      version?: unknown;
      group?: unknown;
      offsets?: { topic?: unknown; partition?: unknown; offset?: unknown; metadata?: unknown }[];
    };
    if (
      data?.version !== FILE_VERSION || typeof data.group !== "string" ||
      !Array.isArray(data.offsets)
    ) {
      throw new Error(
        `Committed offsets file ${path} does not hold {version: ${FILE_VERSION}, group, offsets[]}; ` +
          "restore it from a backup or delete it to forget that group's offsets",
      );
    }
    const topics = new Map<string, Map<number, CommittedOffset>>();
    for (const o of data.offsets) {
      if (
        typeof o?.topic !== "string" || !Number.isInteger(o.partition) ||
        typeof o.offset !== "string" || !/^-?\d+$/.test(o.offset) ||
        typeof o.metadata !== "string"
      ) {
        throw new Error(
          `Committed offsets file ${path} has an entry that is not ` +
            `{topic, partition, offset, metadata}: found ${JSON.stringify(o)}; ` +
            "restore it from a backup or delete it to forget that group's offsets",
        );
      }
      let partitions = topics.get(o.topic);
      if (!partitions) topics.set(o.topic, partitions = new Map());
      partitions.set(o.partition as number, { offset: BigInt(o.offset), metadata: o.metadata });
    }
    this.#groups.set(data.group, topics);
    this.log.debug("Loaded committed offsets", { group: data.group, file: path });
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let rest = bytes;
  while (rest.byteLength > 0) rest = rest.subarray(await file.write(rest));
}

/**
 * A file name safe on any file system for an arbitrary group id: the id
 * percent-encoded, or its SHA-256 when too long (the id itself is kept in the file).
 */
function fileNameOf(group: string): string {
  const encoded = encodeURIComponent(group).replace(
    /[.!'()*~]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  if (encoded.length <= 200) return encoded + SUFFIX;
  return "sha256-" + sha256Hex(group) + SUFFIX;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
