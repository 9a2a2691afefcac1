/**
 * Avro schema → Arrow schema. Each column gets a plan node saying how its
 * values are stored; the column decoder and the builders follow the plan.
 *
 * Mapping (chosen so DuckDB/Spark read the files without surprises):
 * - record → Struct; array → List (child named `element`, as Parquet expects)
 * - `["null", T]` or `[T, "null"]` → T, nullable; a one-branch union → that branch
 * - boolean → Bool; int → Int32 (logical `date` → DateDay);
 *   long → Int64 (logical `timestamp-millis`/`-micros` → Timestamp UTC, `local-` without zone)
 * - float → Float32; double → Float64; string → Utf8; bytes → Binary;
 *   fixed → FixedSizeBinary; enum → Utf8 (the symbol)
 * - map → Map (entries `key` Utf8, `value` planned like any field), a Parquet MAP column
 * - any other union → Utf8 holding the value as JSON (bigints as numbers, bytes as
 *   base64): keeps every column typed without Arrow unions, which Parquet lacks
 * - null → Null
 */
import * as arrow from "apache-arrow";
import type { AvroRecord, AvroType } from "../avro/schema.ts";

/** How a column's values are stored. */
export type ColumnKind =
  | "null"
  | "bool"
  | "i32"
  | "i64"
  | "f32"
  | "f64"
  | "utf8"
  | "binary"
  | "fixed"
  | "enum"
  | "json"
  | "struct"
  | "list"
  | "map";

/** One column (or nested child) of the Arrow schema and how to fill it. */
export interface ColumnPlan {
  name: string;
  kind: ColumnKind;
  nullable: boolean;
  /** For a nullable union: the union index that means null, and the one holding the value. */
  nullIndex: number;
  valueIndex: number;
  /** The Avro type of the (non-null) value. */
  avro: AvroType;
  arrowType: arrow.DataType;
  /** Struct children. */
  children: ColumnPlan[];
  /** List item, or the `entries` struct (key, value) of a map. */
  item?: ColumnPlan;
  /** Fixed size in bytes. */
  size: number;
  /** Enum symbols. */
  symbols: string[];
}

/** Plans the columns of a top-level record (one column per field). */
export function planColumns(record: AvroRecord): ColumnPlan[] {
  return record.fields.map((field) => planColumn(field.name, field.type, [record.name]));
}

/** The Arrow field for a planned column. */
export function arrowField(plan: ColumnPlan): arrow.Field {
  return new arrow.Field(plan.name, plan.arrowType, plan.nullable);
}

function planColumn(name: string, type: AvroType, stack: string[]): ColumnPlan {
  if (type.type === "union") {
    const nullAt = type.branches.findIndex((b) => b.type === "null");
    const others = type.branches.filter((b) => b.type !== "null");
    if (others.length === 1 && type.branches.length === 2) {
      const plan = planColumn(name, others[0], stack);
      return { ...plan, nullable: true, nullIndex: nullAt, valueIndex: 1 - nullAt };
    }
    if (others.length === 1 && type.branches.length === 1) {
      return { ...planColumn(name, others[0], stack), nullIndex: -1, valueIndex: 0 };
    }
    if (others.length === 0) return leaf(name, "null", type, new arrow.Null(), true);
    return leaf(name, "json", type, new arrow.Utf8(), nullAt >= 0);
  }
  switch (type.type) {
    case "null":
      return leaf(name, "null", type, new arrow.Null(), true);
    case "boolean":
      return leaf(name, "bool", type, new arrow.Bool());
    case "int":
      return leaf(
        name,
        "i32",
        type,
        type.logicalType === "date" ? new arrow.DateDay() : new arrow.Int32(),
      );
    case "long":
      return leaf(name, "i64", type, longType(type.logicalType));
    case "float":
      return leaf(name, "f32", type, new arrow.Float32());
    case "double":
      return leaf(name, "f64", type, new arrow.Float64());
    case "string":
      return leaf(name, "utf8", type, new arrow.Utf8());
    case "bytes":
      return leaf(name, "binary", type, new arrow.Binary());
    case "fixed":
      return {
        ...leaf(name, "fixed", type, new arrow.FixedSizeBinary(type.size)),
        size: type.size,
      };
    case "enum":
      return { ...leaf(name, "enum", type, new arrow.Utf8()), symbols: type.symbols };
    case "map": {
      const key = leaf("key", "utf8", { type: "string" }, new arrow.Utf8());
      const value = planColumn("value", type.values, stack);
      const entries = {
        ...leaf("entries", "struct", type, new arrow.Struct([arrowField(key), arrowField(value)])),
        children: [key, value],
      };
      const plan = leaf(name, "map", type, new arrow.Map_(arrowField(entries), false));
      return { ...plan, item: entries };
    }
    case "array": {
      const item = planColumn("element", type.items, stack);
      const plan = leaf(name, "list", type, new arrow.List(arrowField(item)));
      return { ...plan, item };
    }
    case "record": {
      if (stack.includes(type.name)) {
        throw new Error(
          `Recursive Avro type ${type.name} cannot be stored as Arrow columns; ` +
            "only non-recursive schemas can be archived",
        );
      }
      const children = type.fields.map((f) => planColumn(f.name, f.type, [...stack, type.name]));
      const plan = leaf(name, "struct", type, new arrow.Struct(children.map(arrowField)));
      return { ...plan, children };
    }
  }
}

function leaf(
  name: string,
  kind: ColumnKind,
  avro: AvroType,
  arrowType: arrow.DataType,
  nullable = false,
): ColumnPlan {
  return {
    name,
    kind,
    nullable,
    nullIndex: -1,
    valueIndex: -1,
    avro,
    arrowType,
    children: [],
    size: 0,
    symbols: [],
  };
}

function longType(logicalType: string | undefined): arrow.DataType {
  switch (logicalType) {
    case "timestamp-millis":
      return new arrow.TimestampMillisecond("UTC");
    case "timestamp-micros":
      return new arrow.TimestampMicrosecond("UTC");
    case "local-timestamp-millis":
      return new arrow.TimestampMillisecond();
    case "local-timestamp-micros":
      return new arrow.TimestampMicrosecond();
    default:
      return new arrow.Int64();
  }
}
