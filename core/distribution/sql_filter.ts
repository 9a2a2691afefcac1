/**
 * Declarative filters: a name and a SQL boolean expression over the batch
 * table (alert columns such as `candidate.magpsf`, science columns such as
 * `classify.class`), checked against a table of the survey's columns and
 * evaluated by DuckDB over each batch (filter_engine.ts).
 */

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
