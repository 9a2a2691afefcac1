/**
 * Reads the archive back: which topics, hours and Parquet files it holds, the
 * committed offset of each topic-partition, and one file's rows as an Arrow
 * table with only the columns asked for. Everything goes through `Storage`,
 * so a WebHDFS archive reads the same as a local one.
 *
 * Files are `<topic>/<hour>/<topic>+<partition>+<start>+<end>.parquet`, the
 * hour as `YYYY/MM/dd/hh` or hive `year=YYYY/month=MM/day=dd/hour=hh`.
 * Bookkeeping folders (`_ledger`, `_staging`, `_quarantine`, and an earlier
 * version's `_wal`, `_offsets`) and files being written (`.tmp`) are never listed.
 */
import * as arrow from "apache-arrow";
import { readParquet, readParquetColumns } from "../arrow/parquet.ts";
import type { Storage } from "../storage/storage.ts";
import { parseTopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";
import { LEDGER_FOLDER, OFFSETS_FOLDER, parseOffsetsName, parseParquetName } from "./file_names.ts";
import { TMP_SUFFIX } from "../storage/atomic_replace.ts";
import type { HourRange } from "./hour_range.ts";
import { readCommittedOffset } from "./ledger.ts";
import { hourPathStart } from "./partitioner.ts";

/** One archived Parquet file. */
export interface ArchivedFile {
  /** Path relative to the archive root. */
  path: string;
  topic: string;
  partition: number;
  /** First and last Kafka offset of the rows it holds (from its name). */
  startOffset: bigint;
  endOffset: bigint;
  /** Its event hour, in whole hours since the Unix epoch. */
  hour: number;
  /** Its hour folder relative to the archive root (`<topic>/YYYY/MM/dd/hh`). */
  hourDir: string;
  size: number;
}

/** Options of {@link listArchivedFiles}. */
export interface ListOptions {
  /** Only the hours of this range. */
  hours?: HourRange;
  /** Only this partition. */
  partition?: number;
}

/** The committed offset of one topic-partition. */
export interface CommittedOffset {
  topic: string;
  partition: number;
  /** Last offset whose batch is durable in the archive. */
  offset: bigint;
}

/** Options of {@link readArchivedFile}. */
export interface ReadOptions {
  /**
   * Columns to read: top-level names or paths into records (`candidate.jd`); names and
   * paths the file does not have are left out. The ingest columns and the alert id are
   * not added: ask for them.
   */
  columns?: string[];
}

const HOUR_MS = 3_600_000;
/** Top-level columns that hold the alert id, in the order the archive's table builder looks. */
export const ALERT_ID_COLUMNS: readonly string[] = ["candid", "diaSourceId", "alertId"];
/**
 * Column paths of the object id astronomers name an alert by: ZTF `objectId`, Rubin
 * `diaObjectId` (top-level, or inside the `diaObject` or `diaSource` record).
 */
export const OBJECT_ID_COLUMNS: readonly string[] = [
  "objectId",
  "diaObjectId",
  "diaObject.diaObjectId",
  "diaSource.diaObjectId",
];
/** The Kafka position columns the archive adds to every row. */
export const INGEST_COLUMNS: readonly string[] = ["kafka_topic", "kafka_partition", "kafka_offset"];

/** Topics in the archive: its top-level folders that are not bookkeeping (`_…`). */
export async function listTopics(storage: Storage): Promise<string[]> {
  const entries = await storage.list("");
  return entries.filter((e) => e.isDirectory && !e.name.startsWith("_")).map((e) => e.name);
}

/** An hour folder of a topic. */
export interface ArchivedHour {
  /** Its event hour, in whole hours since the Unix epoch. */
  hour: number;
  /** Its path relative to the archive root (`<topic>/YYYY/MM/dd/hh`). */
  dir: string;
  /** When an entry of it was last added, renamed or removed, if the storage says. */
  modified: Date | null;
}

/** Hour folders of a topic (`<topic>/YYYY/MM/dd/hh`), oldest first, optionally within a range. */
export async function listArchivedHours(
  storage: Storage,
  topic: string,
  hours?: HourRange,
): Promise<ArchivedHour[]> {
  const found: ArchivedHour[] = [];
  // Each level narrows the span of hours its folder can hold; spans outside the range are skipped.
  async function walk(dir: string, level: number, parts: number[]): Promise<void> {
    for (const entry of await storage.list(dir)) {
      if (!entry.isDirectory) continue;
      const value = levelValue(entry.name, level);
      if (value === null) continue;
      const next = [...parts, value];
      const [first, last] = spanOf(next);
      if (hours !== undefined && (last < hours.from || first > hours.to)) continue;
      if (level === 3) {
        const start = hourPathStart(entry.path);
        if (start !== null) {
          found.push({ hour: start / HOUR_MS, dir: entry.path, modified: entry.modified });
        }
      } else {
        await walk(entry.path, level + 1, next);
      }
    }
  }
  await walk(topic, 0, []);
  return found.sort((a, b) => a.hour - b.hour);
}

/** The Parquet files of a topic, sorted by hour then start offset. */
export async function listArchivedFiles(
  storage: Storage,
  topic: string,
  options: ListOptions = {},
): Promise<ArchivedFile[]> {
  const files: ArchivedFile[] = [];
  for (const { hour, dir } of await listArchivedHours(storage, topic, options.hours)) {
    files.push(...(await listHourFiles(storage, { topic, hour, dir }, options.partition)));
  }
  return files;
}

/**
 * The Parquet files of one hour folder of a topic that hold its alerts, sorted by partition
 * then start offset: files a merge superseded (see {@link withoutSuperseded}) are left out.
 */
export async function listHourFiles(
  storage: Storage,
  where: { topic: string; hour: number; dir: string },
  partition?: number,
): Promise<ArchivedFile[]> {
  const files: ArchivedFile[] = [];
  for (const entry of await storage.list(where.dir)) {
    if (entry.isDirectory || entry.name.endsWith(TMP_SUFFIX)) continue;
    const parsed = parseParquetName(entry.name);
    if (parsed === null || parsed.topic !== where.topic) continue;
    if (partition !== undefined && parsed.partition !== partition) continue;
    files.push({
      path: entry.path,
      topic: parsed.topic,
      partition: parsed.partition,
      startOffset: parsed.start,
      endOffset: parsed.end,
      hour: where.hour,
      hourDir: where.dir,
      size: entry.size,
    });
  }
  return withoutSuperseded(files).sort((a, b) =>
    a.partition - b.partition || (a.startOffset < b.startOffset ? -1 : 1)
  );
}

/**
 * The rule every reader of the archive applies: a file whose offset range lies inside
 * another file's of the same hour folder and partition was merged into that file (by
 * compaction, which keeps its inputs a while for readers that listed them) and is not
 * read. Batches never overlap, so only merges nest ranges.
 */
export function withoutSuperseded<
  F extends { hourDir: string; partition: number; startOffset: bigint; endOffset: bigint },
>(files: F[]): F[] {
  const covered = new Set<F>();
  // By folder and partition, start ascending and end descending: a file is covered when a
  // file before it reaches as far (one sweep, not a comparison of every pair).
  const order = [...files].sort((a, b) =>
    a.hourDir.localeCompare(b.hourDir) || a.partition - b.partition ||
    (a.startOffset < b.startOffset ? -1 : a.startOffset > b.startOffset ? 1 : 0) ||
    (a.endOffset > b.endOffset ? -1 : a.endOffset < b.endOffset ? 1 : 0)
  );
  let reach = -1n;
  for (let i = 0; i < order.length; i++) {
    const f = order[i];
    const prev = order[i - 1];
    if (prev === undefined || prev.hourDir !== f.hourDir || prev.partition !== f.partition) {
      reach = -1n;
    }
    if (f.endOffset <= reach) covered.add(f);
    else reach = f.endOffset;
  }
  return covered.size === 0 ? files : files.filter((f) => !covered.has(f));
}

/**
 * Committed offsets of every topic-partition, from the archive's ledger
 * (`_ledger/`, and `_offsets/` of partitions an earlier version wrote last).
 */
export async function readCommittedOffsets(storage: Storage): Promise<CommittedOffset[]> {
  const tps = new TopicPartitionMap<true>();
  for (const entry of await storage.list(LEDGER_FOLDER)) {
    const tp = entry.isDirectory ? parseTopicPartition(entry.name) : null;
    if (tp !== null) tps.set(tp, true);
  }
  for (const entry of await storage.list(OFFSETS_FOLDER)) {
    const tp = entry.isDirectory ? null : parseOffsetsName(entry.name);
    if (tp !== null) tps.set(tp, true);
  }
  const found: CommittedOffset[] = [];
  for (const tp of tps.keys()) {
    const offset = await readCommittedOffset(storage, tp);
    if (offset >= 0n) found.push({ ...tp, offset });
  }
  return found;
}

/** Reads one archived file (path relative to the archive root) into an Arrow table. */
export async function readArchivedFile(
  storage: Storage,
  path: string,
  options: ReadOptions = {},
): Promise<arrow.Table> {
  const bytes = await storage.readFile(path);
  return parquetToTable(bytes, options.columns);
}

/**
 * Decodes Parquet bytes, reading only `columns` when given: top-level names or paths into
 * records and lists of records (`candidate.jd`, `prv_candidates.magpsf`; see
 * `core/arrow/projection.ts`). Names and paths the file does not have are left out.
 */
export async function parquetToTable(bytes: Uint8Array, columns?: string[]): Promise<arrow.Table> {
  return columns === undefined ? readParquet(bytes) : await readParquetColumns(bytes, columns);
}

/**
 * The object id of each of a table's rows (ZTF `objectId`, Rubin `diaObjectId`), as text
 * (Rubin's are 64-bit), or undefined when the table has no object id column.
 */
export function alertObjectIds(table: arrow.Table): (string | null)[] | undefined {
  const paths = [["objectId"], ["diaObjectId"], ["diaObject", "diaObjectId"], [
    "diaSource",
    "diaObjectId",
  ]];
  for (const [top, field] of paths) {
    const column = table.getChild(top);
    const vector = field === undefined ? column : column?.getChild(field);
    if (vector === null || vector === undefined) continue;
    return Array.from({ length: table.numRows }, (_, i) => {
      const value = vector.get(i);
      return value === null || value === undefined ? null : String(value);
    });
  }
  return undefined;
}

/** The alert ids of a table's rows (`candid`, `diaSourceId` or `alertId`), if it has such a column. */
export function alertIds(table: arrow.Table): { column: string; ids: BigInt64Array } | undefined {
  for (const column of ALERT_ID_COLUMNS) {
    const vector = table.getChild(column);
    // Types read back from IPC are generic `Int` instances: check the width, not the class.
    const type = vector?.type;
    if (vector === null || !arrow.DataType.isInt(type) || type.bitWidth !== 64) continue;
    const ids = new BigInt64Array(table.numRows);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt(vector.get(i) ?? 0n);
    return { column, ids };
  }
  return undefined;
}

function levelValue(name: string, level: number): number | null {
  const keys = ["year", "month", "day", "hour"];
  const widths = [4, 2, 2, 2];
  const m = new RegExp(`^(?:${keys[level]}=)?(\\d{${widths[level]}})$`).exec(name);
  return m === null ? null : Number(m[1]);
}

/** First and last hour (since the epoch) a folder of year[, month[, day[, hour]]] can hold. */
function spanOf(parts: number[]): [number, number] {
  const [y, m = 1, d = 1, h = 0] = parts;
  const first = Date.UTC(y, m - 1, d, h) / HOUR_MS;
  const end = parts.length === 1
    ? Date.UTC(y + 1, 0, 1)
    : parts.length === 2
    ? Date.UTC(y, m, 1)
    : parts.length === 3
    ? Date.UTC(y, m - 1, d + 1)
    : Date.UTC(y, m - 1, d, h + 1);
  return [first, end / HOUR_MS - 1];
}
