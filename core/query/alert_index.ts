/**
 * The engine's per-object and per-position index: DuckDB tables in memory
 * holding, for every committed alert, the light-curve columns, the HEALPix
 * pixel, its event hour, and where it is (the file, relative to the archive
 * root, and its row in that file, so a query for an object's raw columns
 * reads exactly the row groups holding its alerts).
 *
 * It is derived from the archive's committed files, never written beside
 * them, and kept equal to the engine's listing of them by `FileTables` (one
 * transaction per sync: a query sees it as of one listing, every alert
 * once). After a restart it is rebuilt from the files.
 *
 * Three tables, as a log-structured merge: `alert_index`, sorted by pixel
 * (a cone reads only the row groups of its pixel ranges, and an ART index
 * finds an object); `alert_mid`, sorted too, the rows taken in since it was
 * last built; `alert_recent`, the newest rows, few, scanned whole. A sync
 * sorts the recent rows into the middle table once they are 10,000, and
 * rebuilds the big table once the middle one is a fifth of it, so each
 * sync's work stays small and a query never scans many unsorted rows. Syncs
 * run in the background (see engine.ts): neither this nor the reading of new
 * files delays a query.
 */
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { SKY_PIXEL_COLUMN } from "../archive/sky_pixel.ts";
import { FileTables, listedScan } from "./file_tables.ts";
import type { ParquetFiles } from "./parquet_files.ts";
import type { ListedFile } from "./snapshot.ts";
import { lightCurveSelect, type Survey } from "./surveys.ts";

/** The big sorted table. */
export const INDEX_TABLE = "alert_index";
/** The rows taken in since the big table was last built, sorted. */
export const MID_TABLE = "alert_mid";
/** The newest rows, unsorted. */
export const RECENT_TABLE = "alert_recent";
/** The three tables, biggest first. */
export const INDEX_TABLES = [INDEX_TABLE, MID_TABLE, RECENT_TABLE] as const;
/** The three tables as one (a view, for scans of everything). */
export const ALL_ALERTS = "alerts_all";
/** The index columns answers never carry. */
export const INTERNAL_COLUMNS = "file, row, hour, healpix";

const OBJECT_INDEX = `create index ${INDEX_TABLE}_object on ${INDEX_TABLE} (objectId)`;

/** Recent rows that make a sync sort them into the middle table. */
const RECENT_MAX_ROWS = 10_000;
/** Middle rows that make a sync rebuild the big table (at least, or a fifth of it). */
const MID_MIN_ROWS = 200_000;

/** A topic's committed files, as the index needs them. */
export interface IndexedTopic {
  topic: string;
  survey: Survey;
  files: ListedFile[];
}

const COLUMNS = `topic VARCHAR, file VARCHAR, row BIGINT, hour INTEGER, objectId VARCHAR,
  alertId VARCHAR, jd DOUBLE, ra DOUBLE, dec DOUBLE, band VARCHAR, mag DOUBLE, magerr DOUBLE,
  diffmaglim DOUBLE, isdiffpos VARCHAR, magnr DOUBLE, sigmagnr DOUBLE, tag VARCHAR,
  healpix INTEGER`;

/** Creates the index tables of an instance and what keeps them equal to the archive's files. */
export async function createAlertIndex(
  instance: DuckDBInstance,
  files: ParquetFiles,
): Promise<FileTables<IndexedTopic>> {
  const connection = await instance.connect();
  try {
    for (const table of INDEX_TABLES) await connection.run(`create table ${table} (${COLUMNS})`);
    await connection.run(OBJECT_INDEX);
    await connection.run(
      `create view ${ALL_ALERTS} as
       ${INDEX_TABLES.map((t) => `select * from ${t}`).join(" union all ")}`,
    );
  } finally {
    connection.closeSync();
  }
  return new FileTables<IndexedTopic>(instance, {
    tables: INDEX_TABLES,
    async prepare(topic, added) {
      const columns = [...topic.survey.indexColumns, SKY_PIXEL_COLUMN];
      for (const f of added) await files.prepare(f, { columns });
    },
    insert: (connection, topic, added) => insert(connection, topic, added, files),
    settle: fold,
    committed: (gone) => files.forget(gone),
  });
}

async function insert(
  connection: DuckDBConnection,
  t: IndexedTopic,
  added: ListedFile[],
  files: ParquetFiles,
): Promise<void> {
  const select = (pixel: string) =>
    `insert into ${RECENT_TABLE} by name
     select ${lightCurveSelect(t.topic, t.survey)}, ${pixel} as healpix,
       w.path as file, a.file_row_number as row, w.hour as hour
     from ${listedScan(added, (p) => files.localPath(p))}`;
  try {
    await connection.run(select(`a.${SKY_PIXEL_COLUMN}`));
  } catch (e) {
    // Files archived before the pixel column existed: cones scan them by declination.
    if (!(e as Error).message.includes(SKY_PIXEL_COLUMN)) throw e;
    await connection.run(select("null::INTEGER"));
  }
}

/** Sorts the recent rows into the middle table, and that into the big one, once they are many. */
async function fold(connection: DuckDBConnection): Promise<void> {
  const [counts] = (await connection.runAndReadAll(
    `select ${INDEX_TABLES.map((t) => `(select count(*) from ${t})::INTEGER as ${t}`).join(", ")}`,
  )).getRowObjectsJS();
  const [big, mid, recent] = INDEX_TABLES.map((t) => Number(counts[t]));
  // Rows in pixel order let a cone skip every row group outside its ranges.
  if (mid + recent > Math.max(MID_MIN_ROWS, big / 5)) {
    await connection.run(
      `create or replace table ${INDEX_TABLE} as select * from ${ALL_ALERTS} order by healpix`,
    );
    await connection.run(`delete from ${MID_TABLE}`);
    await connection.run(`delete from ${RECENT_TABLE}`);
    await connection.run(OBJECT_INDEX);
  } else if (recent > RECENT_MAX_ROWS) {
    await connection.run(
      `create or replace table ${MID_TABLE} as
       select * from (select * from ${MID_TABLE} union all select * from ${RECENT_TABLE})
       order by healpix`,
    );
    await connection.run(`delete from ${RECENT_TABLE}`);
  }
}
