/**
 * The archive's ledger, kept in the archive's own storage: per topic-partition
 * a fenced commit log (`core/storage/fenced_log.ts`) under
 * `_ledger/<topic>+<partition>/`, a redo log whose latest record holds the
 * partition's committed offset and the merges whose inputs still wait out
 * their grace. Any number of processes may share the root:
 *
 * - a process takes over a partition ({@link Ledger.acquire}, when Kafka assigns
 *   it) by claiming the next record with a fence, completing what the earlier
 *   owners committed (renames still pending) and deleting what they left
 *   staged; it resumes after the committed offset;
 * - a batch's files are written under `_staging/<topic>+<partition>/<session>/`,
 *   then the batch commits by creating the partition's next record
 *   (create-if-absent), and only then are its files renamed into the archive;
 * - compaction goes through the same log (see compactor.ts): a merge's record
 *   renames the merged file into place and lists its inputs as pending; a later
 *   record, once their grace is over, deletes them;
 * - an owner that lost the partition (paused, partitioned away, slow to hear of
 *   a rebalance) finds its next record taken by the new owner's fence: its
 *   commit fails with {@link FencedError}, its staged files are removed and none
 *   of its names ever appears in the archive.
 *
 * Archives written by earlier versions (`_offsets/<topic>+<partition>.json`, an
 * undo log under `_wal/`, compaction journals under `_wal/compact/`) are read the
 * first time a partition is taken over: uncommitted batches are rolled back,
 * merges not in place rolled back, merges in place become pending merges of the
 * first record (all nodes must run this version by then).
 */
import {
  parseJsonFile,
  readReplaced,
  removeWithTemporary,
  temporaryOf,
} from "../storage/atomic_replace.ts";
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
import { formatTopicPartition, type TopicPartition } from "../source/topic_partition.ts";
import { COMPACTION_JOURNALS, ledgerPath, offsetsPath, stagingPath } from "./file_names.ts";

/** A merged file in place whose inputs wait out their grace beside it. */
export interface PendingMerge {
  /** The merged file. */
  output: string;
  /** The files it replaces, deleted once the grace is over. */
  inputs: string[];
  /** An earlier version's journal of this merge, deleted with the inputs. */
  journal?: string;
}

/** What a record of the archive's ledger holds. */
export interface ArchiveState {
  /** The last offset durably archived (decimal), "-1" when none. */
  committed: string;
  /** Merges in place whose inputs are not deleted yet (absent: none). */
  merges?: PendingMerge[];
}

/**
 * The committed offset of a partition, -1 when it has none; for readers of the
 * archive as well (the query engine, the distribution, the plugins' feed).
 */
export async function readCommittedOffset(storage: Storage, tp: TopicPartition): Promise<bigint> {
  const latest = await latestRecord<ArchiveState>(storage, ledgerPath(tp));
  if (latest !== null) return BigInt(latest.record.state.committed);
  return await legacyCommittedOffset(storage, tp);
}

/**
 * The whole entries of a folder of journal files (JSON written before the work
 * they describe), for a takeover to act on and then remove. Files that are no
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

/** The committed offset an earlier version kept in `_offsets/`, -1 when none. */
async function legacyCommittedOffset(storage: Storage, tp: TopicPartition): Promise<bigint> {
  return await readReplaced(storage, offsetsPath(tp), parseOffsetFile) ?? -1n;
}

/** The offset of an `_offsets/` file; null when it is not whole. */
function parseOffsetFile(bytes: Uint8Array): bigint | null {
  const parsed = parseJsonFile(bytes) as { offset?: unknown } | null;
  return typeof parsed?.offset === "string" ? BigInt(parsed.offset) : null;
}

/** What an earlier version's WAL entry file holds. */
interface WalFile {
  end: string;
  files: string[];
}

/** A WAL entry; null when a crash tore it while it was written. */
function parseWalFile(bytes: Uint8Array): WalFile | null {
  const parsed = parseJsonFile(bytes) as Partial<WalFile> | null;
  if (typeof parsed?.end !== "string" || !Array.isArray(parsed.files)) return null;
  return parsed as WalFile;
}

/** What an earlier version's compaction journal records. */
interface JournalFile {
  output: string;
  inputs: string[];
}

/** A compaction journal; null when a crash tore it while it was written. */
function parseJournal(bytes: Uint8Array): JournalFile | null {
  const parsed = parseJsonFile(bytes) as Partial<JournalFile> | null;
  if (typeof parsed?.output !== "string" || !Array.isArray(parsed.inputs)) return null;
  return { output: parsed.output, inputs: parsed.inputs };
}

