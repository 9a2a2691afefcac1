/**
 * DuckDB tables in memory that hold rows read from a set of files, kept equal
 * to a listing of those files: each sync drops the rows of the files the
 * listing no longer shows and reads those it newly shows, in one
 * transaction, so a reader on another connection sees the tables as of one
 * listing or the one before (DuckDB's MVCC), never half of a change. Syncs
 * queue: one at a time. The alert index and the science results use it.
 */
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { ListedFile } from "./snapshot.ts";

/** Files that share how their rows are read (one topic, one plugin). */
export interface FileGroup {
  files: ListedFile[];
}

/** What a {@link FileTables} does with its files. */
export interface FileTablesSpec<G extends FileGroup> {
  /** Tables holding a `file` column (the file's path) whose rows go with their file. */
  tables: readonly string[];
  /** Readies new files before the transaction (fetches their bytes when remote). */
  prepare?(group: G, files: ListedFile[]): Promise<void>;
  /** Inserts the rows of some new files of a group, inside the sync's transaction. */
  insert(connection: DuckDBConnection, group: G, files: ListedFile[]): Promise<void>;
  /** Runs last in the transaction (folding tables, counting). */
  settle?(connection: DuckDBConnection): Promise<void>;
  /** After a committed sync, with the files that went. */
  committed?(gone: string[]): Promise<void>;
}

/** Files read per insert, so one statement stays a reasonable size. */
const FILES_PER_INSERT = 200;

/** Tables synced to file listings; see the module comment. */
export class FileTables<G extends FileGroup> {
  #indexed = new Set<string>();
  #lock: Promise<void> = Promise.resolve();

  constructor(readonly instance: DuckDBInstance, readonly spec: FileTablesSpec<G>) {}

  /** Files whose rows the tables hold. */
  get files(): number {
    return this.#indexed.size;
  }

  /** Brings the tables to exactly the files of these groups. */
  sync(groups: G[]): Promise<void> {
    const run = this.#lock.then(() => this.#sync(groups));
    this.#lock = run.catch(() => {});
    return run;
  }

  async #sync(groups: G[]): Promise<void> {
    const wanted = new Set(groups.flatMap((g) => g.files.map((f) => f.path)));
    const gone = [...this.#indexed].filter((p) => !wanted.has(p));
    const added = groups
      .map((g) => ({ group: g, files: g.files.filter((f) => !this.#indexed.has(f.path)) }))
      .filter((a) => a.files.length > 0);
    if (gone.length === 0 && added.length === 0) return;
    for (const a of added) await this.spec.prepare?.(a.group, a.files);
    const connection = await this.instance.connect();
    try {
      await connection.run("begin transaction");
      try {
        if (gone.length > 0) {
          for (const table of this.spec.tables) {
            await connection.run(
              `delete from ${table} where list_contains(string_split($gone, chr(10)), file)`,
              { gone: gone.join("\n") },
            );
          }
        }
        for (const a of added) {
          for (let i = 0; i < a.files.length; i += FILES_PER_INSERT) {
            await this.spec.insert(connection, a.group, a.files.slice(i, i + FILES_PER_INSERT));
          }
        }
        await this.spec.settle?.(connection);
        await connection.run("commit");
      } catch (e) {
        // A failed rollback must not hide why the sync failed (usually a file compaction removed).
        await connection.run("rollback").catch(() => {});
        throw e;
      }
      for (const p of gone) this.#indexed.delete(p);
      for (const a of added) for (const f of a.files) this.#indexed.add(f.path);
    } finally {
      connection.closeSync();
    }
    await this.spec.committed?.(gone);
  }
}

/** A SQL string literal (quotes doubled), for paths the engine listed itself, never user input. */
export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * `read_parquet` over files joined to their listed path and hour, as `a` (the rows, with
 * `file_row_number`) and `w` (`path`, `hour`).
 */
export function listedScan(files: ListedFile[], localPath: (path: string) => string): string {
  const paths = files.map((f) => sqlLiteral(localPath(f.path))).join(", ");
  const listed = files.map((f) =>
    `(${sqlLiteral(localPath(f.path))}, ${sqlLiteral(f.path)}, ${f.hour})`
  )
    .join(", ");
  return `read_parquet([${paths}], filename = true, file_row_number = true, union_by_name = true) a
    join (values ${listed}) w(local, path, hour) on w.local = a.filename`;
}
