/**
 * The archive's ledger, kept in the archive's own storage: per topic-partition
 * a fenced commit log (`core/storage/fenced_log.ts`) under
 * `_ledger/<topic>+<partition>/`, a redo log whose latest record holds the
 * partition's committed offset. Any number of processes may share the root:
 *
 * - a process takes over a partition ({@link Ledger.acquire}, when Kafka assigns
 *   it) by claiming the next record with a fence, completing what the earlier
 *   owners committed (renames still pending) and deleting what they left
 *   staged; it resumes after the committed offset;
 * - a batch's files are written under `_staging/<topic>+<partition>/<session>/`,
 *   then the batch commits by creating the partition's next record
 *   (create-if-absent), and only then are its files renamed into the archive;
 * - an owner that lost the partition (paused, partitioned away, slow to hear of
 *   a rebalance) finds its next record taken by the new owner's fence: its
 *   commit fails with {@link FencedError}, its staged files are removed and none
 *   of its names ever appears in the archive.
 *
 * Archives written by earlier versions (`_offsets/<topic>+<partition>.json`, an
 * undo log under `_wal/`, compaction journals under `_wal/compact/`) are read,
 * and their leftovers are rolled back or finished the first time a partition is
 * taken over (all nodes must run this version by then).
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
import type { TopicPartition } from "../source/source.ts";

/** What a record of the archive's ledger holds. */
export interface ArchiveState {
  /** The last offset durably archived (decimal), "-1" when none. */
  committed: string;
}

/** Suffix earlier versions wrote files under before renaming them; never read as data. */
export const TMP_SUFFIX = ".tmp";

/** Folder of the ledger's records. */
export const LEDGER_DIR = "_ledger";
/** Folder of the sessions' staged files. */
export const STAGING_DIR = "_staging";

function key(tp: TopicPartition): string {
  return `${tp.topic}+${tp.partition}`;
}

/** The folder of one partition's records. */
export function ledgerPath(tp: TopicPartition): string {
  return `${LEDGER_DIR}/${key(tp)}`;
}

function offsetsPath(tp: TopicPartition): string {
  return `_offsets/${key(tp)}.json`;
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

/** The committed offset an earlier version kept in `_offsets/`, -1 when none. */
async function legacyCommittedOffset(storage: Storage, tp: TopicPartition): Promise<bigint> {
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

/**
 * An earlier version's leftovers of one partition, the first time this version
 * takes it over: batches it began but never committed are rolled back (their
 * files deleted), merges it journalled are finished or rolled back. Returns its
 * committed offset, which the first record of the ledger carries on.
 */
async function takeOverLegacy(storage: Storage, tp: TopicPartition): Promise<ArchiveState> {
  const committed = await legacyCommittedOffset(storage, tp);
  for (const file of await storage.list(`_wal/${key(tp)}`)) {
    const entry = file.name.endsWith(".json") ? parseJson(await storage.readFile(file.path)) : null;
    // A torn entry was written before any of its batch's files.
    if (entry !== null && BigInt(entry.end) > committed) {
      for (const path of entry.files as string[]) {
        await storage.remove(path);
        await storage.remove(path + TMP_SUFFIX);
      }
    }
    await storage.remove(file.path);
  }
  const prefix = `${key(tp)}+`;
  for (const entry of await storage.list("_wal/compact")) {
    if (!entry.name.startsWith(prefix)) continue;
    const job = entry.name.endsWith(".json") ? parseJson(await storage.readFile(entry.path)) : null;
    if (job !== null && await storage.stat(job.output) !== null) {
      for (const input of job.inputs as string[]) await storage.remove(input);
    } else if (job !== null) {
      await storage.remove(job.output + TMP_SUFFIX);
    }
    await storage.remove(entry.path);
  }
  return { committed: committed.toString() };
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
      staging: `${STAGING_DIR}/${key(tp)}`,
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

  /** Commits a batch: its end offset and its files, which appear only if the commit lands. */
  async commitBatch(batch: BatchCommit): Promise<void> {
    await this.session.commit({ state: { committed: batch.end.toString() }, renames: batch.files });
  }

  /** Commits a merge: the merged file appears and its inputs go, or nothing happens. */
  async commitMerge(merge: { files: Rename[]; inputs: string[] }): Promise<void> {
    await this.session.commit({ renames: merge.files, removes: merge.inputs });
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
