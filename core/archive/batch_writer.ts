/**
 * Writes one encoded batch of a topic-partition exactly once: write each file
 * to the partition session's staging folder, commit the batch in the ledger
 * (the partition's next record, created only if nobody fenced this session),
 * and only then are the files renamed into place. Parquet files go to
 * `<topic>/<hour>/<topic>+<partition>+<start>+<end>.parquet`; alerts that
 * could not be decoded go, raw, with their reason, to
 * `_quarantine/<topic>/<topic>+<partition>+<offset>.avro` (+ `.json`); the
 * names are file_names.ts's.
 */
import type { TopicPartition } from "../source/topic_partition.ts";
import { StorageNotFoundError } from "../storage/errors.ts";
import { parentPath } from "../storage/path.ts";
import type { Storage } from "../storage/storage.ts";
import type { EncodedFile, QuarantinedMessage } from "./encoder.ts";
import { archiveFilePath, quarantineBase } from "./file_names.ts";
import type { PartitionLedger } from "./ledger.ts";

/** A Parquet file of one hour, ready to write (what the encoder made). */
export type FileToWrite = Pick<
  EncodedFile,
  "hour" | "startOffset" | "endOffset" | "rows" | "bytes"
>;

/** A message that could not be decoded, with its Kafka timestamp when known. */
export interface QuarantinedWrite extends QuarantinedMessage {
  timestamp?: number;
}

/** What one batch writes. */
export interface BatchWrite {
  tp: TopicPartition;
  /** First and last offset of the batch (every message, archived or quarantined). */
  start: bigint;
  end: bigint;
  files: FileToWrite[];
  quarantined: QuarantinedWrite[];
}

/** A written file, for counts and for the plugins that read the batch back. */
export interface WrittenFile {
  path: string;
  hour: string;
  rows: number;
  size: number;
  /**
   * The file's content, as durably written: the plugins read the batch from it instead of
   * reading the whole file (cutouts included) back from storage.
   */
  bytes?: Uint8Array;
}

/**
 * Writes a batch exactly once; returns the Parquet files written. Throws the
 * ledger's FencedError, with nothing of the batch left, when another session
 * holds the partition now.
 */
export async function writeBatch(
  batch: BatchWrite,
  target: { storage: Storage; ledger: PartitionLedger },
): Promise<WrittenFile[]> {
  const { storage, ledger } = target;
  const { tp } = batch;
  const writes: { path: string; data: Uint8Array }[] = [];
  const written: WrittenFile[] = [];
  for (const f of batch.files) {
    const path = archiveFilePath(f.hour, { tp, start: f.startOffset, end: f.endOffset });
    writes.push({ path, data: f.bytes });
    written.push({ path, hour: f.hour, rows: f.rows, size: f.bytes.byteLength, bytes: f.bytes });
  }
  for (const q of batch.quarantined) {
    const base = quarantineBase(tp, q.offset);
    const reason = {
      topic: tp.topic,
      partition: tp.partition,
      offset: q.offset.toString(),
      timestamp: q.timestamp ?? null,
      reason: q.reason,
      bytes: q.value.byteLength,
    };
    writes.push({ path: `${base}.avro`, data: q.value });
    writes.push({ path: `${base}.json`, data: new TextEncoder().encode(JSON.stringify(reason)) });
  }
  // Staged files of a batch that never commits are deleted by the partition's next owner.
  const files = writes.map((w) => ({ from: ledger.stage(w.path), to: w.path }));
  try {
    const deferred = { deferFolderSync: true };
    await Promise.all(writes.map((w, i) => storage.writeFile(files[i].from, w.data, deferred)));
    // The staged names must be durable before the record that renames them is.
    await storage.syncFolders(files.map((f) => parentPath(f.from)));
  } catch (error) {
    // The next owner deleted this session's staging folder as it took the partition over.
    const fenced = error instanceof StorageNotFoundError ? await ledger.fencedNow() : null;
    throw fenced ?? error;
  }
  await ledger.commitBatch({ end: batch.end, files });
  return written;
}
