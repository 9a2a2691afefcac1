/**
 * Accumulates the rows of one writer schema as Arrow columns, plus the ingest
 * metadata columns every archived row carries, and yields an `arrow.Table`.
 * Appends can be rolled back to a mark, so a message that fails half-way
 * leaves no partial row behind.
 */
import * as arrow from "apache-arrow";
import { DecodeError } from "../avro/errors.ts";
import type { ParsedSchema } from "../avro/schema.ts";
import { ColumnBuilder } from "./builders.ts";
import { compileRowDecoder, type RowDecoder } from "./column_decoder.ts";
import { arrowField, type ColumnPlan, planColumns } from "./schema.ts";

/** Names of the ingest metadata columns appended to every row, in order. */
export const INGEST_COLUMNS = [
  "kafka_topic",
  "kafka_partition",
  "kafka_offset",
  "kafka_timestamp",
  "ingest_time",
] as const;

/** Where a row came from, stored in the ingest metadata columns. */
export interface IngestMeta {
  topic: string;
  partition: number;
  offset: bigint;
  /** Kafka message timestamp, ms since the epoch. */
  timestamp: number;
  /** When the row was ingested, ms since the epoch (passed in, for deterministic output). */
  ingestTime: number;
}

/** The Arrow layout of a schema's rows, computed once per schema. */
export interface TableLayout {
  plans: ColumnPlan[];
  arrowSchema: arrow.Schema;
}

/** A position to roll back to (see {@link TableBuilder.mark}). */
export type Mark = Int32Array;

const INGEST_PLANS: ColumnPlan[] = [
  ingestPlan("kafka_topic", "utf8", new arrow.Utf8()),
  ingestPlan("kafka_partition", "i32", new arrow.Int32()),
  ingestPlan("kafka_offset", "i64", new arrow.Int64()),
  ingestPlan("kafka_timestamp", "i64", new arrow.TimestampMillisecond("UTC")),
  ingestPlan("ingest_time", "i64", new arrow.TimestampMillisecond("UTC")),
];

const layouts = new WeakMap<ParsedSchema, TableLayout>();
const ID_FIELDS = ["candid", "diaSourceId", "alertId"];

/**
 * The Arrow layout for a schema's rows (cached).
 *
 * @throws DecodeError when the schema cannot be laid out as columns
 */
export function tableLayout(schema: ParsedSchema): TableLayout {
  let layout = layouts.get(schema);
  if (layout) return layout;
  if (schema.type.type !== "record") {
    throw new DecodeError(
      `Top-level Avro type must be a record to become table columns, found ${schema.type.type}`,
    );
  }
  const clash = schema.type.fields.find((f) =>
    (INGEST_COLUMNS as readonly string[]).includes(f.name)
  );
  if (clash) {
    throw new DecodeError(
      `Schema ${schema.name} has a field "${clash.name}", which is reserved for ingest metadata`,
    );
  }
  let plans: ColumnPlan[];
  try {
    plans = planColumns(schema.type);
  } catch (error) {
    throw new DecodeError((error as Error).message);
  }
  const fields = [...plans, ...INGEST_PLANS].map(arrowField);
  layout = { plans, arrowSchema: new arrow.Schema(fields) };
  layouts.set(schema, layout);
  return layout;
}

/** Column buffers for the rows of one writer schema. */
export class TableBuilder {
  /** The writer schema of every row. */
  readonly schema: ParsedSchema;
  readonly #layout: TableLayout;
  readonly #columns: ColumnBuilder[];
  readonly #ingest: ColumnBuilder[];
  readonly #all: ColumnBuilder[];
  readonly #decoder: RowDecoder;
  readonly #topicBytes = new Map<string, Uint8Array>();

