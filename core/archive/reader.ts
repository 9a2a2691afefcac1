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
import * as pq from "parquet-wasm";
import type { Storage } from "../storage/storage.ts";
import { parseParquetName } from "./compactor.ts";
import { LEDGER_DIR, readCommittedOffset, TMP_SUFFIX } from "./ledger.ts";
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

/** An inclusive range of event hours, in whole hours since the Unix epoch. */
export interface HourRange {
  from: number;
  to: number;
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
   * Top-level columns to read; names the file does not have are left out. The
   * ingest columns and the alert id are not added: ask for them.
   */
  columns?: string[];
}

const HOUR_MS = 3_600_000;
/** Top-level columns that hold the alert id, in the order the archive's table builder looks. */
export const ALERT_ID_COLUMNS: readonly string[] = ["candid", "diaSourceId", "alertId"];
/**
 * Top-level columns that hold the object id astronomers name an alert by: ZTF
 * `objectId`, Rubin `diaObjectId` (inside the `diaObject` or `diaSource` record).
 */
export const OBJECT_ID_COLUMNS: readonly string[] = [
  "objectId",
  "diaObjectId",
  "diaObject",
  "diaSource",
];
/** The Kafka position columns the archive adds to every row. */
export const INGEST_COLUMNS: readonly string[] = ["kafka_topic", "kafka_partition", "kafka_offset"];

/** Topics in the archive: its top-level folders that are not bookkeeping (`_…`). */
export async function listTopics(storage: Storage): Promise<string[]> {
  const entries = await storage.list("");
  return entries.filter((e) => e.isDirectory && !e.name.startsWith("_")).map((e) => e.name);
}

/** Hour folders of a topic (`<topic>/YYYY/MM/dd/hh`), oldest first, optionally within a range. */
export async function listArchivedHours(
  storage: Storage,
  topic: string,
  hours?: HourRange,
): Promise<{ hour: number; dir: string }[]> {
  const found: { hour: number; dir: string }[] = [];
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
        if (start !== null) found.push({ hour: start / HOUR_MS, dir: entry.path });
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

/** The Parquet files of one hour folder of a topic, sorted by partition then start offset. */
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
  return files.sort((a, b) =>
    a.partition - b.partition || (a.startOffset < b.startOffset ? -1 : 1)
  );
}

/**
 * Committed offsets of every topic-partition, from the archive's ledger
 * (`_ledger/`, and `_offsets/` of partitions an earlier version wrote last).
 */
export async function readCommittedOffsets(storage: Storage): Promise<CommittedOffset[]> {
  const tps = new Map<string, { topic: string; partition: number }>();
  for (const entry of await storage.list(LEDGER_DIR)) {
    const m = /^(.+)\+(\d+)$/.exec(entry.name);
    if (entry.isDirectory && m !== null) {
      tps.set(`${m[1]}+${m[2]}`, { topic: m[1], partition: Number(m[2]) });
    }
  }
  for (const entry of await storage.list("_offsets")) {
    const m = /^(.+)\+(\d+)\.json(\.tmp)?$/.exec(entry.name);
    if (!entry.isDirectory && m !== null) {
      tps.set(`${m[1]}+${m[2]}`, { topic: m[1], partition: Number(m[2]) });
    }
  }
  const found: CommittedOffset[] = [];
  for (const tp of tps.values()) {
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

/** Decodes Parquet bytes, reading only `columns` (those the file has) when given. */
export async function parquetToTable(bytes: Uint8Array, columns?: string[]): Promise<arrow.Table> {
  if (columns === undefined) return arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  const present = new Set(
    arrow.tableFromIPC(pq.readSchema(bytes).intoIPCStream()).schema.fields.map((f) => f.name),
  );
  const wanted = [...new Set(columns)].filter((c) => present.has(c));
  // The synchronous reader of parquet-wasm 0.8 ignores `columns`; the file reader honours it.
  const file = await pq.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  try {
    return arrow.tableFromIPC((await file.read({ columns: wanted })).intoIPCStream());
  } finally {
    file.free();
  }
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
