/**
 * Result rows as Arrow tables, the form they travel in from a plugin process to
 * the host: an `id` Int64 column plus one column per declared output.
 */
import * as arrow from "apache-arrow";
import type { OutputType, PluginRow } from "./define.ts";

const ARROW_TYPES: Record<OutputType, () => arrow.DataType> = {
  string: () => new arrow.Utf8(),
  float64: () => new arrow.Float64(),
  int64: () => new arrow.Int64(),
  int32: () => new arrow.Int32(),
  bool: () => new arrow.Bool(),
};

/** Checked rows (see rows.ts) as a table with `id` first, then the outputs in declared order. */
export function rowsToTable(rows: PluginRow[], outputs: Record<string, OutputType>): arrow.Table {
  return new arrow.Table(rowColumns(rows, outputs));
}

/** The columns of checked rows: `id` (Int64), then each declared output, typed as declared. */
export function rowColumns(
  rows: PluginRow[],
  outputs: Record<string, OutputType>,
): Record<string, arrow.Vector> {
  const columns: Record<string, arrow.Vector> = {
    id: arrow.vectorFromArray(rows.map((row) => row.id), new arrow.Int64()),
  };
  for (const [column, type] of Object.entries(outputs)) {
    columns[column] = arrow.vectorFromArray(
      rows.map((row) => row[column] ?? null),
      ARROW_TYPES[type](),
    );
  }
  return columns;
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
  const vectors = Object.keys(outputs).map((column) => [column, table.getChild(column)] as const);
  const rows: PluginRow[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const row: PluginRow = { id: ids.get(i) };
    for (const [column, vector] of vectors) row[column] = vector?.get(i) ?? null;
    rows[i] = row;
  }
  return rows;
}
