/**
 * Writes one encoded batch of a topic-partition exactly once: plan the files in
 * the ledger, write each to a temporary name, rename them into place, then
 * commit the batch's end offset. Parquet files go to
 * `<topic>/<hour>/<topic>+<partition>+<start>+<end>.parquet`; alerts that
 * could not be decoded go, raw, with their reason, to
 * `_quarantine/<topic>/<topic>+<partition>+<offset>.avro` (+ `.json`).
 */
import type { TopicPartition } from "../source/source.ts";
import type { Storage } from "../storage/storage.ts";
import type { EncodedFile, QuarantinedMessage } from "./encoder.ts";
import { type Ledger, type LedgerEntry, TMP_SUFFIX } from "./ledger.ts";

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

/** The file name that says what a Parquet file holds. */
export function parquetName(tp: TopicPartition, start: bigint, end: bigint): string {
  return `${tp.topic}+${tp.partition}+${start}+${end}.parquet`;
}

/** Writes a batch exactly once; returns the Parquet files written. */
export async function writeBatch(
  batch: BatchWrite,
  target: { storage: Storage; ledger: Ledger },
): Promise<WrittenFile[]> {
  const { storage, ledger } = target;
  const { tp } = batch;
  const writes: { path: string; bytes: Uint8Array }[] = [];
  const written: WrittenFile[] = [];
  for (const f of batch.files) {
    const path = `${tp.topic}/${f.hour}/${parquetName(tp, f.startOffset, f.endOffset)}`;
    writes.push({ path, bytes: f.bytes });
    written.push({ path, hour: f.hour, rows: f.rows, size: f.bytes.byteLength, bytes: f.bytes });
  }
  for (const q of batch.quarantined) {
    const base = `_quarantine/${tp.topic}/${tp.topic}+${tp.partition}+${q.offset}`;
    const reason = {
      topic: tp.topic,
      partition: tp.partition,
      offset: q.offset.toString(),
      timestamp: q.timestamp ?? null,
      reason: q.reason,
      bytes: q.value.byteLength,
    };
    writes.push({ path: `${base}.avro`, bytes: q.value });
    writes.push({ path: `${base}.json`, bytes: new TextEncoder().encode(JSON.stringify(reason)) });
  }
  const entry: LedgerEntry = {
    start: batch.start,
    end: batch.end,
    files: writes.map((w) => w.path),
  };
  await ledger.begin(tp, entry);
  await Promise.all(writes.map((w) => storage.writeFile(w.path + TMP_SUFFIX, w.bytes)));
  for (const w of writes) await storage.rename(w.path + TMP_SUFFIX, w.path);
  await ledger.commit(tp, entry);
  return written;
}
