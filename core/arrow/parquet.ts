/**
 * Arrow tables to Parquet bytes and back: the one module of the process that
 * calls parquet-wasm (the archive's files, their compaction, plugin results,
 * the query API's Parquet answers). Its types never leave this module: the
 * writer settings are plain data. Plugin processes read their catalogs with
 * parquet-wasm's bundler build instead (core/xmatch), which needs no file access.
 */
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { logicalPath, type PathTree, pathTree } from "./projection.ts";

/** A Parquet compression codec. */
export type ParquetCompression = "lz4" | "snappy" | "zstd" | "none";

/** How one top-level column is written, where it differs from the file's settings. */
export interface ParquetColumnSettings {
  compression?: ParquetCompression;
  /** Chunk statistics (min, max, nulls). */
  statistics?: boolean;
  dictionary?: boolean;
  /** DELTA_BINARY_PACKED encoding, for integers and timestamps. */
  deltaEncoded?: boolean;
}

/** How a Parquet file is written; a setting left out keeps parquet-wasm's default. */
export interface ParquetSettings {
  compression?: ParquetCompression;
  dictionary?: boolean;
  /** Chunk statistics for every column not set otherwise. */
  statistics?: boolean;
  /** Rows per row group. */
  rowGroupRows?: number;
  createdBy?: string;
  /** Parquet key-value metadata. */
  keyValueMetadata?: ReadonlyMap<string, string>;
  /** Per top-level column (parquet-wasm takes a column name as a single path part). */
  columns?: ReadonlyMap<string, ParquetColumnSettings>;
}

const CODECS: Record<ParquetCompression, pq.Compression> = {
  lz4: pq.Compression.LZ4_RAW,
  snappy: pq.Compression.SNAPPY,
  zstd: pq.Compression.ZSTD,
  none: pq.Compression.UNCOMPRESSED,
};

/** Writes `table` as one Parquet file. */
export function writeParquet(table: arrow.Table, settings?: ParquetSettings): Uint8Array {
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
  return pq.writeParquet(wasmTable, settings === undefined ? undefined : properties(settings));
}

/** Reads Parquet bytes into an Arrow table, every column. */
export function readParquet(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
}

/**
 * Reads only `columns` of Parquet bytes: top-level names or paths into records and lists of
 * records (`candidate.jd`, `prv_candidates.magpsf`; see projection.ts), a record then holding
 * only the fields asked for. Only the leaf columns those cover are decoded. Names and paths
 * the file does not have are left out.
 */
export async function readParquetColumns(
  bytes: Uint8Array,
  columns: readonly string[],
): Promise<arrow.Table> {
  // The synchronous reader of parquet-wasm 0.8 ignores `columns`; the file reader honours it.
  const file = await pq.ParquetFile.fromFile(blobOf(bytes));
  try {
    return arrow.tableFromIPC((await readLeaves(file, columns)).intoIPCStream());
  } finally {
    file.free();
  }
}

/**
 * The leaf columns to read, by the paths asked for and the file's Arrow schema (as embedded by
 * its writer): every file of a schema has the same leaves, and finding them costs more than
 * reading a small file's few leaves.
 */
const leafCache = new Map<string, string[]>();
const LEAF_CACHE_ENTRIES = 256;

async function readLeaves(file: pq.ParquetFile, columns: readonly string[]): Promise<pq.Table> {
  const schema = file.metadata().fileMetadata().keyValueMetadata().get("ARROW:schema");
  const key = typeof schema === "string" ? `${columns.join(",")}\n${schema}` : undefined;
  const cached = key === undefined ? undefined : leafCache.get(key);
  if (cached !== undefined) {
    try {
      return await file.read({ columns: cached });
    } catch {
      // Another writer's layout under the same schema: this file's own leaves are found below.
    }
  }
  const wanted = leafColumns(file, pathTree(columns));
  if (key !== undefined) {
    if (leafCache.size >= LEAF_CACHE_ENTRIES) leafCache.clear();
    leafCache.set(key, wanted);
  }
  return await file.read({ columns: wanted });
}

/**
 * The bytes as the file reader takes them: it only asks for the size and for slices of the
 * byte ranges it reads, so this stands in for a `Blob`, whose construction would copy every
 * byte of the file (cutouts included) first.
 */
function blobOf(bytes: Uint8Array): Blob {
  const slices = {
    size: bytes.byteLength,
    slice: (start: number, end: number) => ({
      arrayBuffer: () => Promise.resolve(bytes.slice(start, end).buffer),
    }),
  };
  return slices as unknown as Blob;
}

