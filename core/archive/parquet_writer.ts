/**
 * Arrow table → Parquet bytes (parquet-wasm). One fast codec (LZ4 raw by
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
import * as pq from "parquet-wasm";

/** Parquet writing options. */
export interface ParquetOptions {
  /** Codec for non-binary columns (default `lz4`). */
  compression?: "lz4" | "snappy" | "zstd" | "none";
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

const CODECS = {
  lz4: pq.Compression.LZ4_RAW,
  snappy: pq.Compression.SNAPPY,
  zstd: pq.Compression.ZSTD,
  none: pq.Compression.UNCOMPRESSED,
} as const;

/** Writes `table` as one Parquet file. */
export function writeParquet(
  table: arrow.Table,
  info: ParquetSchemaInfo,
  options: ParquetOptions = {},
): Uint8Array {
  const properties = parquetProperties(table.schema, info, options);
  const schema = new arrow.Schema(
    table.schema.fields,
    new Map([[SCHEMA_KEY_KEY, info.schemaKey]]),
  );
  const tagged = new arrow.Table(table.batches.map((b) => new arrow.RecordBatch(schema, b.data)));
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(tagged, "stream"));
  return pq.writeParquet(wasmTable, properties);
}

/**
 * The archive's Parquet writer properties for rows of `schema` (see the module
 * comment), for `pq.writeParquet` or a streaming `pq.transformParquetStream`.
 */
export function parquetProperties(
  schema: arrow.Schema,
  info: ParquetSchemaInfo,
  options: ParquetOptions = {},
): pq.WriterProperties {
  const codec = CODECS[options.compression ?? "lz4"];
  if (codec === undefined) {
    throw new Error(
      `Parquet compression must be lz4, snappy, zstd or none, found ${options.compression}`,
    );
  }
  let builder = new pq.WriterPropertiesBuilder()
    .setCompression(codec)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(
      options.nestedStatistics ? pq.EnabledStatistics.Chunk : pq.EnabledStatistics.None,
    )
    .setMaxRowGroupSize(options.rowGroupRows ?? 1024)
    .setCreatedBy("fink-deno archive")
    .setKeyValueMetadata(new Map([[AVRO_SCHEMA_KEY, info.avroSchema]]));
  for (const field of schema.fields) {
    builder = configureColumn(builder, field.name, field.type);
  }
  return builder.build();
}

function configureColumn(
  builder: pq.WriterPropertiesBuilder,
  path: string,
  type: arrow.DataType,
): pq.WriterPropertiesBuilder {
  if (arrow.DataType.isBinary(type) || arrow.DataType.isFixedSizeBinary(type)) {
    return builder
      .setColumnCompression(path, pq.Compression.UNCOMPRESSED)
      .setColumnStatisticsEnabled(path, pq.EnabledStatistics.None);
  }
  if (arrow.DataType.isStruct(type) || arrow.DataType.isList(type) || arrow.DataType.isMap(type)) {
    return builder;
  }
  builder = builder.setColumnStatisticsEnabled(path, pq.EnabledStatistics.Chunk);
  if (arrow.DataType.isUtf8(type)) return builder.setColumnDictionaryEnabled(path, true);
  if (arrow.DataType.isInt(type) || arrow.DataType.isTimestamp(type)) {
    return builder.setColumnEncoding(path, pq.Encoding.DELTA_BINARY_PACKED);
  }
  return builder;
}
