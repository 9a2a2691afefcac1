/**
 * The archive's CPU-heavy, pure stage: raw Kafka messages of one
 * topic-partition in → one Parquet file per (hour, contiguous run of one
 * schema) out. Bad messages are quarantined with a reason, never thrown.
 * Deterministic: the same messages and options always give the same files
 * (the exactly-once replay relies on it), so the clock is read only to time
 * the two halves of the work, never for the files.
 */
import type * as arrow from "apache-arrow";
import { createDecoder, type Decoder, type DecoderOptions } from "../avro/mod.ts";
import { asDecodeError, DecodeError } from "../avro/errors.ts";
import type { ParsedSchema } from "../avro/schema.ts";
import type { ColumnBuilder } from "../arrow/builders.ts";
import { type Mark, numberAt, TableBuilder } from "../arrow/table_builder.ts";
import {
  eventHour,
  type EventTimeField,
  hourPath,
  type PartitionOptions,
  resolveEventTime,
} from "./partitioner.ts";
import { type ParquetOptions, writeParquet } from "./parquet_writer.ts";
import { withSkyPixel } from "./sky_pixel.ts";

/** One Kafka message as consumed. */
export interface RawMessage {
  topic: string;
  partition: number;
  offset: bigint;
  /** Kafka timestamp, ms since the epoch. */
  timestamp: number;
  value: Uint8Array;
}

/** How to decode, partition and write a batch. Plain data, so it can cross to a Worker. */
export interface EncodeOptions {
  /** Message format (default: auto-detect containers only). */
  decoder?: DecoderOptions;
  /** Event-time field and hour layout. */
  partition?: PartitionOptions;
  /** Parquet codec and row groups. */
  parquet?: ParquetOptions;
  /** The `ingest_time` of every row, ms; default: each message's Kafka timestamp. */
  ingestTime?: number;
}

/** A message that could not be archived. */
export interface QuarantinedMessage {
  offset: bigint;
  reason: string;
  value: Uint8Array;
}

/** The rows of one output file, as an Arrow table. */
export interface DecodedTable {
  /** Partition path: `YYYY/MM/dd/hh` or hive style. */
  hour: string;
  /** First and last Kafka offset whose rows are in this table. */
  startOffset: bigint;
  endOffset: bigint;
  rows: number;
  schemaKey: string;
  schema: ParsedSchema;
  table: arrow.Table;
  /** Alert ids (`candid`, `diaSourceId` or `alertId`) per row, when the schema has one. */
  ids?: BigInt64Array;
}

/** A batch decoded to Arrow tables (what the plugin bus consumes). */
export interface DecodedBatch {
  tables: DecodedTable[];
  quarantined: QuarantinedMessage[];
  /** Messages decoded successfully. */
  decoded: number;
}

/** One Parquet file to store as `<hour>/<topic>+<partition>+<start>+<end>.parquet`. */
export interface EncodedFile {
  hour: string;
  startOffset: bigint;
  endOffset: bigint;
  rows: number;
  bytes: Uint8Array;
  schemaKey: string;
  ids?: BigInt64Array;
}

/** The result of {@link encodeBatch}. */
export interface EncodedBatch {
  files: EncodedFile[];
  quarantined: QuarantinedMessage[];
  /** Messages decoded successfully. */
  decoded: number;
  /** Milliseconds spent decoding Avro into Arrow, and encoding Arrow as Parquet. */
  timings: { decodeMs: number; encodeMs: number };
}

interface Group {
  hour: number | undefined;
  builder: TableBuilder;
  /** Scratch mark taken before each row, reused. */
  rowMark: Mark | undefined;
  eventColumn: ColumnBuilder[];
  start: bigint | undefined;
  end: bigint | undefined;
}

interface Run {
  schema: ParsedSchema;
  field: EventTimeField;
  groups: Map<number, Group>;
  current: Group | undefined;
}

const decoders = new Map<string, Decoder>();

/** The decoder for `options`, kept across batches so schema caches survive. */
export function decoderFor(options: DecoderOptions = {}): Decoder {
  const key = JSON.stringify(options);
  let decoder = decoders.get(key);
  if (!decoder) {
    decoder = createDecoder(options);
    decoders.set(key, decoder);
  }
  return decoder;
}

/**
 * Decodes a batch into one Arrow table per (hour, contiguous schema run).
 *
 * @throws Error when the messages are not all from one topic-partition
 */
