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
import {
  parseJsonFile,
  readReplaced,
  removeWithTemporary,
  replaceJson,
} from "../storage/atomic_replace.ts";
import type { Storage } from "../storage/storage.ts";
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";
import { COMPACTION_JOURNALS, offsetsPath, walPath } from "./file_names.ts";

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

/**
 * The committed offset of a partition as the ledger stored it under
 * `_offsets/`, -1 when it has none; for readers of the archive as well.
 */
export async function readCommittedOffset(storage: Storage, tp: TopicPartition): Promise<bigint> {
  return await readReplaced(storage, offsetsPath(tp), parseOffsetFile) ?? -1n;
}

/**
 * The whole entries of a folder of journal files (JSON written before the work
 * they describe), for a recovery to act on and then remove. Files that are no
 * `.json` and entries a crash tore while they were written (so their work had
 * not begun) are removed on the way.
 */
export async function* journalEntries<T>(
  storage: Storage,
  dir: string,
  parse: (bytes: Uint8Array) => T | null,
): AsyncGenerator<{ path: string; entry: T }> {
  for (const file of await storage.list(dir)) {
    const entry = file.name.endsWith(".json") ? parse(await storage.readFile(file.path)) : null;
    if (entry === null) await storage.remove(file.path);
    else yield { path: file.path, entry };
  }
}

/** The offset of an `_offsets/` file; null when it is not whole. */
function parseOffsetFile(bytes: Uint8Array): bigint | null {
  const parsed = parseJsonFile(bytes) as { offset?: unknown } | null;
  return typeof parsed?.offset === "string" ? BigInt(parsed.offset) : null;
}

/** What a WAL entry file holds. */
interface WalFile extends TopicPartition {
  start: string;
  end: string;
  files: string[];
}

/** A WAL entry; null when a crash tore it while it was written. */
function parseWalFile(bytes: Uint8Array): WalFile | null {
  const parsed = parseJsonFile(bytes) as Partial<WalFile> | null;
  if (
    typeof parsed?.topic !== "string" || typeof parsed.partition !== "number" ||
    typeof parsed.end !== "string" || !Array.isArray(parsed.files)
  ) {
    return null;
  }
  return parsed as WalFile;
}

/** Write-ahead log and committed offsets of one archive root. */
export class Ledger {
  #committed = new TopicPartitionMap<bigint>();

  constructor(readonly storage: Storage) {}

  /** Last durably archived offset of a partition, -1 when none. */
  async committed(tp: TopicPartition): Promise<bigint> {
    const cached = this.#committed.get(tp);
    if (cached !== undefined) return cached;
    const offset = await readCommittedOffset(this.storage, tp);
    this.#committed.set(tp, offset);
    return offset;
  }

  /** Forgets cached offsets so the next read comes from storage (after a rebalance). */
  forget(tps: TopicPartition[]): void {
    for (const tp of tps) this.#committed.delete(tp);
  }

  /** Records a batch's planned files before any is written. */
  async begin(tp: TopicPartition, entry: LedgerEntry): Promise<void> {
    const body: WalFile = {
      topic: tp.topic,
      partition: tp.partition,
      start: entry.start.toString(),
      end: entry.end.toString(),
      files: entry.files,
    };
    await this.storage.writeFile(
      this.#walPath(tp, entry),
      new TextEncoder().encode(JSON.stringify(body)),
    );
  }

  /** Marks a batch durable: advances the committed offset, then drops the WAL entry. */
  async commit(tp: TopicPartition, entry: LedgerEntry): Promise<void> {
    await replaceJson(this.storage, offsetsPath(tp), {
      offset: entry.end.toString(),
      at: new Date().toISOString(),
    });
    this.#committed.set(tp, entry.end);
    // Its removal need not be durable: an entry a crash brings back ends at or before the
    // committed offset, and recovery only removes it.
    await this.storage.remove(this.#walPath(tp, entry), { deferFolderSync: true });
  }

  /** Rolls back every batch that began but never committed. */
  async recover(): Promise<Recovery> {
    const result: Recovery = { rolledBack: 0, removedFiles: [] };
    for (const dir of await this.storage.list("_wal")) {
      // `_wal/compact` holds the compactor's journals (see compactor.ts), not batches.
      if (!dir.isDirectory || dir.path === COMPACTION_JOURNALS) continue;
      for await (
        const { path: file, entry } of journalEntries(this.storage, dir.path, parseWalFile)
      ) {
        const tp = { topic: entry.topic, partition: entry.partition };
        const committed = await readCommittedOffset(this.storage, tp);
        if (BigInt(entry.end) > committed) {
          for (const path of entry.files) {
            await removeWithTemporary(this.storage, path);
            result.removedFiles.push(path);
          }
          result.rolledBack++;
        }
        await this.storage.remove(file);
      }
    }
    this.#committed.clear();
    return result;
  }

  #walPath(tp: TopicPartition, entry: LedgerEntry): string {
    return walPath(tp, entry.start, entry.end);
  }
}
