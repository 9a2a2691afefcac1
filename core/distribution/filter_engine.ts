/**
 * Evaluates the SQL filters with DuckDB, in one sandboxed database that lives
 * as long as the distribution: from its start it may read one private scratch
 * folder and nothing else (`allowed_directories`, then
 * `enable_external_access = false` and the configuration locked). Batches are
 * evaluated one at a time: the archived file and its science results are put
 * in the scratch folder, one query reads them as table `alerts` (the alert's
 * columns, cutouts and light-curve history left out, one struct column per
 * science plugin joined by alert id, the last result of an id winning) and
 * returns, per row, every filter's verdict and the science values, and the
 * folder is emptied again: a filter reads nothing but its batch.
 *
 * A filter that fails on a batch (a column the batch lacks) is evaluated on
 * its own, so the others still get theirs, and is reported by name.
 */
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance, type DuckDBType } from "@duckdb/node-api";
import { DuckDBTypeId } from "@duckdb/node-api";
import { ALERT_ID_COLUMNS } from "../archive/reader.ts";
import type { AvroRecord } from "../avro/decoder.ts";
import { LocalStorage } from "../storage/local.ts";
import type { Storage } from "../storage/storage.ts";
import { type AvroField, avroName, type AvroNode, TOP } from "./avro_record.ts";
import { type FilterDefinition, FilterError } from "./sql_filter.ts";

/** Name of the table filters read. */
export const BATCH_TABLE = "alerts";
/** Row number of each alert in its archived file. */
const ROW_COLUMN = "file_row_number";
/** Alert columns left out of the table: heavy and of no use to a boolean filter. */
const LEFT_OUT = ["cutoutScience", "cutoutTemplate", "cutoutDifference", "prv_candidates"];

/** A Parquet file: a local path (linked into the scratch folder), or its bytes (written there). */
export type ParquetSource = { local: string } | { bytes: Uint8Array };

/** Where a file of `storage` is: its path when the storage is local, else its bytes, read. */
export async function parquetSource(storage: Storage, path: string): Promise<ParquetSource> {
  if (storage instanceof LocalStorage) return { local: join(storage.location, path) };
  return { bytes: await storage.readFile(path) };
}

/** One archived file with its science results, as the filters see it. */
export interface BatchFiles {
  /** The archived Parquet file. */
  parquet: ParquetSource;
  /** Per science plugin with results for the file: its result files. */
  results: { plugin: string; files: ParquetSource[] }[];
  /** DuckDB struct types of the science plugins without results here, e.g. `STRUCT(score DOUBLE)`. */
  absent: Record<string, string>;
  /** Only rows at or after this Kafka offset... */
  fromOffset: bigint;
  /** ...and before this one. */
  toOffset: bigint;
}

/** A science plugin's column in the table. */
export interface ScienceColumn {
  plugin: string;
  /** Its Avro record field in the messages (the result's `id` left out). */
  field: AvroField;
  /** Its DuckDB struct type, for the files it has no results for. */
  sqlType: string;
}

/**
 * The science plugins' results for one alert as the filters saw them: one
 * record per plugin (DuckDB's struct, as JavaScript values), null when the
 * plugin has no result for the alert.
 */
export type ScienceValues = Record<string, AvroRecord | null>;

/** The filters' verdicts on one batch. */
export interface Evaluation {
  /** File row numbers of the batch's rows, ascending. */
  rows: Int32Array;
  /** Per filter evaluated: the file rows it passes, ascending. */
  passed: Map<string, number[]>;
  /** Per filter that failed on the batch: why, on one line. */
  failed: Map<string, string>;
  science: ScienceColumn[];
  /** Per file row: each plugin's results (null when it has none for the alert). */
  values: Map<number, ScienceValues>;
}

