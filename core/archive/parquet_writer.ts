/**
 * The archive's Parquet files (written by core/arrow/parquet.ts). One fast codec (LZ4 raw by
 * default), no dictionaries; then per top-level column: binary (cutouts,
 * already gzipped) uncompressed without statistics, integers delta-encoded,
 * strings with a dictionary, chunk statistics on scalars. Statistics of nested
 * columns are off by default: on real ZTF alerts they cost a third of the
 * write time, and the hour partitions already prune by time. The Avro writer schema and its key
 * travel with the file: the schema JSON as Parquet key-value metadata
 * `avro.schema`, the key as Arrow schema metadata `fink.schema_key` (inside
 * `ARROW:schema`; Arrow readers such as pyarrow and parquet-wasm show both).
 * Only one entry goes to the key-value list because parquet-wasm keeps it in a
 * hash map: two entries would come out in a varying order, and the archive
 * needs byte-identical files for identical input.
 *
 * parquet-wasm 0.8 takes a column name as a single path part, so per-column
 * settings only reach top-level columns; nested ones (ZTF's
 * `cutoutScience.stampData`) use the global settings. Measured on real ZTF
 * alerts the difference is a few percent of write time, and sizes are equal.
 */
import * as arrow from "apache-arrow";
import {
  type ParquetColumnSettings,
  type ParquetCompression,
  type ParquetSettings,
  writeParquet as writeParquetFile,
} from "../arrow/parquet.ts";

/** Parquet writing options. */
export interface ParquetOptions {
  /** Codec for non-binary columns (default `lz4`). */
  compression?: ParquetCompression;
  /** Rows per row group (default 1,024: about 60 MB of ZTF alerts with cutouts). */
  rowGroupRows?: number;
  /** Also write statistics for nested columns (`candidate.jd`, ...); default false. */
  nestedStatistics?: boolean;
}

/** What the file's key-value metadata records about its rows. */
export interface ParquetSchemaInfo {
  /** The Avro writer schema JSON. */
  avroSchema: string;
  /** The schema key rows were grouped by. */
  schemaKey: string;
}

/** Parquet key-value metadata key holding the Avro schema JSON. */
export const AVRO_SCHEMA_KEY = "avro.schema";
/** Arrow schema metadata key holding the schema key. */
export const SCHEMA_KEY_KEY = "fink.schema_key";

/** Writes `table` as one Parquet file of the archive. */
export function writeParquet(
  table: arrow.Table,
  info: ParquetSchemaInfo,
  options: ParquetOptions = {},
): Uint8Array {
  const settings = parquetProperties(table.schema, info, options);
  const schema = new arrow.Schema(
    table.schema.fields,
    new Map([[SCHEMA_KEY_KEY, info.schemaKey]]),
  );
  const tagged = new arrow.Table(table.batches.map((b) => new arrow.RecordBatch(schema, b.data)));
  return writeParquetFile(tagged, settings);
}

/**
 * The archive's Parquet writer settings for rows of `schema` (see the module
 * comment), for a whole file or a compaction's streamed merge.
 */
export function parquetProperties(
  schema: arrow.Schema,
  info: ParquetSchemaInfo,
  options: ParquetOptions = {},
): ParquetSettings {
  const columns = new Map<string, ParquetColumnSettings>();
  for (const field of schema.fields) {
    const column = columnSettings(field.type);
    if (column !== null) columns.set(field.name, column);
  }
  return {
    compression: options.compression ?? "lz4",
    dictionary: false,
    statistics: options.nestedStatistics === true,
    rowGroupRows: options.rowGroupRows ?? 1024,
    createdBy: "fink-deno archive",
    keyValueMetadata: new Map([[AVRO_SCHEMA_KEY, info.avroSchema]]),
    columns,
  };
}

function columnSettings(type: arrow.DataType): ParquetColumnSettings | null {
  if (arrow.DataType.isBinary(type) || arrow.DataType.isFixedSizeBinary(type)) {
    return { compression: "none", statistics: false };
  }
  if (arrow.DataType.isStruct(type) || arrow.DataType.isList(type) || arrow.DataType.isMap(type)) {
    return null;
  }
  return {
    statistics: true,
    ...(arrow.DataType.isUtf8(type) ? { dictionary: true } : {}),
    ...(arrow.DataType.isInt(type) || arrow.DataType.isTimestamp(type)
      ? { deltaEncoded: true }
      : {}),
  };
}
