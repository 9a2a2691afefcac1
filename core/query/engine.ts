/**
 * The query engine: DuckDB over the archive's Parquet files and the science
 * results (`<science root>/<plugin>/…`, joined by alert id). The DuckDB
 * instance is locked down when it opens: it may read only the archive and
 * science roots, external access is off and the configuration is locked, so no
 * SQL can reach another file. User values always travel as bound parameters.
 *
 * Each query runs over a snapshot of the committed files (see
 * `snapshot.ts`); when compaction deletes a file between the listing and the
 * read, the query is run again over a fresh listing (as often as compaction
 * keeps deleting files under it, within the query's time limit), so it never
 * sees an alert twice or not at all. Listings are reused for about a second (a
 * new one is made in the background meanwhile), so an answer may lag the
 * archive by that much.
 */
import { DuckDBConnection, DuckDBInstance, type DuckDBValue } from "@duckdb/node-api";
import { join, resolve } from "node:path";
import { logger } from "../log.ts";
import { LocalStorage } from "../storage/mod.ts";
import { archiveSnapshot, type TopicFiles } from "./snapshot.ts";
import { type Survey, surveyOf } from "./surveys.ts";
import { AlertIndex } from "./alert_index.ts";

/** Options of {@link QueryEngine.open}. */
export interface EngineOptions {
  /** The archive root, a local folder. */
  archiveRoot: string;
  /** The science results root, a local folder. */
  scienceRoot: string;
  /** Longest a query may run before it is interrupted (default 30 s). */
  timeoutMs?: number;
}

/** One topic of the archive as a query sees it. */
export interface TopicView {
  topic: string;
  survey: Survey;
  /** Names of its columns (top-level and nested, from the first file's schema). */
  columns: Set<string>;
  /** Absolute paths and event hours (hours since the epoch) of its committed files. */
  files: { path: string; hour: number }[];
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
/** Age after which a query starts listing the archive again. */
const SNAPSHOT_MAX_AGE_MS = 1_000;
const log = logger("query");

/** DuckDB over one archive; see the module comment. */
export class QueryEngine {
  #instance: DuckDBInstance;
  #storage: LocalStorage;
  #surveys = new Map<string, { survey: Survey | null; columns: Set<string> }>();
  #snapshot: { files: Promise<TopicFiles[]>; at: number } | null = null;
  #refresh: Promise<void> | null = null;
  #warming: Promise<void> | undefined;
  #index: AlertIndex;

  private constructor(
    instance: DuckDBInstance,
    index: AlertIndex,
    readonly options: Required<EngineOptions>,
  ) {
    this.#instance = instance;
    this.#index = index;
    this.#storage = new LocalStorage(options.archiveRoot);
  }

  /** Opens a locked-down DuckDB instance over the roots. */
  static async open(options: EngineOptions): Promise<QueryEngine> {
    const archiveRoot = resolve(options.archiveRoot);
    const scienceRoot = resolve(options.scienceRoot);
    await Deno.mkdir(archiveRoot, { recursive: true });
    await Deno.mkdir(scienceRoot, { recursive: true });
    const instance = await DuckDBInstance.create(":memory:", { threads: "2" });
    const connection = await instance.connect();
    try {
      const dirs = [archiveRoot, scienceRoot].map((d) => `'${sqlString(d + "/")}'`);
      await connection.run(`set allowed_directories = [${dirs.join(", ")}]`);
      await connection.run("set enable_external_access = false");
      await connection.run("set parquet_metadata_cache = true");
      await connection.run("set lock_configuration = true");
    } finally {
      connection.closeSync();
    }
    return new QueryEngine(instance, await AlertIndex.create(instance), {
      archiveRoot,
      scienceRoot,
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  }

  /**
   * Runs `fn` over the archive's topics with a connection; runs it again over a
   * fresh listing when a file vanished under it (compaction).
   */
  async withTopics<T>(fn: (topics: TopicView[], db: Session) => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1;; attempt++) {
      const connection = await this.#instance.connect();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const topics = await this.#topics(attempt > 1);
        // Taking in new files is the archive's work, not the query's: the time limit starts after.
        await this.#index.sync(topics);
        timer = setTimeout(() => connection.interrupt(), this.options.timeoutMs);
        return await fn(topics, new Session(connection));
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
        connection.closeSync();
      }
    }
  }

  /** The Parquet files of a plugin's results, or an empty list when it has none. */
  async sciencePaths(plugin: string): Promise<string[]> {
    const paths: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory) await walk(join(dir, e.name));
        else if (e.name.endsWith(".parquet")) paths.push(join(dir, e.name));
      }
    };
    await walk(join(this.options.scienceRoot, plugin));
    return paths.sort();
  }

  /** Starts building the index of what the archive holds, so the first query need not wait. */
  warm(): void {
    this.#warming ??= this.withTopics(() => Promise.resolve()).catch((error) => {
      // Not fatal: the first query builds the index itself.
      log.warn("warming the query index failed; the first query will build it", { error });
    });
  }

  /** Closes DuckDB. */
  async close(): Promise<void> {
    await this.#warming;
    await this.#refresh;
    this.#instance.closeSync();
  }

  async #topics(fresh: boolean): Promise<TopicView[]> {
    if (fresh || this.#snapshot === null) {
      this.#snapshot = this.#list();
    } else if (Date.now() - this.#snapshot.at > SNAPSHOT_MAX_AGE_MS && this.#refresh === null) {
      // Listing a big archive takes a while: queries keep the last listing (consistent, at most
      // a second or so old) while the next one is made.
      const next = this.#list();
      this.#refresh = next.files
        .then(() => {
          // A retry may have listed afresh meanwhile: never put an older listing back.
          if (this.#snapshot === null || this.#snapshot.at <= next.at) this.#snapshot = next;
        }, () => {})
        .finally(() => this.#refresh = null);
    }
    const views: TopicView[] = [];
    for (const { topic, files } of await this.#snapshot.files) {
      const { survey, columns } = await this.#surveyOf(topic, files[0].path);
      if (survey !== null) views.push({ topic, survey, columns, files });
    }
    return views;
  }

  #list(): { files: Promise<TopicFiles[]>; at: number } {
    const listing = {
      files: archiveSnapshot(this.#storage, this.options.archiveRoot),
      at: Date.now(),
    };
    listing.files.catch(() => {
      if (this.#snapshot === listing) this.#snapshot = null;
    });
    return listing;
  }

  async #surveyOf(
    topic: string,
    path: string,
  ): Promise<{ survey: Survey | null; columns: Set<string> }> {
    if (!this.#surveys.has(topic)) {
      const connection = await this.#instance.connect();
      try {
        const reader = await connection.runAndReadAll(
          `select name from parquet_schema('${sqlString(path)}') where name is not null`,
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

/** One connection of a query, with the helpers the queries share. */
export class Session {
  constructor(readonly connection: DuckDBConnection) {}

  /** Rows as JSON-ready objects (64-bit integers as strings). */
  async rows(sql: string, params: Params = {}): Promise<Row[]> {
    const reader = await this.connection.runAndReadAll(sql, params);
    return reader.getRowObjectsJson() as Row[];
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

/** `read_parquet([...])` over listed paths (never user input). */
export function parquetScan(paths: readonly string[]): string {
  return `read_parquet([${
    paths.map((p) => `'${sqlString(p)}'`).join(", ")
  }], union_by_name = true)`;
}
