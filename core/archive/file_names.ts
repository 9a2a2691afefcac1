/**
 * Every name the archive and the science results are stored under, each
 * builder beside its parser (as Kafka Connect's `FileUtils` keeps them):
 *
 * - archive Parquet files `<topic>/<hour>/<topic>+<partition>+<start>+<end>.parquet`,
 *   and plugin results `<plugin>/<hour>/` named the same way from the archive
 *   offsets their rows came from (the hour folder in the archive's layout, see
 *   partitioner.ts);
 * - quarantined alerts `_quarantine/<topic>/<topic>+<partition>+<offset>.avro` (+ `.json`);
 * - the ledger's records `_ledger/<topic>+<partition>/<slot>.json` and the files
 *   its sessions stage `_staging/<topic>+<partition>/<session>/` (ledger.ts);
 * - what earlier versions kept instead, read once at a partition's first
 *   takeover: `_offsets/<topic>+<partition>.json`,
 *   `_wal/<topic>+<partition>/<start>-<end>.json` and compaction journals
 *   `_wal/compact/<topic>+<partition>+<start>-<end>+h<hour>.json`.
 *
 * Offsets are written zero-padded to {@link OFFSET_DIGITS} digits, so a
 * folder's names sort in offset order; the parsers also read the unpadded
 * names earlier versions wrote.
 */
import {
  formatTopicPartition,
  parseTopicPartition,
  type TopicPartition,
} from "../source/topic_partition.ts";
import { TMP_SUFFIX } from "../storage/atomic_replace.ts";
import { hourPath, type PartitionLayout } from "./partitioner.ts";

/** Digits of a zero-padded offset: enough for any 64-bit offset. */
export const OFFSET_DIGITS = 20;

/** The offset range a Parquet file holds rows of, and where it came from. */
export interface ParquetFileName extends TopicPartition {
  /** First and last Kafka offset of its rows. */
  start: bigint;
  end: bigint;
}

const PARQUET = /^(.+)\+(\d+)\+(\d+)\+(\d+)\.parquet$/;

/** An offset zero-padded to {@link OFFSET_DIGITS} digits. */
export function padOffset(offset: bigint): string {
  return offset.toString().padStart(OFFSET_DIGITS, "0");
}

/** The file name that says what a Parquet file holds (offsets zero-padded). */
export function parquetName(tp: TopicPartition, start: bigint, end: bigint): string {
  return `${formatTopicPartition(tp)}+${padOffset(start)}+${padOffset(end)}.parquet`;
}

/** The name earlier versions gave the same file (offsets not padded). */
export function legacyParquetName(tp: TopicPartition, start: bigint, end: bigint): string {
  return `${formatTopicPartition(tp)}+${start}+${end}.parquet`;
}

/** Parses `<topic>+<partition>+<start>+<end>.parquet`, padded or not; null for other names. */
export function parseParquetName(name: string): ParquetFileName | null {
  const m = PARQUET.exec(name);
  if (m === null) return null;
  return { topic: m[1], partition: Number(m[2]), start: BigInt(m[3]), end: BigInt(m[4]) };
}

/** Path of an archive file: `<topic>/<hour folder>/<name>`, the hour folder as the encoder wrote it. */
export function archiveFilePath(
  hourDir: string,
  file: { tp: TopicPartition; start: bigint; end: bigint },
): string {
  return `${file.tp.topic}/${hourDir}/${parquetName(file.tp, file.start, file.end)}`;
}

/** The hour folder of an archive hour directory (`<topic>/<hour folder>`), below its topic. */
export function hourFolderOf(topic: string, hourDir: string): string {
  return hourDir.slice(topic.length + 1);
}

/**
 * Where one plugin's results for an event hour go: `<plugin>/<hour folder in the
 * layout>`, the same hour folder as the archive files the rows came from.
 */
export function resultFolder(
  plugin: string,
  hour: number,
  layout: PartitionLayout = "plain",
): string {
  return `${plugin}/${hourPath(hour, layout)}`;
}

/** Path (without extension) of a quarantined alert: `.avro` holds it, `.json` the reason. */
export function quarantineBase(tp: TopicPartition, offset: bigint): string {
  return `_quarantine/${tp.topic}/${formatTopicPartition(tp)}+${padOffset(offset)}`;
}

/** Folder of the ledger's records, one folder per topic-partition. */
export const LEDGER_FOLDER = "_ledger";

/** Folder of the staged files, one folder per topic-partition. */
export const STAGING_FOLDER = "_staging";

/** The folder of one partition's ledger records. */
export function ledgerPath(tp: TopicPartition): string {
  return `${LEDGER_FOLDER}/${formatTopicPartition(tp)}`;
}

/** The folder the ledger's sessions of one partition stage their files in. */
export function stagingPath(tp: TopicPartition): string {
  return `${STAGING_FOLDER}/${formatTopicPartition(tp)}`;
}

/** Folder of the committed offsets of earlier versions. */
export const OFFSETS_FOLDER = "_offsets";

/** The file of a partition's committed offset. */
export function offsetsPath(tp: TopicPartition): string {
  return `${OFFSETS_FOLDER}/${formatTopicPartition(tp)}.json`;
}

/**
 * The topic-partition of a name in `_offsets/`, also of a replacement's
 * temporary copy (`.json.tmp`, all that is left when a crash fell inside the
 * replace); null for other names.
 */
export function parseOffsetsName(name: string): TopicPartition | null {
  const final = name.endsWith(TMP_SUFFIX) ? name.slice(0, -TMP_SUFFIX.length) : name;
  return final.endsWith(".json") ? parseTopicPartition(final.slice(0, -".json".length)) : null;
}

/** The write-ahead log entry of one batch of a partition. */
export function walPath(tp: TopicPartition, start: bigint, end: bigint): string {
  return `_wal/${formatTopicPartition(tp)}/${padOffset(start)}-${padOffset(end)}.json`;
}

/** Folder of the compaction journals. */
export const COMPACTION_JOURNALS = "_wal/compact";

/**
 * The journal of one merge of a partition's files covering `start..end` in the event hour
 * `hour` (whole hours since the epoch): files of one batch in different hours can share an
 * offset range, and their merges' journals wait side by side while the inputs' grace runs.
 */
export function compactionJournalPath(
  tp: TopicPartition,
  merge: { start: bigint; end: bigint; hour: number },
): string {
  return `${COMPACTION_JOURNALS}/${formatTopicPartition(tp)}+${padOffset(merge.start)}-${
    padOffset(merge.end)
  }+h${merge.hour}.json`;
}