  /** Creates empty columns for `schema`. */
  constructor(schema: ParsedSchema) {
    this.schema = schema;
    this.#layout = tableLayout(schema);
    this.#columns = this.#layout.plans.map((plan) => new ColumnBuilder(plan));
    this.#ingest = INGEST_PLANS.map((plan) => new ColumnBuilder(plan));
    this.#all = [];
    for (const column of [...this.#columns, ...this.#ingest]) column.collect(this.#all);
    this.#decoder = compileRowDecoder(this.#layout.plans, this.#columns);
  }

  /** Completed rows (each has its ingest metadata). */
  get rows(): number {
    return this.#ingest[0].len;
  }

  /**
   * Reads one Avro record from `bytes[pos..end)` into the schema columns and
   * returns the position after it. Call {@link appendIngest} to complete the row.
   *
   * @throws DecodeError for corrupt or truncated data (roll back with {@link reset})
   */
  readRow(bytes: Uint8Array, pos: number, end: number): number {
    try {
      return this.#decoder.readRow(bytes, pos, end);
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      if (error instanceof RangeError) {
        throw new DecodeError(`Avro data truncated: a record runs past the end of the message`);
      }
      throw new DecodeError(`Corrupt Avro record: ${(error as Error).message}`);
    }
  }

  /** Completes the row just read with where it came from. */
  appendIngest(meta: IngestMeta): void {
    const [topic, partition, offset, timestamp, ingestTime] = this.#ingest;
    let topicBytes = this.#topicBytes.get(meta.topic);
    if (!topicBytes) {
      topicBytes = new TextEncoder().encode(meta.topic);
      this.#topicBytes.set(meta.topic, topicBytes);
    }
    topic.pushBytes(topicBytes, 0, topicBytes.length);
    partition.pushI32(meta.partition);
    offset.pushI64(meta.offset);
    timestamp.pushI64Number(meta.timestamp);
    ingestTime.pushI64Number(meta.ingestTime);
  }

  /** Remembers the current lengths of every buffer, into `mark` when given (reused, no allocation). */
  mark(mark?: Mark): Mark {
    const all = this.#all;
    if (!mark || mark.length !== all.length * 2) mark = new Int32Array(all.length * 2);
    for (let i = 0; i < all.length; i++) {
      mark[2 * i] = all[i].len;
      mark[2 * i + 1] = all[i].dataLen;
    }
    return mark;
  }

  /** Drops everything appended since `mark`. */
  reset(mark: Mark): void {
    const all = this.#all;
    for (let i = 0; i < all.length; i++) {
      all[i].len = mark[2 * i];
      all[i].dataLen = mark[2 * i + 1];
    }
  }

  /**
   * The builders along a path of field names through (possibly nullable)
   * records, e.g. `["candidate", "jd"]`; undefined when the path does not exist.
   */
  columnPath(path: readonly string[]): ColumnBuilder[] | undefined {
    const chain: ColumnBuilder[] = [];
    let plans = this.#layout.plans;
    let builders = this.#columns;
    for (const name of path) {
      const index = plans.findIndex((p) => p.name === name);
      if (index < 0) return undefined;
      chain.push(builders[index]);
      plans = plans[index].children;
      builders = builders[index].children;
    }
    return chain;
  }

  /** The alert ids of all rows (top-level `candid`, `diaSourceId` or `alertId`), if present. */
  ids(): BigInt64Array | undefined {
    for (const name of ID_FIELDS) {
      const chain = this.columnPath([name]);
      if (chain && chain[0].kind === "i64") {
        return new BigInt64Array(chain[0].values.buffer, 0, this.rows).slice();
      }
    }
    return undefined;
  }

  /** The finished table (views on the column buffers; do not append afterwards). */
  finish(): arrow.Table {
    const length = this.rows;
    const children = [...this.#columns, ...this.#ingest].map((c) => c.finish());
    const schema = this.#layout.arrowSchema;
    const data = arrow.makeData({
      type: new arrow.Struct(schema.fields),
      length,
      nullCount: 0,
      children,
    });
    return new arrow.Table([new arrow.RecordBatch(schema, data)]);
  }
}

/** Reads a numeric value at `row` along a builder chain; null when any level is null or NaN. */
export function numberAt(chain: readonly ColumnBuilder[], row: number): number | null {
  for (const builder of chain) {
    if (builder.valid && builder.valid[row] === 0) return null;
  }
  const leaf = chain[chain.length - 1];
  let value: number;
  if (leaf.kind === "i64") {
    const words = leaf.values as Int32Array;
    value = words[2 * row + 1] * 4294967296 + (words[2 * row] >>> 0);
  } else value = leaf.values[row];
  return Number.isNaN(value) ? null : value;
}

function ingestPlan(name: string, kind: "utf8" | "i32" | "i64", type: arrow.DataType): ColumnPlan {
  return {
    name,
    kind,
    nullable: false,
    nullIndex: -1,
    valueIndex: -1,
    avro: { type: kind === "utf8" ? "string" : kind === "i32" ? "int" : "long" },
    arrowType: type,
    children: [],
    size: 0,
    symbols: [],
  };
}
