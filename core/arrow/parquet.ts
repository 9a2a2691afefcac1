/**
 * Arrow tables to Parquet bytes and back: the one module of the process that
 * calls parquet-wasm (the archive's files, their compaction, plugin results,
 * the query API's Parquet answers). Its types never leave this module: the
 * writer settings are plain data. Plugin processes read their catalogs with
 * parquet-wasm's bundler build instead (core/xmatch), which needs no file access.
 */
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";

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

/** Reads only `columns` of Parquet bytes; names the file does not have are left out. */
export async function readParquetColumns(
  bytes: Uint8Array,
  columns: readonly string[],
): Promise<arrow.Table> {
  const present = new Set(readParquetSchema(bytes).fields.map((f) => f.name));
  const wanted = [...new Set(columns)].filter((c) => present.has(c));
  // The synchronous reader of parquet-wasm 0.8 ignores `columns`; the file reader honours it.
  const file = await pq.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  try {
    return arrow.tableFromIPC((await file.read({ columns: wanted })).intoIPCStream());
  } finally {
    file.free();
  }
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
