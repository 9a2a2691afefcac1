/**
 * Declarative filters: a name and a SQL boolean expression over the batch
 * table (alert columns such as `candidate.magpsf`, science columns such as
 * `classify.class`), checked against a table of the survey's columns and
 * evaluated by DuckDB over each batch.
 */
import { BATCH_TABLE, type BatchTable, ROW_COLUMN } from "./batch_table.ts";

/** A declarative filter as configured or posted. */
export interface FilterDefinition {
  /** Lower-case letters, digits and `_`: it names the topic `<prefix><name>_<survey>`. */
  name: string;
  /** SQL boolean expression over the batch table. */
  where: string;
  description: string;
}

/** Why a filter definition was refused: one line naming the filter and the reason. */
export class FilterError extends Error {
  override name = "FilterError";
}

const NAME = /^[a-z0-9][a-z0-9_]{0,63}$/;

/** Checks the shape of a definition (name, expression present); throws {@link FilterError}. */
export function parseDefinition(name: string, body: unknown): FilterDefinition {
  if (!NAME.test(name)) {
    throw new FilterError(
      `Filter name ${JSON.stringify(name)} is invalid: use 1-64 lower-case letters, digits and _`,
    );
  }
  const fields = typeof body === "object" && body !== null ? body as Record<string, unknown> : {};
  const where = fields.where;
  if (typeof where !== "string" || where.trim() === "") {
    throw new FilterError(`Filter ${name} needs "where": a SQL boolean expression`);
  }
  const description = typeof fields.description === "string" ? fields.description : "";
  return { name, where: where.trim(), description };
}

/**
 * Checks that `filter.where` is one boolean expression over the columns of
 * `scope` (an unknown column, another type, several statements or anything
 * the sandboxed database refuses is reported); throws {@link FilterError}.
 */
export async function checkFilter(filter: FilterDefinition, scope: BatchTable): Promise<void> {
  const sql = `DESCRIBE SELECT (${filter.where}) AS v FROM ${BATCH_TABLE}`;
  let type: string;
  try {
    const statements = await scope.connection.extractStatements(sql);
    if (statements.count !== 1) throw new Error("more than one statement");
    const rows = (await scope.connection.runAndReadAll(sql)).getRowObjectsJS();
    type = String(rows[0]?.column_type);
  } catch (error) {
    throw new FilterError(`Filter ${filter.name} is refused: ${firstLine(error)}`);
  }
  if (type !== "BOOLEAN") {
    throw new FilterError(
      `Filter ${filter.name} is refused: its expression gives ${type}, expected BOOLEAN`,
    );
  }
}

/** Row numbers (in the archived file) of the alerts of `table` that `filter` passes. */
export async function selectRows(filter: FilterDefinition, table: BatchTable): Promise<number[]> {
  try {
    const reader = await table.connection.runAndReadAll(
      `SELECT ${ROW_COLUMN} AS r FROM ${BATCH_TABLE} WHERE (${filter.where}) ORDER BY r`,
    );
    return reader.getRowObjectsJS().map((row) => Number(row.r));
  } catch (error) {
    throw new FilterError(`Filter ${filter.name} failed on a batch: ${firstLine(error)}`);
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}
