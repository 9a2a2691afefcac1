/**
 * The engine's per-object and per-position index: a DuckDB table in memory
 * holding the light-curve columns, the HEALPix pixel and the file of every
 * committed alert. It is derived from the archive's committed files, never
 * written beside them: before each query it takes in the files the listing
 * shows and drops those that are gone, in one transaction, so it always
 * says exactly what the archive holds (after a crash it is rebuilt from the
 * files at the first query). Object lookups find an object's files here;
 * cone searches run here entirely, pruned by pixel ranges.
 */
import type { DuckDBInstance } from "@duckdb/node-api";
import { SKY_PIXEL_COLUMN } from "../archive/sky_pixel.ts";
import { lightCurveSelect, type Survey } from "./surveys.ts";

/** The index table's name. */
export const INDEX_TABLE = "alert_index";

/** An ART index for object lookups (dropped with the table when it is sorted again). */
const OBJECT_INDEX = `create index ${INDEX_TABLE}_object on ${INDEX_TABLE} (objectId)`;

/** Appended rows that make the table be sorted again by pixel (at least, or a fifth of it). */
const RESORT_MIN_ROWS = 20_000;

/** A topic's committed files, as the index needs them. */
export interface IndexedTopic {
  topic: string;
  survey: Survey;
  files: { path: string }[];
}

const COLUMNS = `topic VARCHAR, file VARCHAR, objectId VARCHAR, alertId VARCHAR, jd DOUBLE,
  ra DOUBLE, dec DOUBLE, band VARCHAR, mag DOUBLE, magerr DOUBLE, diffmaglim DOUBLE,
  isdiffpos VARCHAR, magnr DOUBLE, sigmagnr DOUBLE, tag VARCHAR, healpix INTEGER`;

/** The index of one DuckDB instance; see the module comment. */
export class AlertIndex {
  #indexed = new Set<string>();
  /** Rows appended since the table was last sorted by pixel. */
  #unsorted = 0;
  #rows = 0;
  #lock: Promise<void> = Promise.resolve();

  private constructor(readonly instance: DuckDBInstance) {}

  /** Creates the (empty) index table. */
  static async create(instance: DuckDBInstance): Promise<AlertIndex> {
    const connection = await instance.connect();
    try {
      await connection.run(`create table ${INDEX_TABLE} (${COLUMNS})`);
      await connection.run(OBJECT_INDEX);
    } finally {
      connection.closeSync();
    }
    return new AlertIndex(instance);
  }

  /** Brings the index to exactly these files (one at a time: calls queue). */
  sync(topics: IndexedTopic[]): Promise<void> {
    const run = this.#lock.then(() => this.#sync(topics));
    this.#lock = run.catch(() => {});
    return run;
  }

  async #sync(topics: IndexedTopic[]): Promise<void> {
    const wanted = new Set(topics.flatMap((t) => t.files.map((f) => f.path)));
    const gone = [...this.#indexed].filter((p) => !wanted.has(p));
    const added = topics
      .map((t) => ({ ...t, files: t.files.filter((f) => !this.#indexed.has(f.path)) }))
      .filter((t) => t.files.length > 0);
    if (gone.length === 0 && added.length === 0) return;
    const connection = await this.instance.connect();
    let rows = this.#rows;
    let unsorted = this.#unsorted;
    try {
      await connection.run("begin transaction");
      try {
        if (gone.length > 0) {
          await connection.run(
            `delete from ${INDEX_TABLE} where list_contains(string_split($gone, chr(10)), file)`,
            { gone: gone.join("\n") },
          );
        }
        for (const t of added) {
          const paths = t.files.map((f) => `'${f.path.replaceAll("'", "''")}'`).join(", ");
          const select = (pixel: string) =>
            `insert into ${INDEX_TABLE} by name select ${lightCurveSelect(t.topic, t.survey)},
               ${pixel} as healpix, filename as file
             from read_parquet([${paths}], filename = true, union_by_name = true)`;
          try {
            await connection.run(select(SKY_PIXEL_COLUMN));
          } catch (e) {
            // Files archived before the pixel column existed: cones scan them by declination.
            if (!(e as Error).message.includes(SKY_PIXEL_COLUMN)) throw e;
            await connection.run(select("null::INTEGER"));
          }
        }
        const [count] = (await connection.runAndReadAll(
          `select count(*)::INTEGER as n from ${INDEX_TABLE}`,
        )).getRowObjectsJS();
        rows = Number(count.n);
        unsorted = this.#unsorted + Math.max(0, rows - this.#rows);
        if (unsorted > Math.max(RESORT_MIN_ROWS, rows / 5)) {
          // Rows in pixel order let the scan skip every row group outside a cone's ranges.
          await connection.run(
            `create or replace table ${INDEX_TABLE} as select * from ${INDEX_TABLE} order by healpix`,
          );
          await connection.run(OBJECT_INDEX);
          unsorted = 0;
        }
        await connection.run("commit");
      } catch (e) {
        // A failed rollback must not hide why the sync failed (usually a file compaction removed).
        await connection.run("rollback").catch(() => {});
        throw e;
      }
      // Counted only once committed, so a rolled-back sync leaves the resort schedule as it was.
      this.#rows = rows;
      this.#unsorted = unsorted;
      for (const p of gone) this.#indexed.delete(p);
      for (const t of added) for (const f of t.files) this.#indexed.add(f.path);
    } finally {
      connection.closeSync();
    }
  }
}
