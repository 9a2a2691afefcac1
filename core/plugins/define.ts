/**
 * The plugin contract: a plugin file in `plugins/` default-exports the result
 * of {@link definePlugin}. The host runs it in a child process whose Deno permissions
 * are exactly `permissions`, hands it every batch of decoded alerts as an Arrow
 * table and writes what it returns under `science/<name>/YYYY/MM/dd/hh/`; a
 * filter plugin's answer (which alerts pass) goes to the distribution instead.
 */
import type { Table } from "apache-arrow";

/**
 * When the plugin runs: on every live batch (`stream`), over archived hours on demand
 * (`batch`), or on every batch the distribution publishes, to say which alerts pass (`filter`).
 */
export type PluginKind = "stream" | "batch" | "filter";

/** What the plugin may touch; anything not listed is denied. */
export interface PluginPermissions {
  /** Paths the plugin may read, relative to the project root or absolute. */
  read?: string[];
  /** Paths the plugin may write. */
  write?: string[];
  /** Hosts (`host` or `host:port`) the plugin may connect to. */
  net?: string[];
  /** Environment variables the plugin may read. */
  env?: string[];
}

/** Types a plugin may declare for its output columns. */
export type OutputType = "string" | "float64" | "int64" | "int32" | "bool";

/** One output row: the alert's id plus the declared output columns. */
export interface PluginRow {
  /** The alert's id: ZTF `candid` or Rubin `diaSourceId`. */
  id: bigint;
  [column: string]: string | number | bigint | boolean | null;
}

/**
 * How the live summary ranks rows by a numeric output: its distribution over `bins` and the
 * most notable rows of the last hour (the most anomalous alerts, say).
 */
export interface SummaryRanking {
  /** A numeric output column. */
  column: string;
  /** "ascending": the lowest values are the most notable; "descending": the highest. */
  order: "ascending" | "descending";
  /** Increasing bin edges of the distribution. */
  bins: number[];
  /** Rows of the last hour kept. Default 10. */
  top?: number;
}

/**
 * The plugin's own configuration section (`[plugins.<name>]` in the config
 * file), as the operator wrote it: its keys are the plugin's, which checks them.
 */
export type PluginConfig = Record<string, unknown>;

/** Fields of a plugin's log line: any names and values. */
export type PluginLogFields = Record<string, unknown>;

/** What the host gives a plugin at setup and with every batch. */
export interface PluginContext {
  /** The plugin's name. */
  name: string;
  /** The plugin's own configuration section (`plugins.<name>` in the config file). */
  config: PluginConfig;
  /** Structured log line attributed to the plugin. */
  log(message: string, fields?: PluginLogFields): void;
}

/** What a plugin file default-exports (as returned by {@link definePlugin}). */
export interface PluginManifest {
  name: string;
  description: string;
  version: string;
  permissions: PluginPermissions;
  kind: PluginKind;
  /** Output columns and their types, besides `id` (none for a filter). */
  outputs: Record<string, OutputType>;
  /**
   * A filter's science inputs: the plugins (`classify`, `anomaly`, ...) whose results it is
   * given, one struct column per plugin named after it, joined by alert id (null when the
   * plugin has no result for the alert).
   */
  science?: string[];
  /**
   * Batch columns the plugin reads (include the id column, e.g. `candid`): top-level names, or
   * paths to fields of records and of lists of records (`candidate.jd`, `prv_candidates.magpsf`),
   * which then hold only the fields asked for. When given, only these are read from the archive
   * and sent, so a plugin that ignores the cutouts, or most of a record, is not sent them.
   */
  columns?: string[];
  /** What the live summary ranks rows by, besides counting string outputs. */
  ranking?: SummaryRanking;
  /** CPU milliseconds one batch may take before the process is killed; the host's default otherwise. */
  budgetMs?: number;
  /**
   * Output columns for the plugin's configuration, when they depend on it (one score column per
   * configured model): called in the plugin process after `setup`, it returns `outputs` plus the
   * configured columns. Without it the outputs are `outputs`.
   */
  outputsFor?(config: PluginConfig): Record<string, OutputType>;
  /** Runs once in the plugin process before the first batch (load catalogs, build indexes). */
  setup?(ctx: PluginContext): Promise<void> | void;
  /**
   * Called with each batch of decoded alerts; returns rows keyed by alert id. A filter
   * returns `{ id }` for each alert that passes.
   */
  process(batch: Table, ctx: PluginContext): Promise<PluginRow[]> | PluginRow[];
}

/**
 * What {@link definePlugin} accepts: a manifest whose `version` (default
 * "0.0.0"), `kind` (default "stream") and `permissions` (default none) may be left
 * out, and `outputs` too for a filter (it has none).
 */
export type PluginDefinition =
  & Omit<PluginManifest, "version" | "kind" | "permissions" | "outputs">
  & Partial<Pick<PluginManifest, "version" | "kind" | "permissions" | "outputs">>;

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const KINDS: readonly PluginKind[] = ["stream", "batch", "filter"];
/** A column name, or a path of names through records: `candidate.jd`. */
const COLUMN_PATH = /^[^.]+(\.[^.]+)*$/;
/** The only permission kinds a plugin may declare; run, ffi, sys and import are never granted. */
export const PERMISSION_KINDS: readonly (keyof PluginPermissions)[] = [
  "read",
  "write",
  "net",
  "env",
];
const OUTPUT_TYPES: readonly OutputType[] = ["string", "float64", "int64", "int32", "bool"];

/**
 * Checks a plugin manifest, fills in the defaults and returns it typed.
 *
 * @throws Error naming the first field that is missing or wrong
 */