/** The sandboxed database; see the module documentation. */
export class FilterEngine {
  #turn: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Staged files are never named twice: DuckDB caches what it read of a path. */
  #staged = 0;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly scratch: string,
  ) {}

  /**
   * Creates the scratch folder (in `parent`, default the system's temporary folder: put it
   * on the archive's filesystem so that files are linked, not copied) and the database
   * locked onto it.
   */
  static async open(parent?: string): Promise<FilterEngine> {
    if (parent !== undefined) await Deno.mkdir(parent, { recursive: true });
    const scratch = await Deno.makeTempDir({ dir: parent, prefix: "fink-filters-" });
    const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
    const connection = await instance.connect();
    try {
      await connection.run(`SET allowed_directories = [${literal(`${scratch}/`)}]`);
      // Each file is read once: caching their content would only hold memory.
      await connection.run("SET enable_external_file_cache = false");
      await connection.run("SET enable_external_access = false");
      await connection.run("SET lock_configuration = true");
    } catch (error) {
      connection.closeSync();
      instance.closeSync();
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
      throw error;
    }
    return new FilterEngine(instance, connection, scratch);
  }

  /** Runs every filter over the batch; filters that fail are in `failed`, the others in `passed`. */
  evaluate(batch: BatchFiles, filters: readonly FilterDefinition[]): Promise<Evaluation> {
    return this.#exclusive(batch, async (table) => {
      const plugins = table.plugins.map(ident);
      const verdicts = filters.map((f, i) => `(${f.where}) AS "__f${i}"`);
      const failed = new Map<string, string>();
      let reader;
      try {
        reader = await this.connection.runAndReadAll(
          `${table.cte} SELECT ${[ROW_COLUMN, ...plugins, ...verdicts].join(", ")} ` +
            `FROM ${BATCH_TABLE} ORDER BY ${ROW_COLUMN}`,
        );
        if (reader.columnCount !== 1 + plugins.length + filters.length) {
          throw new Error("a filter's expression is not one expression");
        }
      } catch {
        // A filter broke the query: each runs on its own, so the failing ones can be named.
        reader = await this.connection.runAndReadAll(
          `${table.cte} SELECT ${[ROW_COLUMN, ...plugins].join(", ")} ` +
            `FROM ${BATCH_TABLE} ORDER BY ${ROW_COLUMN}`,
        );
        return await this.#oneByOne(table, filters, reader);
      }
      const types = reader.columnTypes();
      const rows = reader.getRowsJS();
      const passed = new Map<string, number[]>();
      filters.forEach((filter, i) => {
        const type = types[1 + plugins.length + i];
        if (type.typeId !== DuckDBTypeId.BOOLEAN) {
          failed.set(filter.name, notBoolean(filter, type));
          return;
        }
        const column = 1 + plugins.length + i;
        passed.set(filter.name, rows.filter((r) => r[column] === true).map((r) => Number(r[0])));
      });
      return { ...this.#science(table.plugins, types, rows), passed, failed };
    });
  }

  /**
   * Checks that `filter.where` is one boolean expression over the batch's columns (an unknown
   * column, another type, several statements or anything the sandbox refuses is reported).
   *
   * @throws FilterError naming the filter and the reason
   */
  check(filter: FilterDefinition, batch: BatchFiles): Promise<void> {
    return this.#exclusive(batch, async (table) => {
      const sql = `DESCRIBE ${table.cte} SELECT (${filter.where}) AS v FROM ${BATCH_TABLE}`;
      let described: Record<string, unknown>[];
      try {
        const statements = await this.connection.extractStatements(sql);
        if (statements.count !== 1) throw new Error("more than one statement");
        described = (await this.connection.runAndReadAll(sql)).getRowObjectsJS();
      } catch (error) {
        throw new FilterError(`Filter ${filter.name} is refused: ${firstLine(error)}`);
      }
      if (described.length !== 1) {
        throw new FilterError(
          `Filter ${filter.name} is refused: its "where" must be one expression, found ` +
            `${described.length}`,
        );
      }
      const type = String(described[0].column_type);
      if (type !== "BOOLEAN") {
        throw new FilterError(
          `Filter ${filter.name} is refused: its expression gives ${type}, expected BOOLEAN`,
        );
      }
    });
  }

  /** Closes the database and removes the scratch folder. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#turn.catch(() => {});
    this.connection.closeSync();
    this.instance.closeSync();
    await Deno.remove(this.scratch, { recursive: true }).catch(() => {});
  }

  async #oneByOne(
    table: StagedTable,
    filters: readonly FilterDefinition[],
    science: Awaited<ReturnType<DuckDBConnection["runAndReadAll"]>>,
  ): Promise<Evaluation> {
    const passed = new Map<string, number[]>();
    const failed = new Map<string, string>();
    for (const filter of filters) {
      try {
        const reader = await this.connection.runAndReadAll(
          `${table.cte} SELECT ${ROW_COLUMN} FROM ${BATCH_TABLE} WHERE (${filter.where}) ` +
            `ORDER BY ${ROW_COLUMN}`,
        );
        passed.set(filter.name, reader.getRowsJS().map((r) => Number(r[0])));
      } catch (error) {
        failed.set(filter.name, `Filter ${filter.name} failed on a batch: ${firstLine(error)}`);
      }
    }
    return {
      ...this.#science(table.plugins, science.columnTypes(), science.getRowsJS()),
      passed,
      failed,
    };
  }

  #science(
    plugins: string[],
    types: DuckDBType[],
    rows: unknown[][],
  ): { rows: Int32Array; science: ScienceColumn[]; values: Map<number, ScienceValues> } {
    const science = plugins.map((plugin, i): ScienceColumn => ({
      plugin,
      field: {
        name: avroName(plugin),
        source: plugin,
        node: withoutId(nodeOfDuckDB(avroName(plugin), types[1 + i])),
      },
      sqlType: types[1 + i].toString(),
    }));
    const values = new Map<number, ScienceValues>();
    for (const row of rows) {
      const value: ScienceValues = {};
      plugins.forEach((plugin, i) => value[plugin] = row[1 + i] as AvroRecord | null);
      values.set(Number(row[0]), value);
    }
    return { rows: Int32Array.from(rows, (r) => Number(r[0])), science, values };
  }

  /** Stages the batch in the scratch folder, runs `work` alone on it, then empties the folder. */
  #exclusive<T>(batch: BatchFiles, work: (table: StagedTable) => Promise<T>): Promise<T> {
    const run = this.#turn.then(async () => {
      if (this.#closed) throw new Error("The filter engine is closed");
      const staged: string[] = [];
      const stage = async (source: ParquetSource) => {
        const path = join(this.scratch, `${this.#staged++}.parquet`);
        staged.push(path);
        if ("bytes" in source) {
          await Deno.writeFile(path, source.bytes);
          return path;
        }
        // A link costs nothing and keeps the file whole should compaction replace it meanwhile.
        await Deno.link(source.local, path).catch(() => Deno.copyFile(source.local, path));
        return path;
      };
      try {
        const alerts = await stage(batch.parquet);
        const results = [];
        for (const { plugin, files } of batch.results) {
          if (files.length > 0) {
            results.push({ plugin, paths: await Promise.all(files.map(stage)) });
          }
        }
        return await work(await this.#table(alerts, results, batch));
      } finally {
        await Promise.all(staged.map((p) => Deno.remove(p).catch(() => {})));
      }
    });
    this.#turn = run.catch(() => {});
    return run;
  }

  /** The `WITH alerts AS (...)` clause over the staged files. */
  async #table(
    alerts: string,
    results: { plugin: string; paths: string[] }[],
    batch: BatchFiles,
  ): Promise<StagedTable> {
    const present = (await this.connection.runAndReadAll(
      `SELECT name FROM parquet_schema(${literal(alerts)})`,
    )).getRowsJS().map((r) => String(r[0]));
    const idColumn = ALERT_ID_COLUMNS.find((c) => present.includes(c));
    const excluded = LEFT_OUT.filter((c) => present.includes(c)).map(ident);
    const selects = [`a.*${excluded.length > 0 ? ` EXCLUDE (${excluded.join(", ")})` : ""}`];
    const joins: string[] = [];
    const plugins: string[] = [];
    for (const [i, { plugin, paths }] of results.entries()) {
      if (idColumn === undefined) continue;
      const alias = `s${i}`;
      // The last result of an id wins: a re-processed range replaced its earlier file.
      joins.push(
        `LEFT JOIN (SELECT * EXCLUDE (event_hour) FROM read_parquet([${
          paths.map(literal).join(", ")
        }], union_by_name = true) QUALIFY row_number() OVER (PARTITION BY id) = 1) ${alias} ` +
          `ON ${alias}.id = a.${ident(idColumn)}`,
      );
      selects.push(`${alias} AS ${ident(plugin)}`);
      plugins.push(plugin);
    }
    for (const [plugin, type] of Object.entries(batch.absent)) {
      if (plugins.includes(plugin)) continue;
      selects.push(`NULL::${type} AS ${ident(plugin)}`);
      plugins.push(plugin);
    }
    const cte =
      `WITH ${BATCH_TABLE} AS (SELECT ${selects.join(", ")} FROM read_parquet(${
        literal(alerts)
      }, file_row_number = true) a ${
        joins.join(" ")
      } WHERE a.kafka_offset >= ${batch.fromOffset} ` +
      `AND a.kafka_offset < ${batch.toOffset})`;
    return { cte, plugins };
  }
}

