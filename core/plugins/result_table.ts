/**
 * Result rows as Arrow tables, the form they travel in from a plugin process to
 * the host and are written in: an `id` Int64 column plus one column per declared
 * output. Numbers and booleans are copied straight between the rows and the
 * columns' buffers (a plugin returns tens of columns for thousands of alerts;
 * Arrow's generic builders and `get(i)` cost several times more).
 */
import * as arrow from "apache-arrow";
import type { OutputType, PluginRow } from "./define.ts";

type Value = PluginRow[string];

const ARROW_TYPES = {
  float64: () => new arrow.Float64(),
  int32: () => new arrow.Int32(),
  int64: () => new arrow.Int64(),
  bool: () => new arrow.Bool(),
};

/** A column of `length` values from `at(i)`, null where it gives null or undefined. */
function column(
  length: number,
  type: OutputType,
  at: (i: number) => Value | undefined,
): arrow.Vector {
  if (type === "string") {
    return arrow.vectorFromArray(Array.from({ length }, (_, i) => at(i) ?? null), new arrow.Utf8());
  }
  const bytes = (length + 7) >> 3;
  const validity = new Uint8Array(bytes);
  // Booleans are bits; the other types one element per value (bigints in BigInt64Array).
  const values = type === "bool"
    ? new Uint8Array(bytes)
    : type === "float64"
    ? new Float64Array(length)
    : type === "int32"
    ? new Int32Array(length)
    : new BigInt64Array(length);
  const slots = values as unknown as Value[];
  let nullCount = 0;
  for (let i = 0; i < length; i++) {
    const value = at(i);
    if (value === null || value === undefined) {
      nullCount++;
      continue;
    }
    validity[i >> 3] |= 1 << (i & 7);
    if (type !== "bool") slots[i] = value;
    else if (value) (values as Uint8Array)[i >> 3] |= 1 << (i & 7);
  }
  return arrow.makeVector(arrow.makeData({
    type: ARROW_TYPES[type]() as arrow.Float64,
    length,
    nullCount,
    nullBitmap: nullCount === 0 ? undefined : validity,
    data: values as Float64Array,
  }));
}

/** Checked rows (see rows.ts) as columns: `id` first, then the outputs in declared order. */
export function rowColumns(
  rows: PluginRow[],
  outputs: Record<string, OutputType>,
): Record<string, arrow.Vector> {
  const columns: Record<string, arrow.Vector> = {
    id: column(rows.length, "int64", (i) => rows[i].id),
  };
  for (const [name, type] of Object.entries(outputs)) {
    columns[name] = column(rows.length, type, (i) => rows[i][name]);
  }
  return columns;
}

/** Checked rows (see rows.ts) as a table with `id` first, then the outputs in declared order. */
export function rowsToTable(rows: PluginRow[], outputs: Record<string, OutputType>): arrow.Table {
  return new arrow.Table(rowColumns(rows, outputs));
}

/** Writes the values of `vector` into `rows[i][name]`, null where it is null. */
function readColumn(vector: arrow.Vector | null, name: string, rows: PluginRow[]): void {
  if (vector === null) {
    for (const row of rows) row[name] = null;
    return;
  }
  let at = 0;
  for (const data of vector.data) {
    const type = data.type;
    if (!arrow.DataType.isFloat(type) && !arrow.DataType.isInt(type)) {
      for (let i = 0; i < data.length; i++, at++) {
        rows[at][name] = data.getValid(i) ? vector.get(at) as Value : null;
      }
      continue;
    }
    // Values are sliced with the data, validity bits are not: they start at its offset.
    const values = data.values as ArrayLike<Value>;
    const bitmap = data.nullCount === 0 ? null : data.nullBitmap;
    for (let i = 0; i < data.length; i++, at++) {
      const bit = data.offset + i;
      rows[at][name] = bitmap === null || (bitmap[bit >> 3] >> (bit & 7)) & 1 ? values[i] : null;
    }
  }
}

/**
 * A result table back as rows, one per table row, every declared output present (null when
 * absent from the table).
 */
export function tableToRows(
  table: arrow.Table,
  outputs: Record<string, OutputType>,
): PluginRow[] {
  const ids = table.getChild("id");
  if (ids === null) throw new Error("the result table has no id column");
  const rows: PluginRow[] = Array.from({ length: table.numRows }, () => ({ id: 0n }));
  readColumn(ids, "id", rows);
  for (const name of Object.keys(outputs)) readColumn(table.getChild(name), name, rows);
  return rows;
}
