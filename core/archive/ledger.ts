/**
 * The archive's write-ahead log and committed offsets, kept in the archive's
 * own storage (Kafka Connect's HDFS sink method):
 *
 * - before a batch's files are written, `_wal/<topic>+<partition>/<start>-<end>.json`
 *   lists every file the batch will create;
 * - once they are all renamed into place, `_offsets/<topic>+<partition>.json`
 *   is atomically replaced with the batch's end offset, then the WAL entry goes;
 * - on start, {@link Ledger.recover} deletes the files of every WAL entry whose
 *   end is past the committed offset (a batch that never committed), so a
 *   replay writes them again exactly once.
 */
import type { Storage } from "../storage/storage.ts";
import type { TopicPartition } from "../source/source.ts";

/** One batch's planned writes. */
export interface LedgerEntry {
  start: bigint;
  end: bigint;
  /** Final paths (relative to the archive root) the batch creates. */
  files: string[];
}

/** What {@link Ledger.recover} did. */
export interface Recovery {
  /** Uncommitted batches rolled back. */
  rolledBack: number;
  /** Files of those batches that were deleted. */
  removedFiles: string[];
}

/** Suffix of a file being written; never read as part of the archive. */
export const TMP_SUFFIX = ".tmp";

function key(tp: TopicPartition): string {
  return `${tp.topic}+${tp.partition}`;
}

function offsetsPath(tp: TopicPartition): string {
  return `_offsets/${key(tp)}.json`;
}

/**
 * The committed offset of a partition as the ledger stored it under
 * `_offsets/`, -1 when it has none; for readers of the archive as well.
 */
export async function readCommittedOffset(storage: Storage, tp: TopicPartition): Promise<bigint> {
  const path = offsetsPath(tp);
  // On HDFS a rename deletes the old file first: when a crash fell between the two,
  // only the temporary copy is left, and it is complete (written before the rename).
  // A temporary copy torn by a crash while it was written is ignored: the final one holds.
  for (const candidate of [path, path + TMP_SUFFIX]) {
    if (await storage.stat(candidate) === null) continue;
    const parsed = parseJson(await storage.readFile(candidate));
    if (typeof parsed?.offset === "string") return BigInt(parsed.offset);
  }
  return -1n;
}

function pad(n: bigint): string {
  return n.toString().padStart(20, "0");
}

/** Write-ahead log and committed offsets of one archive root. */
export class Ledger {
  #committed = new Map<string, bigint>();

  constructor(readonly storage: Storage) {}

  /** Last durably archived offset of a partition, -1 when none. */
  async committed(tp: TopicPartition): Promise<bigint> {
    const cached = this.#committed.get(key(tp));
    if (cached !== undefined) return cached;
    const offset = await readCommittedOffset(this.storage, tp);
    this.#committed.set(key(tp), offset);
    return offset;
  }

  /** Forgets cached offsets so the next read comes from storage (after a rebalance). */
  forget(tps: TopicPartition[]): void {
    for (const tp of tps) this.#committed.delete(key(tp));
  }

  /** Records a batch's planned files before any is written. */
  async begin(tp: TopicPartition, entry: LedgerEntry): Promise<void> {
    const body = JSON.stringify({
      topic: tp.topic,
      partition: tp.partition,
      start: entry.start.toString(),
      end: entry.end.toString(),
      files: entry.files,
    });
    await this.storage.writeFile(this.#walPath(tp, entry), new TextEncoder().encode(body));
  }

  /** Marks a batch durable: advances the committed offset, then drops the WAL entry. */
  async commit(tp: TopicPartition, entry: LedgerEntry): Promise<void> {
    const path = offsetsPath(tp);
    const body = JSON.stringify({ offset: entry.end.toString(), at: new Date().toISOString() });
    await this.storage.writeFile(path + TMP_SUFFIX, new TextEncoder().encode(body));
    await this.storage.rename(path + TMP_SUFFIX, path);
    this.#committed.set(key(tp), entry.end);
    await this.storage.remove(this.#walPath(tp, entry));
  }

  /** Rolls back every batch that began but never committed. */
  async recover(): Promise<Recovery> {
    const result: Recovery = { rolledBack: 0, removedFiles: [] };
    for (const dir of await this.storage.list("_wal")) {
      // `_wal/compact` holds the compactor's journals (see compactor.ts), not batches.
      if (!dir.isDirectory || dir.name === "compact") continue;
      for (const file of await this.storage.list(dir.path)) {
        if (!file.name.endsWith(".json")) {
          await this.storage.remove(file.path);
          continue;
        }
        const entry = parseJson(await this.storage.readFile(file.path));
        if (entry === null) {
          // Torn by a crash while it was written: no file of that batch was written yet.
          await this.storage.remove(file.path);
          continue;
        }
        const tp = { topic: entry.topic, partition: entry.partition };
        const committed = await readCommittedOffset(this.storage, tp);
        if (BigInt(entry.end) > committed) {
          for (const path of entry.files as string[]) {
            await this.storage.remove(path);
            await this.storage.remove(path + TMP_SUFFIX);
            result.removedFiles.push(path);
          }
          result.rolledBack++;
        }
        await this.storage.remove(file.path);
      }
    }
    this.#committed.clear();
    return result;
  }

  #walPath(tp: TopicPartition, entry: LedgerEntry): string {
    return `_wal/${key(tp)}/${pad(entry.start)}-${pad(entry.end)}.json`;
  }
}

/** Parses a JSON file of the ledger; null when a crash left it incomplete. */
export function parseJson(bytes: Uint8Array): Record<string, any> | null {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}
