/**
 * Checks what a plugin's `process` returned against its declared outputs and
 * normalises it: every row gets every declared column (null when absent) and
 * integer int64 values given as numbers become bigint; a row that needs neither
 * is returned as it is.
 */
import type { OutputType, PluginRow } from "./define.ts";

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Validates and normalises returned rows.
 *
 * @throws Error naming the first offending row and column
 */
export function checkRows(rows: unknown, outputs: Record<string, OutputType>): PluginRow[] {
  if (!Array.isArray(rows)) {
    throw new Error(`process() must return an array of rows, found ${describe(rows)}`);
  }
  const columns = Object.keys(outputs);
  const types = columns.map((column) => outputs[column]);
  const checked: PluginRow[] = new Array(rows.length);
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index];
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      throw new Error(
        `Row ${index} must be an object such as { id: 123n }, found ${describe(row)}`,
      );
    }
    const record = row as Record<string, unknown>;
    if (typeof record.id !== "bigint") {
      throw new Error(
        `Row ${index}: "id" must be a bigint (the alert's candid or diaSourceId), ` +
          `found ${describe(record.id)}`,
      );
    }
    // Own keys that are declared, counted on the way; any other key is found below. A row
    // that needs no change (every column present, no int64 given as a number) is kept as is.
    let declared = 1;
    let normal = true;
    for (let c = 0; c < columns.length; c++) {
      const value = record[columns[c]];
      if (value !== undefined || Object.hasOwn(record, columns[c])) declared++;
      if (!Object.is(checkValue(value, types[c], index, columns[c]), value)) normal = false;
    }
    const keys = Object.keys(record).length;
    if (keys !== declared) undeclared(record, outputs, index);
    checked[index] = normal && keys === columns.length + 1
      ? record as PluginRow
      : normalised(record, columns, types);
  }
  return checked;
}

/** A copy of a checked row with every column, null where absent, int64 numbers as bigints. */
function normalised(
  record: Record<string, unknown>,
  columns: string[],
  types: OutputType[],
): PluginRow {
  const out: PluginRow = { id: record.id as bigint };
  for (let c = 0; c < columns.length; c++) {
    out[columns[c]] = checkValue(record[columns[c]], types[c], 0, columns[c]);
  }
  return out;
}

/** Throws for the first key of `record` that is neither `id` nor a declared output. */
function undeclared(
  record: Record<string, unknown>,
  outputs: Record<string, OutputType>,
  index: number,
): void {
  for (const key of Object.keys(record)) {
    if (key !== "id" && !Object.hasOwn(outputs, key)) {
      throw new Error(
        `Row ${index}: column "${key}" is not declared in outputs ` +
          `(declared: ${Object.keys(outputs).join(", ") || "none"}); declare it or drop it`,
      );
    }
  }
}

function checkValue(
  value: unknown,
  type: OutputType,
  index: number,
  column: string,
): PluginRow[string] {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "string":
      if (typeof value === "string") return value;
      break;
    case "float64":
      if (typeof value === "number") return value;
      break;
    case "int32":
      if (
        Number.isInteger(value) && (value as number) >= INT32_MIN && (value as number) <= INT32_MAX
      ) {
        return value as number;
      }
      break;
    case "int64":
      if (typeof value === "bigint") return value;
      if (Number.isSafeInteger(value)) return BigInt(value as number);
      break;
    case "bool":
      if (typeof value === "boolean") return value;
      break;
  }
  throw new Error(`Row ${index}: column "${column}" is declared ${type}, found ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  const text = typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}
