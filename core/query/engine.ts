/**
 * The query engine: DuckDB over the archive's Parquet files and the science
 * results (`<science root>/<plugin>/…`, joined by alert id), on local disk or
 * WebHDFS. The DuckDB instance is locked down when it opens: it may read only
 * the local roots (or, for a remote root, the engine's cache folder),
 * external access is off and the configuration is locked, so no SQL can reach
 * another file. User values always travel as bound parameters.
 *
 * Answers come from tables in memory (`alert_index.ts`, `science_index.ts`)
 * that a background refresh keeps equal to a listing of the committed files
 * (every `refreshMs`: an answer lags the archive by about that much; a query
 * waits for a refresh only when the last one is much older, the first one
 * included, and {@link QueryEngine.refresh} waits for a fresh one). Only raw
 * columns and cutouts are read from the files, at the rows the index points
 * to; for a remote root through sparse local copies (`parquet_files.ts`).
 *
 * Every alert once: a refresh applies one listing in one transaction, and
 * files a compaction merged stay `archive.compact_grace_minutes` after it, so
 * the files the index points to are there when a query reads them. Should
 * one vanish all the same (no grace), the query runs again after a fresh
 * listing, within its time limit.
 */
import {
  DuckDBConnection,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  type DuckDBValue,
} from "@duckdb/node-api";
import { join, resolve } from "node:path";
import { logger } from "../log.ts";
import { openStorage } from "../storage/mod.ts";
import type { Storage } from "../storage/storage.ts";
import { createAlertIndex, type IndexedTopic } from "./alert_index.ts";
import type { FileTables } from "./file_tables.ts";
import {
  CachedParquetFiles,
  LocalParquetFiles,
  type ParquetFiles,
  type RowGroupLayout,
} from "./parquet_files.ts";
import { createScienceIndex, SCIENCE, type ScienceFiles } from "./science_index.ts";
import { FolderListing, type ListedFile } from "./snapshot.ts";
import { type Survey, surveyOf } from "./surveys.ts";

/** Options of {@link QueryEngine.open}. */
export interface EngineOptions {
  /** The archive root: a local folder or `webhdfs://host:port/path`. */
  archiveRoot: string;
  /** The science results root, likewise. */
  scienceRoot: string;
  /**
   * A folder the engine owns for its local copies of remote files (emptied when it
   * opens). Default: a temporary folder, deleted when it closes.
   */
  cacheDir?: string;
  /** Longest a query may run before it is interrupted (default 30 s). */
  timeoutMs?: number;
  /** How often the index follows the archive (default 500 ms, 5 s for a remote root). */
  refreshMs?: number;
}

/** One topic of the archive as a query sees it. */
export interface TopicView {
  topic: string;
  survey: Survey;
  /** Names of its columns (top-level and nested, from the first file's schema). */
  columns: Set<string>;
  /** Its committed files (paths relative to the archive root), oldest hour first. */
  files: ListedFile[];
  /** The same files by path. */
  byPath: Map<string, ListedFile>;
}

/** What a query sees: the archive's topics and the plugins that have results. */
export interface ArchiveView {
  topics: TopicView[];
  /** Result files of each plugin that has some. */
  science: ScienceFiles[];
}

/** Bound parameters of a query, by name (`$name` in the SQL). */
export type Params = Record<string, DuckDBValue>;

/** A query ran past the engine's time limit. */
export class QueryTimeoutError extends Error {}

/** Errors DuckDB raises when a listed file vanished before it was read (compaction). */
const VANISHED = /No files found|No such file|does not exist|Could not open|cannot open file/i;
/**
 * Tries a query makes at least when files vanish under it. Past these it keeps trying only within
 * its time limit: each failure means compaction deleted a file, and compaction's work is finite.
 */
const ATTEMPTS = 5;
/** A query waits for a refresh when the last one started this many refresh periods ago. */
const STALE_PERIODS = 4;
/** Connections kept open between queries. */
const IDLE_CONNECTIONS = 4;
const log = logger("query");