interface StagedTable {
  /** `WITH alerts AS (...)`, to put before a SELECT. */
  cte: string;
  /** The science plugins' columns, in order. */
  plugins: string[];
}

function notBoolean(filter: FilterDefinition, type: DuckDBType): string {
  return `Filter ${filter.name} failed on a batch: its expression gives ${type}, expected BOOLEAN`;
}

/** The Avro node of a DuckDB column type (science results read from the batch table). */
export function nodeOfDuckDB(name: string, type: DuckDBType, namespace = TOP): AvroNode {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { kind: "boolean" };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
      return { kind: "int" };
    case DuckDBTypeId.BIGINT:
      return { kind: "long" };
    case DuckDBTypeId.FLOAT:
      return { kind: "float" };
    case DuckDBTypeId.DOUBLE:
      return { kind: "double" };
    case DuckDBTypeId.VARCHAR:
      return { kind: "string" };
    case DuckDBTypeId.BLOB:
      return { kind: "bytes" };
    case DuckDBTypeId.STRUCT: {
      const struct = type as unknown as { entryNames: string[]; entryTypes: DuckDBType[] };
      return {
        kind: "record",
        name,
        namespace,
        fields: struct.entryNames.map((n, i) => ({
          name: avroName(n),
          source: n,
          node: nodeOfDuckDB(avroName(n), struct.entryTypes[i], `${namespace}.${name}`),
        })),
      };
    }
    default:
      return { kind: "string" };
  }
}

/** A plugin's record without the `id` its results are keyed by (the alert has it). */
function withoutId(node: AvroNode): AvroNode {
  return node.kind === "record"
    ? { ...node, fields: node.fields.filter((f) => f.source !== "id") }
    : node;
}

/** A SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