export async function decodeToTables(
  messages: readonly RawMessage[],
  options: EncodeOptions = {},
): Promise<DecodedBatch> {
  checkOnePartition(messages);
  const decoder = decoderFor(options.decoder);
  const layout = options.partition?.layout ?? "plain";
  const runs: Run[] = [];
  const fields = new Map<string, EventTimeField | DecodeError>();
  const quarantined: QuarantinedMessage[] = [];
  let decoded = 0;
  let run: Run | undefined;

  for (const message of messages) {
    const touched = new Map<Group, Mark>();
    const filled = new Set<Group>();
    try {
      const framed = await decoder.frame(message.value);
      const field = eventField(framed.schema, options.partition, fields);
      if (run?.schema.key !== framed.schema.key) {
        run = { schema: framed.schema, field, groups: new Map(), current: undefined };
        runs.push(run);
      }
      const meta = {
        topic: message.topic,
        partition: message.partition,
        offset: message.offset,
        timestamp: message.timestamp,
        ingestTime: options.ingestTime ?? message.timestamp,
      };
      for (const block of framed.blocks) {
        let pos = block.start;
        for (let i = 0; i < block.count; i++) {
          pos = appendRow(run, touched, block.bytes, pos, block.end);
          run.current!.builder.appendIngest(meta);
          filled.add(run.current!);
        }
        if (pos !== block.end) {
          throw new DecodeError(
            `Avro data has ${block.end - pos} unread bytes after ${block.count} record(s); ` +
              "the writer schema does not match the data or the data is corrupt",
          );
        }
      }
      for (const group of filled) {
        if (group.start === undefined || message.offset < group.start) group.start = message.offset;
        if (group.end === undefined || message.offset > group.end) group.end = message.offset;
      }
      decoded++;
    } catch (error) {
      for (const [group, mark] of touched) group.builder.reset(mark);
      const reason = asDecodeError(error, "Unexpected decoding failure").reason;
      quarantined.push({ offset: message.offset, reason, value: message.value });
    }
  }

  const tables: DecodedTable[] = [];
  for (const { schema, groups } of runs) {
    for (const group of groups.values()) {
      if (group.builder.rows === 0) continue;
      tables.push({
        hour: hourPath(group.hour!, layout),
        startOffset: group.start!,
        endOffset: group.end!,
        rows: group.builder.rows,
        schemaKey: schema.key,
        schema,
        table: withSkyPixel(group.builder.finish()),
        ids: group.builder.ids(),
      });
    }
  }
  return { tables, quarantined, decoded };
}

/** Decodes a batch and writes each table as Parquet; see {@link decodeToTables}. */
export async function encodeBatch(
  messages: readonly RawMessage[],
  options: EncodeOptions = {},
): Promise<EncodedBatch> {
  const t0 = performance.now();
  const { tables, quarantined, decoded } = await decodeToTables(messages, options);
  const t1 = performance.now();
  const files = tables.map((t) => ({
    hour: t.hour,
    startOffset: t.startOffset,
    endOffset: t.endOffset,
    rows: t.rows,
    bytes: writeParquet(
      t.table,
      { avroSchema: t.schema.json, schemaKey: t.schemaKey },
      options.parquet,
    ),
    schemaKey: t.schemaKey,
    ids: t.ids,
  }));
  const timings = { decodeMs: t1 - t0, encodeMs: performance.now() - t1 };
  return { files, quarantined, decoded, timings };
}

/**
 * Reads one record into the group of its hour. The record goes into the run's
 * current group first (consecutive alerts share an hour); when its event time
 * says otherwise it is rolled back and read again into the right group.
 */
function appendRow(
  run: Run,
  touched: Map<Group, Mark>,
  bytes: Uint8Array,
  pos: number,
  end: number,
): number {
  let group = run.current ?? newGroup(run, undefined);
  if (!touched.has(group)) touched.set(group, group.builder.mark());
  const rowMark = group.rowMark = group.builder.mark(group.rowMark);
  const row = group.builder.rows;
  const next = group.builder.readRow(bytes, pos, end);
  const hour = eventHour(numberAt(group.eventColumn, row), run.field);
  if (group.hour === undefined) {
    group.hour = hour;
    run.groups.set(hour, group);
  } else if (group.hour !== hour) {
    group.builder.reset(rowMark);
    group = run.groups.get(hour) ?? newGroup(run, hour);
    if (!touched.has(group)) touched.set(group, group.builder.mark());
    group.builder.readRow(bytes, pos, end);
  }
  run.current = group;
  return next;
}

function newGroup(run: Run, hour: number | undefined): Group {
  const builder = new TableBuilder(run.schema);
  const eventColumn = builder.columnPath(run.field.path)!;
  const group: Group = {
    hour,
    builder,
    rowMark: undefined,
    eventColumn,
    start: undefined,
    end: undefined,
  };
  if (hour !== undefined) run.groups.set(hour, group);
  return group;
}

function eventField(
  schema: ParsedSchema,
  options: PartitionOptions | undefined,
  cache: Map<string, EventTimeField | DecodeError>,
): EventTimeField {
  let field = cache.get(schema.key);
  if (!field) {
    try {
      field = resolveEventTime(schema.type, options);
    } catch (error) {
      field = asDecodeError(error, `Schema ${schema.name}`);
    }
    cache.set(schema.key, field);
  }
  if (field instanceof DecodeError) throw field;
  return field;
}

function checkOnePartition(messages: readonly RawMessage[]): void {
  if (messages.length === 0) return;
  const { topic, partition } = messages[0];
  const other = messages.find((m) => m.topic !== topic || m.partition !== partition);
  if (other) {
    throw new Error(
      `A batch must come from one topic-partition: expected ${topic}/${partition}, ` +
        `found ${other.topic}/${other.partition} at offset ${other.offset}`,
    );
  }
}
