/**
 * SQL over the archive with DuckDB, a Parquet reader we did not write.
 */
import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";

const ARCHIVE_README = new URL("../../core/archive/README.md", import.meta.url);
const README_GLOB = "data/archive/ztf/*/*/*/*/*.parquet";

/** Runs one query in a fresh in-memory DuckDB and returns its rows as plain objects. */
export async function query(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

/**
 * The exactly-once reader query of `core/archive/README.md`, taken from the README itself, over
 * another glob: the statement listing the files (into the variable `alert_files`) and the one
 * reading them.
 */
export async function readmeReaderQuery(glob: string): Promise<{ list: string; read: string }> {
  const text = await Deno.readTextFile(ARCHIVE_README);
  const section = text.slice(text.indexOf("<!-- reader-query"));
  const sql = /```sql\n([\s\S]*?)```/.exec(section)![1];
  assert.ok(sql.includes(README_GLOB));
  const [list, read] = sql.replace(README_GLOB, glob).split(/;\n(?=SELECT)/);
  return { list, read };
}

/**
 * The files of an archive glob that hold its alerts once (those no other file supersedes, as
 * the README's query lists them while compaction keeps merged inputs), as a SQL list literal
 * for `read_parquet`.
 */
export async function archiveFiles(glob: string): Promise<string> {
  const db = await DuckDBInstance.create(":memory:");
  const connection = await db.connect();
  try {
    await connection.run((await readmeReaderQuery(glob)).list);
    const [row] = (await connection.runAndReadAll("select getvariable('alert_files') as f"))
      .getRowObjectsJS();
    const files = (row.f ?? []) as string[];
    return `[${files.map((f) => `'${f.replaceAll("'", "''")}'`).join(", ")}]`;
  } finally {
    connection.closeSync();
  }
}
