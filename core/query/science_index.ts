/**
 * The science results answers carry, in DuckDB tables in memory kept equal to
 * the result files under the science root (through `FileTables`, like the
 * alert index): `class` from `classify` and `anomaly_score` from `anomaly`,
 * by alert id, with an ART index on the id. A query joins them to its rows
 * instead of reading every result file again.
 */
import type { DuckDBInstance } from "@duckdb/node-api";
import { FileTables, listedScan } from "./file_tables.ts";
import type { ParquetFiles } from "./parquet_files.ts";
import type { ListedFile } from "./snapshot.ts";

/** A plugin whose results answers carry. */
export interface SciencePlugin {
  plugin: "classify" | "anomaly";
  /** Its output columns joined into answer rows, with their SQL types. */
  columns: readonly { name: string; type: string }[];
}

/** The plugins whose results the engine joins. */
export const SCIENCE: readonly SciencePlugin[] = [
  { plugin: "classify", columns: [{ name: "class", type: "VARCHAR" }] },
  { plugin: "anomaly", columns: [{ name: "anomaly_score", type: "DOUBLE" }] },
];

/** The table holding a plugin's results. */
export function scienceTable(plugin: SciencePlugin["plugin"]): string {
  return `science_${plugin}`;
}

/** One plugin's result files. */
export interface ScienceFiles {
  plugin: SciencePlugin;
  files: ListedFile[];
}

/** Creates the science tables of an instance and what keeps them equal to the result files. */
export async function createScienceIndex(
  instance: DuckDBInstance,
  files: ParquetFiles,
): Promise<FileTables<ScienceFiles>> {
  const connection = await instance.connect();
  try {
    for (const s of SCIENCE) {
      const columns = s.columns.map((c) => `"${c.name}" ${c.type}`).join(", ");
      await connection.run(
        `create table ${scienceTable(s.plugin)} (id VARCHAR, ${columns}, file VARCHAR)`,
      );
      await connection.run(
        `create index ${scienceTable(s.plugin)}_id on ${scienceTable(s.plugin)} (id)`,
      );
    }
  } finally {
    connection.closeSync();
  }
  return new FileTables<ScienceFiles>(instance, {
    tables: SCIENCE.map((s) => scienceTable(s.plugin)),
    async prepare(group, added) {
      const columns = ["id", ...group.plugin.columns.map((c) => c.name)];
      for (const f of added) await files.prepare(f, { columns });
    },
    async insert(connection, group, added) {
      const columns = group.plugin.columns.map((c) => `a."${c.name}"::${c.type} as "${c.name}"`);
      await connection.run(
        `insert into ${scienceTable(group.plugin.plugin)} by name
         select a.id::VARCHAR as id, ${columns.join(", ")}, w.path as file
         from ${listedScan(added, (p) => files.localPath(p))}`,
      );
    },
    committed: (gone) => files.forget(gone),
  });
}