export function definePlugin(definition: PluginDefinition): PluginManifest {
  if (typeof definition !== "object" || definition === null) {
    throw new Error(`A plugin manifest must be an object, found ${definition}`);
  }
  const kind = definition.kind ?? "stream";
  const manifest: PluginManifest = {
    ...definition,
    version: definition.version ?? "0.0.0",
    kind,
    permissions: definition.permissions ?? {},
    outputs: definition.outputs ?? (kind === "filter" ? {} : definition.outputs!),
  };
  const m = manifest as unknown as Record<string, unknown>;
  if (typeof m.name !== "string" || !NAME.test(m.name)) {
    throw new Error(`Plugin name must match ${NAME}, found ${JSON.stringify(m.name)}`);
  }
  for (const key of ["description", "version"]) {
    if (typeof m[key] !== "string") {
      throw new Error(`Plugin ${m.name}: "${key}" must be a string, found ${typeof m[key]}`);
    }
  }
  if (!KINDS.includes(m.kind as PluginKind)) {
    throw new Error(`Plugin ${m.name}: "kind" must be one of ${KINDS.join(", ")}, found ${m.kind}`);
  }
  const perms = m.permissions;
  if (typeof perms !== "object" || perms === null) {
    throw new Error(`Plugin ${m.name}: "permissions" must be an object such as { read: [] }`);
  }
  for (const [kind, value] of Object.entries(perms)) {
    if (!PERMISSION_KINDS.includes(kind as keyof PluginPermissions)) {
      throw new Error(
        `Plugin ${m.name}: permission "${kind}" cannot be granted; ` +
          `declare only ${PERMISSION_KINDS.join(", ")}`,
      );
    }
    if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
      throw new Error(`Plugin ${m.name}: permission "${kind}" must be a list of strings`);
    }
  }
  const outputs = m.outputs;
  if (typeof outputs !== "object" || outputs === null) {
    throw new Error(`Plugin ${m.name}: "outputs" must map column names to types`);
  }
  const columns = m.columns;
  if (
    columns !== undefined &&
    (!Array.isArray(columns) || columns.length === 0 ||
      columns.some((c) => typeof c !== "string" || !COLUMN_PATH.test(c)))
  ) {
    throw new Error(
      `Plugin ${m.name}: "columns" must be a non-empty list of column names or paths ` +
        `such as "candidate.jd" when given, found ${JSON.stringify(columns)}`,
    );
  }
  const budget = m.budgetMs;
  if (budget !== undefined && (typeof budget !== "number" || !(budget > 0) || budget > 600_000)) {
    throw new Error(
      `Plugin ${m.name}: "budgetMs" must be a number of milliseconds in (0, 600000], found ${budget}`,
    );
  }
  checkOutputs(m.name as string, outputs as Record<string, unknown>);
  checkFilterFields(m);
  if (m.ranking !== undefined) checkRanking(m.name as string, m.ranking, outputs);
  if (m.outputsFor !== undefined && typeof m.outputsFor !== "function") {
    throw new Error(`Plugin ${m.name}: "outputsFor" must be a function when given`);
  }
  if (typeof m.process !== "function") {
    throw new Error(`Plugin ${m.name}: "process" must be a function`);
  }
  if (m.setup !== undefined && typeof m.setup !== "function") {
    throw new Error(`Plugin ${m.name}: "setup" must be a function when given`);
  }
  return manifest;
}

/**
 * Checks output columns: no `id`, only known types.
 *
 * @throws Error naming the plugin and the first bad column
 */
export function checkOutputs(plugin: string, outputs: Record<string, unknown>): void {
  for (const [column, type] of Object.entries(outputs)) {
    if (column === "id") {
      throw new Error(
        `Plugin ${plugin}: output "id" is implicit (the alert's id); remove it from outputs`,
      );
    }
    if (!OUTPUT_TYPES.includes(type as OutputType)) {
      throw new Error(
        `Plugin ${plugin}: output "${column}" has type ${type}; ` +
          `expected one of ${OUTPUT_TYPES.join(", ")}`,
      );
    }
  }
}

/** A filter says which alerts pass and nothing else; only a filter names science inputs. */
function checkFilterFields(m: Record<string, unknown>): void {
  const science = m.science;
  if (m.kind !== "filter") {
    if (science !== undefined) {
      throw new Error(
        `Plugin ${m.name}: "science" (the results a filter is given) is for kind "filter" only`,
      );
    }
    return;
  }
  if (Object.keys(m.outputs as object).length > 0) {
    throw new Error(
      `Plugin ${m.name}: a filter has no outputs (it returns { id } for each alert that ` +
        `passes); remove "outputs"`,
    );
  }
  if (
    science !== undefined &&
    (!Array.isArray(science) || science.some((p) => typeof p !== "string" || !NAME.test(p)))
  ) {
    throw new Error(
      `Plugin ${m.name}: "science" must list plugin names such as ["classify"], found ${
        JSON.stringify(science)
      }`,
    );
  }
}

function checkRanking(plugin: string, ranking: unknown, outputs: object): void {
  const r = ranking as Partial<SummaryRanking>;
  const numeric = ["float64", "int64", "int32"];
  const type = (outputs as Record<string, string>)[r?.column ?? ""];
  if (
    typeof r !== "object" || r === null || !numeric.includes(type) ||
    (r.order !== "ascending" && r.order !== "descending") ||
    !Array.isArray(r.bins) || r.bins.some((b, i) => typeof b !== "number" || b <= r.bins![i - 1]) ||
    (r.top !== undefined && !(Number.isInteger(r.top) && r.top > 0 && r.top <= 1000))
  ) {
    throw new Error(
      `Plugin ${plugin}: "ranking" must name a numeric output column, an order "ascending" or ` +
        `"descending", increasing bins and optionally top (1-1000), found ${
          JSON.stringify(ranking)
        }`,
    );
  }
}