/** DuckDB over one archive; see the module comment. */
export class QueryEngine {
  #instance: DuckDBInstance;
  #alerts: FileTables<IndexedTopic>;
  #science: FileTables<ScienceFiles>;
  #listings: { archive: FolderListing; science: FolderListing };
  #surveys = new Map<string, { survey: Survey | null; columns: Set<string> }>();
  #view: { view: ArchiveView; startedAt: number } | null = null;
  #running: Promise<void> | null = null;
  #queued: Promise<void> | null = null;
  #timer: ReturnType<typeof setInterval>;
  #lastError = "";
  #closed = false;
  #idle: DuckDBConnection[] = [];

  private constructor(
    instance: DuckDBInstance,
    tables: { alerts: FileTables<IndexedTopic>; science: FileTables<ScienceFiles> },
    readonly files: { archive: ParquetFiles; science: ParquetFiles },
    storages: { archive: Storage; science: Storage },
    readonly options: Required<Omit<EngineOptions, "cacheDir">>,
    /** The temporary cache folder the engine made for itself, deleted when it closes. */
    readonly ownCache: string | null,
  ) {
    this.#instance = instance;
    this.#alerts = tables.alerts;
    this.#science = tables.science;
    this.#listings = {
      archive: new FolderListing(storages.archive),
      science: new FolderListing(storages.science),
    };
    this.#timer = setInterval(() => {
      if (this.#running === null && this.#queued === null) this.#backgroundRefresh();
    }, options.refreshMs);
    // The refresh never keeps a process alive on its own.
    Deno.unrefTimer(this.#timer);
  }

  /** Opens a locked-down DuckDB instance over the roots. */
  static async open(options: EngineOptions): Promise<QueryEngine> {
    const remote = [options.archiveRoot, options.scienceRoot].some((r) => r.includes("://"));
    const ownCache = remote && options.cacheDir === undefined;
    const cacheDir = !remote
      ? null
      : resolve(options.cacheDir ?? await Deno.makeTempDir({ prefix: "fink_query_cache_" }));
    const instance = await DuckDBInstance.create(":memory:", { threads: "2" });
    const footer = footerReader(instance);
    const side = async (root: string, name: string) => {
      if (!root.includes("://")) {
        const local = resolve(root);
        await Deno.mkdir(local, { recursive: true });
        return { storage: openStorage(local), files: new LocalParquetFiles(local) };
      }
      const storage = openStorage(root, { retry: { maxAttempts: 3 } });
      return {
        storage,
        files: await CachedParquetFiles.open(storage, join(cacheDir!, name), footer),
      };
    };
    const archive = await side(options.archiveRoot, "archive");
    const science = await side(options.scienceRoot, "science");
    const connection = await instance.connect();
    try {
      const dirs = [archive.files.localRoot, science.files.localRoot]
        .map((d) => `'${sqlString(d + "/")}'`);
      await connection.run(`set allowed_directories = [${dirs.join(", ")}]`);
      await connection.run("set enable_external_access = false");
      await connection.run("set parquet_metadata_cache = true");
      await connection.run("set lock_configuration = true");
    } finally {
      connection.closeSync();
    }
    const tables = {
      alerts: await createAlertIndex(instance, archive.files),
      science: await createScienceIndex(instance, science.files),
    };
    return new QueryEngine(
      instance,
      tables,
      {
        archive: archive.files,
        science: science.files,
      },
      { archive: archive.storage, science: science.storage },
      {
        archiveRoot: options.archiveRoot,
        scienceRoot: options.scienceRoot,
        timeoutMs: options.timeoutMs ?? 30_000,
        refreshMs: options.refreshMs ?? (remote ? 5_000 : 500),
      },
      ownCache ? cacheDir : null,
    );
  }

  /**
   * Runs `fn` over the archive as the index last saw it, with a connection; after a
   * fresh listing again when a file vanished under it (compaction).
   */
  async query<T>(fn: (view: ArchiveView, db: Session) => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1;; attempt++) {
      const view = attempt > 1 ? await this.#fresh() : await this.#current();
      // Connections are kept between queries, with the statements prepared on them.
      const connection = this.#idle.pop() ?? await this.#instance.connect();
      const timer = setTimeout(() => connection.interrupt(), this.options.timeoutMs);
      try {
        return await fn(view, new Session(connection));
      } catch (e) {
        const message = (e as Error).message ?? "";
        if (/interrupt/i.test(message)) {
          throw new QueryTimeoutError(
            `The query ran past ${this.options.timeoutMs} ms and was stopped; narrow it (fewer ` +
              "objects, a smaller radius or a date range)",
          );
        }
        if (!VANISHED.test(message)) throw e;
        if (attempt < ATTEMPTS || Date.now() - started < this.options.timeoutMs) continue;
        throw new Error(
          `The archive's files changed under the query ${attempt} times (compaction); run it ` +
            `again once compaction is done (${message.split("\n")[0]})`,
        );
      } finally {
        clearTimeout(timer);
        if (this.#closed || this.#idle.length >= IDLE_CONNECTIONS) connection.closeSync();
        else this.#idle.push(connection);
      }
    }
  }

  /** Waits until the index holds a listing of the archive made after this call. */
  async refresh(): Promise<void> {
    await this.#fresh();
  }

  /** Starts building the index, so the first query need not wait as long. */
  warm(): void {
    if (this.#view === null && this.#running === null) this.#backgroundRefresh();
  }

  /** Stops refreshing and closes DuckDB. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#queued?.catch(() => {});
    await this.#running?.catch(() => {});
    for (const connection of this.#idle.splice(0)) connection.closeSync();
    this.#instance.closeSync();
    if (this.ownCache !== null) {
      await Deno.remove(this.ownCache, { recursive: true }).catch(() => {});
    }
  }

  async #current(): Promise<ArchiveView> {
    const stale = this.#view === null ||
      Date.now() - this.#view.startedAt > STALE_PERIODS * this.options.refreshMs;
    if (stale) await (this.#running ?? this.#startRefresh());
    return this.#view?.view ?? await this.#fresh();
  }

  async #fresh(): Promise<ArchiveView> {
    await this.#startRefresh();
    return this.#view!.view;
  }

  #backgroundRefresh(): void {
    this.#startRefresh().catch((error) => {
      const message = (error as Error).message;
      // Logged once per distinct problem: the refresh runs again every period.
      if (message !== this.#lastError) {
        log.warn("the query index could not follow the archive; answers use the last listing", {
          error,
        });
      }
      this.#lastError = message;
    });
  }

  /**
   * A refresh that starts after this call: the one queued behind the running one, or a
   * new one. Refreshes run one at a time.
   */
  #startRefresh(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the query engine is closed"));
    if (this.#queued !== null) return this.#queued;
    const queued: Promise<void> = (this.#running ?? Promise.resolve()).catch(() => {})
      .then(() => {
        this.#queued = null;
        this.#running = queued;
        return this.#refresh(Date.now());
      })
      .then(() => {
        this.#lastError = "";
      })
      .finally(() => {
        if (this.#running === queued) this.#running = null;
      });
    this.#queued = queued;
    return queued;
  }

  async #refresh(startedAt: number): Promise<void> {
    const [listed, results] = await Promise.all([
      this.#listings.archive.archive(),
      this.#listings.science.science(SCIENCE.map((s) => s.plugin)),
    ]);
    const topics: TopicView[] = [];
    for (const { topic, files } of listed) {
      const { survey, columns } = await this.#surveyOf(topic, files[0]);
      if (survey === null) continue;
      topics.push({
        topic,
        survey,
        columns,
        files,
        byPath: new Map(files.map((f) => [f.path, f])),
      });
    }
    const science = SCIENCE.map((plugin) => ({ plugin, files: results.get(plugin.plugin) ?? [] }))
      .filter((s) => s.files.length > 0);
    await this.#alerts.sync(topics);
    await this.#science.sync(science);
    this.#view = { view: { topics, science }, startedAt };
  }

  async #surveyOf(
    topic: string,
    file: ListedFile,
  ): Promise<{ survey: Survey | null; columns: Set<string> }> {
    if (!this.#surveys.has(topic)) {
      await this.files.archive.prepare(file, { footer: true });
      const connection = await this.#instance.connect();
      try {
        const reader = await connection.runAndReadAll(
          `select name from parquet_schema('${sqlString(this.files.archive.localPath(file.path))}')
           where name is not null`,
        );
        const names = reader.getRowObjectsJS().map((r) => String(r.name));
        this.#surveys.set(topic, { survey: surveyOf(names), columns: new Set(names) });
      } finally {
        connection.closeSync();
      }
    }
    return this.#surveys.get(topic)!;
  }
}

