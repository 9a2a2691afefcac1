/**
 * Answer rows in the formats of the query API: JSON (an array of objects),
 * CSV (RFC 4180, header row, nested values as JSON text) and Parquet (through
 * Arrow; nested values as JSON text, bytes as binary).
 */
import { writeParquet } from "../arrow/parquet.ts";
import type { Row } from "../query/engine.ts";
import * as arrow from "apache-arrow";
import { toJson } from "./json.ts";

/** The output formats of row answers. */
export const ROW_FORMATS = ["json", "csv", "parquet"] as const;
/** An output format of row answers. */
export type RowFormat = typeof ROW_FORMATS[number];

const TYPES: Record<RowFormat, string> = {
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
};

/** A response holding `rows` in `format`. */
export function rowsResponse(rows: Row[], format: RowFormat): Response {
  const body = format === "json"
    ? toJson(rows.map(jsonSafe))
    : format === "csv"
    ? toCsv(rows)
    : toParquet(rows);
  return new Response(body as string | Uint8Array<ArrayBuffer>, {
    headers: { "content-type": TYPES[format] },
  });
}

function columnsOf(rows: Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

function jsonSafe(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Uint8Array ? base64(v) : v;
  return out;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Uint8Array) return base64(value);
  if (typeof value === "object") return toJson(value);
  return String(value);
}

/** Rows as CSV with a header of every column met. */
export function toCsv(rows: Row[]): string {
  const columns = columnsOf(rows);
  const quote = (text: string) => /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  const lines = [columns.map(quote).join(",")];
  for (const row of rows) lines.push(columns.map((c) => quote(cellText(row[c]))).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** Rows as a Parquet file: numbers as float64, booleans, bytes as binary, the rest as text. */
export function toParquet(rows: Row[]): Uint8Array {
  const vectors: Record<string, arrow.Vector> = {};
  for (const column of columnsOf(rows)) {
    const values = rows.map((r) => r[column] ?? null);
    const present = values.filter((v) => v !== null);
    if (present.length > 0 && present.every((v) => typeof v === "number")) {
      vectors[column] = arrow.vectorFromArray(values as (number | null)[], new arrow.Float64());
    } else if (present.length > 0 && present.every((v) => typeof v === "boolean")) {
      vectors[column] = arrow.vectorFromArray(values as (boolean | null)[], new arrow.Bool());
    } else if (present.length > 0 && present.every((v) => v instanceof Uint8Array)) {
      vectors[column] = arrow.vectorFromArray(values as (Uint8Array | null)[], new arrow.Binary());
    } else {
      vectors[column] = arrow.vectorFromArray(
        values.map((v) => v === null ? null : cellText(v)),
        new arrow.Utf8(),
      );
    }
  }
  return writeParquet(new arrow.Table(vectors));
}