/** The physical paths of the file's leaf columns that `tree` covers, as the reader takes them. */
function leafColumns(file: pq.ParquetFile, tree: PathTree): string[] {
  const schema = arrow.tableFromIPC(file.schema().intoIPCStream()).schema;
  const metadata = file.metadata();
  if (metadata.numRowGroups() === 0) {
    return schema.fields.map((f) => f.name).filter((name) => tree.has(name));
  }
  const wanted: string[] = [];
  for (const column of metadata.rowGroup(0).columns()) {
    const physical = column.columnPath();
    // A column asked for whole takes all its leaves, however they nest.
    const whole = tree.get(physical[0]) === true;
    const logical = whole ? null : logicalPath(schema, physical);
    if (whole || (logical !== null && covers(tree, logical))) wanted.push(physical.join("."));
  }
  return wanted;
}

/** Whether the path is asked for by `tree`, itself or as part of a field asked for whole. */
function covers(tree: PathTree, path: string): boolean {
  let node: PathTree | true | undefined = tree;
  for (const part of path.split(".")) {
    if (node === true) return true;
    node = node.get(part);
    if (node === undefined) return false;
  }
  return node === true;
}

/** The Arrow schema (with its metadata) of Parquet bytes, without decoding rows. */
export function readParquetSchema(bytes: Uint8Array): arrow.Schema {
  return arrow.tableFromIPC(pq.readSchema(bytes).intoIPCStream()).schema;
}

/** Options of {@link concatParquet}. */
export interface ConcatOptions {
  settings: ParquetSettings;
  /** Schema metadata keys each input's batches keep (record batches come without them). */
  keepMetadata: readonly string[];
}

/**
 * The rows of several Parquet files of one schema as one Parquet file, written
 * as a stream: the inputs are read one at a time as the writer asks for rows,
 * so memory holds about one input and one row group, never the whole output.
 */
export function concatParquet(
  inputs: readonly (() => Promise<Uint8Array>)[],
  options: ConcatOptions,
): Promise<ReadableStream<Uint8Array>> {
  let next = 0;
  const batches = new ReadableStream<pq.RecordBatch>({
    pull: async (controller) => {
      if (next === inputs.length) return controller.close();
      using table = pq.readParquet(await inputs[next++]());
      using schema = table.schema;
      const own = schema.metadata();
      const kept = new Map(options.keepMetadata.map((key) => [key, own.get(key) ?? ""]));
      for (const batch of table.recordBatches()) {
        using untagged = batch;
        controller.enqueue(untagged.withSchema(schema.withMetadata(kept)));
      }
    },
  });
  return pq.transformParquetStream(batches, properties(options.settings));
}

function properties(settings: ParquetSettings): pq.WriterProperties {
  let builder = new pq.WriterPropertiesBuilder();
  if (settings.compression !== undefined) {
    builder = builder.setCompression(codecOf(settings.compression));
  }
  if (settings.dictionary !== undefined) {
    builder = builder.setDictionaryEnabled(settings.dictionary);
  }
  if (settings.statistics !== undefined) {
    builder = builder.setStatisticsEnabled(statisticsOf(settings.statistics));
  }
  if (settings.rowGroupRows !== undefined) {
    builder = builder.setMaxRowGroupSize(settings.rowGroupRows);
  }
  if (settings.createdBy !== undefined) builder = builder.setCreatedBy(settings.createdBy);
  if (settings.keyValueMetadata !== undefined) {
    builder = builder.setKeyValueMetadata(new Map(settings.keyValueMetadata));
  }
  for (const [column, s] of settings.columns ?? []) {
    if (s.compression !== undefined) {
      builder = builder.setColumnCompression(column, codecOf(s.compression));
    }
    if (s.statistics !== undefined) {
      builder = builder.setColumnStatisticsEnabled(column, statisticsOf(s.statistics));
    }
    if (s.dictionary !== undefined) {
      builder = builder.setColumnDictionaryEnabled(column, s.dictionary);
    }
    if (s.deltaEncoded === true) {
      builder = builder.setColumnEncoding(column, pq.Encoding.DELTA_BINARY_PACKED);
    }
  }
  return builder.build();
}

function codecOf(compression: ParquetCompression): pq.Compression {
  const codec = CODECS[compression];
  if (codec === undefined) {
    throw new Error(`Parquet compression must be lz4, snappy, zstd or none, found ${compression}`);
  }
  return codec;
}

function statisticsOf(enabled: boolean): pq.EnabledStatistics {
  return enabled ? pq.EnabledStatistics.Chunk : pq.EnabledStatistics.None;
}