/** A result row of a SQL query: its columns are the query's, named at run time. */
export type Row = Record<string, unknown>;

/** Reads a local Parquet file's row group layout with DuckDB's `parquet_metadata`. */
function footerReader(instance: DuckDBInstance): (path: string) => Promise<RowGroupLayout[]> {
  return async (path) => {
    const connection = await instance.connect();
    try {
      const rows = (await connection.runAndReadAll(
        `select row_group_id, row_group_num_rows, path_in_schema, data_page_offset,
           dictionary_page_offset, total_compressed_size
         from parquet_metadata('${sqlString(path)}') order by row_group_id, column_id`,
      )).getRowObjectsJS();
      const groups: RowGroupLayout[] = [];
      let firstRow = 0;
      for (const r of rows) {
        const id = Number(r.row_group_id);
        if (groups[id] === undefined) {
          groups[id] = { firstRow, rows: Number(r.row_group_num_rows), chunks: [] };
          firstRow += groups[id].rows;
        }
        const data = Number(r.data_page_offset);
        const dictionary = r.dictionary_page_offset === null
          ? data
          : Number(r.dictionary_page_offset);
        const start = Math.min(data, dictionary);
        groups[id].chunks.push({
          column: String(r.path_in_schema).split(", ")[0],
          start,
          end: start + Number(r.total_compressed_size),
        });
      }
      return groups;
    } finally {
      connection.closeSync();
    }
  };
}

