/**
 * One archived file as a DuckDB table the filters run over: its alert
 * columns (cutouts and light-curve history left out) with, per science
 * plugin, a struct column of that plugin's results joined by alert id, or a
 * typed null struct when the plugin has no results for the file. Once the
 * table is built the database loses all access to files and the network
 * (`enable_external_access = false`, then the configuration is locked), so a
 * filter can read nothing but the batch.
 */
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { DuckDBConnection } from "@duckdb/node-api";
import { ALERT_ID_COLUMNS } from "../archive/reader.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";

/** Name of the table filters read. */
export const BATCH_TABLE = "alerts";
/** Row index of each alert in its archived file. */
export const ROW_COLUMN = "file_row_number";

/** Alert columns left out of the table: heavy and of no use to a boolean filter. */
const LEFT_OUT = ["cutoutScience", "cutoutTemplate", "cutoutDifference", "prv_candidates"];

/** What the table is built from. */
export interface BatchSources {
  archive: Storage;
  /** The archived file, relative to the archive root. */
  file: string;
  science: Storage;
  /** Per plugin: its result files for this archived file, relative to the science root. */
  results: { plugin: string; paths: string[] }[];
  /** DuckDB struct types of plugins without results here, e.g. `STRUCT(anomaly_score DOUBLE)`. */
  absent: Record<string, string>;
  /** Only rows at or after this Kafka offset... */
  fromOffset: bigint;
  /** ...and before this one. */
  toOffset: bigint;
}

/** A DuckDB connection holding the batch table, closed with `close`. */
export interface BatchTable {
  connection: DuckDBConnection;
  /** Rows in the table. */
  rows: number;
  /** DuckDB type of each column, by name (science plugins' struct types among them). */
  types: Map<string, string>;
  close(): void;
}

/** Builds the batch table; see the module documentation. */
export async function openBatchTable(sources: BatchSources): Promise<BatchTable> {
  const temporary: string[] = [];
  const local = async (storage: Storage, path: string) => {
    if (storage instanceof LocalStorage) return join(storage.location, path);
    const copy = await Deno.makeTempFile({ suffix: ".parquet" });
    temporary.push(copy);
    await Deno.writeFile(copy, await storage.readFile(path));
    return copy;
  };
  const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  const connection = await instance.connect();
  try {
    const file = await local(sources.archive, sources.file);
    const present = (await connection.runAndReadAll(
      `SELECT name FROM parquet_schema(${literal(file)})`,
    )).getRowObjectsJS().map((r) => String(r.name));
    const idColumn = ALERT_ID_COLUMNS.find((c) => present.includes(c));
    const excluded = LEFT_OUT.filter((c) => present.includes(c)).map(ident);
    const selects = [`a.*${excluded.length > 0 ? ` EXCLUDE (${excluded.join(", ")})` : ""}`];
    const joins: string[] = [];
    for (const [i, { plugin, paths }] of sources.results.entries()) {
      if (paths.length === 0 || idColumn === undefined) continue;
      const files = `[${
        (await Promise.all(paths.map((p) => local(sources.science, p))))
          .map(literal).join(", ")
      }]`;
      const alias = `s${i}`;
      // The last result of an id wins: a re-processed range replaced its earlier file.
      joins.push(
        `LEFT JOIN (SELECT * EXCLUDE (event_hour) FROM read_parquet(${files}, union_by_name = true) ` +
          `QUALIFY row_number() OVER (PARTITION BY id) = 1) ${alias} ON ${alias}.id = a.${
            ident(idColumn)
          }`,
      );
      selects.push(`${alias} AS ${ident(plugin)}`);
    }
    for (const [plugin, type] of Object.entries(sources.absent)) {
      selects.push(`NULL::${type} AS ${ident(plugin)}`);
    }
    await connection.run(
      `CREATE TABLE ${BATCH_TABLE} AS SELECT ${selects.join(", ")} FROM read_parquet(${
        literal(file)
      }, file_row_number = true) a ${
        joins.join(" ")
      } WHERE a.kafka_offset >= ${sources.fromOffset} AND a.kafka_offset < ${sources.toOffset}`,
    );
    await connection.run("SET enable_external_access = false");
    await connection.run("SET lock_configuration = true");
    const rows = Number(
      (await connection.runAndReadAll(`SELECT count(*) AS n FROM ${BATCH_TABLE}`))
        .getRowObjectsJS()[0].n,
    );
    const types = new Map(
      (await connection.runAndReadAll(`DESCRIBE ${BATCH_TABLE}`)).getRowObjectsJS().map((r) => [
        String(r.column_name),
        String(r.column_type),
      ]),
    );
    return {
      connection,
      rows,
      types,
      close() {
        connection.closeSync();
        instance.closeSync();
      },
    };
  } catch (error) {
    connection.closeSync();
    instance.closeSync();
    throw error;
  } finally {
    for (const path of temporary) await Deno.remove(path).catch(() => {});
  }
}

/** A SQL string literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