/**
 * An earlier version's leftovers of one partition, the first time this version
 * takes it over: batches it began but never committed are rolled back (their
 * files deleted), merges it journalled but had not renamed into place are rolled
 * back, and merges in place keep their inputs for the grace period as pending
 * merges (their journals go with the inputs). Returns the state the first record
 * carries on. Safe to run twice (a rival taking over at the same time).
 */
async function takeOverLegacy(storage: Storage, tp: TopicPartition): Promise<ArchiveState> {
  const committed = await legacyCommittedOffset(storage, tp);
  const key = formatTopicPartition(tp);
  for await (const { path, entry } of journalEntries(storage, `_wal/${key}`, parseWalFile)) {
    if (BigInt(entry.end) > committed) {
      for (const file of entry.files) await removeWithTemporary(storage, file);
    }
    await storage.remove(path);
  }
  const merges: PendingMerge[] = [];
  for await (const { path, entry } of journalEntries(storage, COMPACTION_JOURNALS, parseJournal)) {
    if (!path.slice(COMPACTION_JOURNALS.length + 1).startsWith(`${key}+`)) continue;
    if (await storage.stat(entry.output) !== null) {
      merges.push({ output: entry.output, inputs: entry.inputs, journal: path });
    } else {
      await storage.remove(temporaryOf(entry.output));
      await storage.remove(path);
    }
  }
  return { committed: committed.toString(), ...(merges.length > 0 ? { merges } : {}) };
}

/** One archive root's ledger, as this process holds it. */
export class Ledger {
  /** Names this process's sessions, so that one fenced by a newer one of its own says so. */
  readonly #writer = newWriterId();

  /** `owner` names this process in the records it writes (the logs of those it fences). */
  constructor(readonly storage: Storage, readonly owner: Owner = thisProcess()) {}

  /**
   * Takes over a partition: fences its earlier owners (this process's earlier
   * sessions included), completes their commits and returns the new session.
   */
  async acquire(tp: TopicPartition): Promise<PartitionLedger> {
    const session = await openSession<ArchiveState>(this.storage, {
      dir: ledgerPath(tp),
      staging: stagingPath(tp),
      owner: this.owner,
      initial: () => takeOverLegacy(this.storage, tp),
      writer: this.#writer,
    });
    return new PartitionLedger(tp, session);
  }
}

/** A batch's files: each staged file and its name in the archive. */
export interface BatchCommit {
  /** Last offset of the batch. */
  end: bigint;
  files: Rename[];
}

/** This process's hold on one partition (one session of its log). */
export class PartitionLedger extends LogHold<ArchiveState> {
  /** Holds `tp` through `session`. */
  constructor(readonly tp: TopicPartition, session: LogSession<ArchiveState>) {
    super(session);
  }

  /** The partition's committed offset as of this session's last commit (-1 when none). */
  get committed(): bigint {
    return BigInt(this.session.state.committed);
  }

  /** Merges in place whose inputs still wait out their grace. */
  get merges(): readonly PendingMerge[] {
    return this.session.state.merges ?? [];
  }

  /** Commits a batch: its end offset and its files, which appear only if the commit lands. */
  async commitBatch(batch: BatchCommit): Promise<void> {
    await this.session.commit({
      state: (state) => ({ ...state, committed: batch.end.toString() }),
      renames: batch.files,
    });
  }

  /**
   * Commits a merge: the merged file appears (its inputs stay, pending, until
   * {@link expireMerge}), or nothing happens.
   */
  async commitMerge(merge: { file: Rename; inputs: string[] }): Promise<void> {
    const pending: PendingMerge = { output: merge.file.to, inputs: merge.inputs };
    await this.session.commit({
      state: (state) => ({ ...state, merges: [...(state.merges ?? []), pending] }),
      renames: [merge.file],
    });
  }

  /**
   * Ends a pending merge whose grace is over: its inputs are deleted, unless
   * `keepInputs` (its output vanished, so they are the only copy).
   */
  async expireMerge(merge: PendingMerge, options: { keepInputs: boolean }): Promise<void> {
    const removes = [...(options.keepInputs ? [] : merge.inputs)];
    if (merge.journal !== undefined) removes.push(merge.journal);
    await this.session.commit({
      state: (state) => {
        const merges = (state.merges ?? []).filter((m) => m.output !== merge.output);
        return { committed: state.committed, ...(merges.length > 0 ? { merges } : {}) };
      },
      removes,
    });
  }
}