/** Options of {@link Session.rows}. */
export interface RowsOptions {
  /**
   * Keep the statement prepared on this connection for the next query of the same text (the
   * hot queries: DuckDB's planning costs them more than their execution).
   */
  prepared?: boolean;
}

/** Prepared statements kept per connection (the hot queries' few shapes). */
const PREPARED_PER_CONNECTION = 64;
const preparedOf = new WeakMap<DuckDBConnection, Map<string, DuckDBPreparedStatement>>();

/** One connection of a query, with the helpers the queries share. */
export class Session {
  constructor(readonly connection: DuckDBConnection) {}

  /** Rows as JSON-ready objects (64-bit integers as strings). */
  async rows(
    sql: string,
    params: Params = {},
    options: RowsOptions = {},
  ): Promise<Row[]> {
    if (!options.prepared) {
      const reader = await this.connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJson() as Row[];
    }
    const statement = await this.#prepared(sql);
    statement.bind(params);
    return (await statement.runAndReadAll()).getRowObjectsJson() as Row[];
  }

  async #prepared(sql: string): Promise<DuckDBPreparedStatement> {
    let cache = preparedOf.get(this.connection);
    if (cache === undefined) preparedOf.set(this.connection, cache = new Map());
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = await this.connection.prepare(sql);
      if (cache.size >= PREPARED_PER_CONNECTION) {
        const [oldest, old] = cache.entries().next().value!;
        old.destroySync();
        cache.delete(oldest);
      }
      cache.set(sql, statement);
    }
    return statement;
  }

  /** Rows with JS values (bigint, Uint8Array for blobs). */
  async values(sql: string, params: Params = {}): Promise<Row[]> {
    const reader = await this.connection.runAndReadAll(sql, params);
    return reader.getRowObjectsJS() as Row[];
  }

  /** Runs a statement. */
  async run(sql: string, params: Params = {}): Promise<void> {
    await this.connection.run(sql, params);
  }
}

/** A SQL string literal's body: quotes doubled. Only for paths the engine listed itself. */
export function sqlString(text: string): string {
  return text.replaceAll("'", "''");
}
