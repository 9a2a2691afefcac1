/**
 * Archived Parquet files as plugin batches: the rows of one archive batch
 * (live) or of one archived file (catch-up and batch runs), read with only the
 * columns the plugins asked for, each row keyed by its alert id and event hour,
 * with the offset ranges that name the result files.
 */
import * as arrow from "apache-arrow";
import type { WrittenFile } from "../archive/batch_writer.ts";
import type { ArchivedBatch } from "../archive/consumers.ts";
import {
  ALERT_ID_COLUMNS,
  alertIds,
  type ArchivedFile,
  OBJECT_ID_COLUMNS,
  parquetToTable,
  readArchivedFile,
} from "../archive/reader.ts";
import { parseParquetName } from "../archive/file_names.ts";
import { hourPathStart } from "../archive/partitioner.ts";
import type { Storage } from "../storage/storage.ts";
import type { PluginBatch } from "./host.ts";
import type { OffsetRange } from "./results.ts";

/** Options of {@link fileBatches}. */
export interface FileBatchOptions {
  /**
   * Columns to read, top-level names or paths into records (the id, the object id and
   * `kafka_offset` are added); all when undefined.
   */
  columns?: string[];
  /** Rows per batch at most; a bigger file is cut into several batches. */
  chunkRows: number;
  /**
   * Offset ranges of the partition's other archive files in the hour: their
   * results stay when this file's results replace what its range covers.
   */
  keep?: OffsetRange[];
}

const HOUR_MS = 3_600_000;
const OFFSET = "kafka_offset";

/** The columns to read for plugins asking for `columns` (undefined: every column). */
export function readColumns(columns: string[] | undefined): string[] | undefined {
  return columns === undefined
    ? undefined
    : [...columns, ...ALERT_ID_COLUMNS, ...OBJECT_ID_COLUMNS, OFFSET];
}

/**
 * The plugin batches of one archive batch: its files read back, from the bytes the
 * archive has just written when it hands them over, else from storage (one batch per
 * schema, so a night of late alerts spread over many hours stays one batch).
 * Files without an alert id column give no batch.
 */
export async function liveBatches(
  storage: Storage,
  archived: ArchivedBatch,
  columns?: string[],
): Promise<PluginBatch[]> {
  const bySchema = new Map<string, { tables: arrow.Table[]; files: WrittenFile[] }>();
  for (const file of archived.files) {
    const table = file.bytes === undefined
      ? await readArchivedFile(storage, file.path, { columns: readColumns(columns) })
      : await parquetToTable(file.bytes, readColumns(columns));
    const key = JSON.stringify(table.schema.fields.map((f) => f.toString()));
    const group = bySchema.get(key) ?? { tables: [], files: [] };
    group.tables.push(table);
    group.files.push(file);
    bySchema.set(key, group);
  }
  const batches: PluginBatch[] = [];
  for (const { tables, files } of bySchema.values()) {
    const ids: bigint[] = [];
    const eventHours: number[] = [];
    const sources = [];
    let usable = true;
    for (const [i, table] of tables.entries()) {
      const found = alertIds(table);
      const start = hourPathStart(files[i].hour);
      const name = parseParquetName(files[i].path.split("/").pop()!);
      if (found === undefined || start === null || name === null) {
        usable = false;
        break;
      }
      ids.push(...found.ids);
      eventHours.push(...new Array<number>(table.numRows).fill(start / HOUR_MS));
      sources.push({ hour: start / HOUR_MS, startOffset: name.start, endOffset: name.end });
    }
    if (!usable || ids.length === 0) continue;
    batches.push({
      // Files of one schema differ in their metadata only: their batches share the first schema.
      table: new arrow.Table(
        tables[0].schema,
        tables.flatMap((t) =>
          t.batches.map((b) => new arrow.RecordBatch(tables[0].schema, b.data))
        ),
      ),
      topic: archived.topic,
      partition: archived.partition,
      startOffset: archived.startOffset,
      endOffset: archived.endOffset,
      ids,
      eventHours,
      sources,
    });
  }
  return batches;
}

/**
 * The plugin batches of one archived file, in row order, at most `chunkRows`
 * rows each. Their results replace the earlier results of the file's offset
 * range (a compacted file's results replace those of the files it merged).
 */
export async function fileBatches(
  storage: Storage,
  file: ArchivedFile,
  options: FileBatchOptions,
): Promise<PluginBatch[]> {
  const bytes = await storage.readFile(file.path);
  const table = await parquetToTable(bytes, readColumns(options.columns));
  const found = alertIds(table);
  if (found === undefined || table.numRows === 0) return [];
  const offsets = table.getChild(OFFSET);
  const chunks = chunkRanges(table.numRows, options.chunkRows, offsets);
  const single = chunks.length === 1;
  // Sibling slices of the same file must not remove each other's results.
  const keep = [
    ...(options.keep ?? []),
    ...(single ? [] : chunks.map((c) => ({ startOffset: c.start, endOffset: c.end }))),
  ];
  return chunks.map((chunk) => {
    const startOffset = single ? file.startOffset : chunk.start;
    const endOffset = single ? file.endOffset : chunk.end;
    return {
      table: table.slice(chunk.from, chunk.to),
      topic: file.topic,
      partition: file.partition,
      startOffset,
      endOffset,
      ids: found.ids.subarray(chunk.from, chunk.to),
      eventHours: new Array<number>(chunk.to - chunk.from).fill(file.hour),
      sources: [{ hour: file.hour, startOffset, endOffset }],
      replaces: { startOffset: file.startOffset, endOffset: file.endOffset, keep },
    };
  });
}

/**
 * Row slices of at most `size` rows with the offset range of each. Archive
 * files hold rows in offset order; a file that does not is read as one slice,
 * so that no slice's range can swallow another's results.
 */
function chunkRanges(
  rows: number,
  size: number,
  offsets: arrow.Vector | null,
): { from: number; to: number; start: bigint; end: bigint }[] {
  const whole = [{ from: 0, to: rows, start: 0n, end: 0n }];
  if (rows <= size || offsets === null) return whole;
  const chunks = [];
  let previousEnd = -1n;
  for (let from = 0; from < rows; from += size) {
    const to = Math.min(rows, from + size);
    let start = BigInt(offsets.get(from));
    let end = start;
    for (let i = from; i < to; i++) {
      const offset = BigInt(offsets.get(i));
      if (offset < start) start = offset;
      if (offset > end) end = offset;
    }
    if (start <= previousEnd) return whole;
    previousEnd = end;
    chunks.push({ from, to, start, end });
  }
  return chunks;
}

/**
 * Offset ranges of the other files of `file`'s partition and hour that lie inside
 * its range (a compaction that merged around a file of another schema): their
 * results stay when `file`'s results replace what its range covers.
 */
export function siblings(files: ArchivedFile[], file: ArchivedFile): OffsetRange[] {
  return files.filter((f) =>
    f !== file && f.partition === file.partition && f.hourDir === file.hourDir &&
    f.startOffset >= file.startOffset && f.endOffset <= file.endOffset
  ).map((f) => ({ startOffset: f.startOffset, endOffset: f.endOffset }));
}
