/**
 * The plugin contract: a plugin file in `plugins/` default-exports the result
 * of {@link definePlugin}. The host runs it in a child process whose Deno permissions
 * are exactly `permissions`, hands it every batch of decoded alerts as an Arrow
 * table and writes what it returns under `science/<name>/YYYY/MM/dd/hh/`.
 */
import type { Table } from "apache-arrow";

/** When the plugin runs: on every live batch, or over archived hours on demand. */
export type PluginKind = "stream" | "batch";

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

/** What the host gives a plugin at setup and with every batch. */
export interface PluginContext {
  /** The plugin's name. */
  name: string;
  /** The plugin's own configuration section (`plugins.<name>` in the config file). */
  config: Record<string, unknown>;
  /** Structured log line attributed to the plugin. */
  log(message: string, fields?: Record<string, unknown>): void;
}

/** What a plugin file default-exports (as returned by {@link definePlugin}). */
export interface PluginManifest {
  name: string;
  description: string;
  version: string;
  permissions: PluginPermissions;
  kind: PluginKind;
  /** Output columns and their types, besides `id`. */
  outputs: Record<string, OutputType>;
  /**
   * Top-level batch columns the plugin reads (include the id column, e.g. `candid`).
   * When given, the host sends only these, so a plugin that ignores the cutouts is not sent them.
   */
  columns?: string[];
  /** CPU milliseconds one batch may take before the process is killed; the host's default otherwise. */
  budgetMs?: number;
  /** Runs once in the plugin process before the first batch (load catalogs, build indexes). */
  setup?(ctx: PluginContext): Promise<void> | void;
  /** Called with each batch of decoded alerts; returns rows keyed by alert id. */
  process(batch: Table, ctx: PluginContext): Promise<PluginRow[]> | PluginRow[];
}

/**
 * What {@link definePlugin} accepts: a manifest whose `version` (default
 * "0.0.0"), `kind` (default "stream") and `permissions` (default none) may be left out.
 */
export type PluginDefinition =
  & Omit<PluginManifest, "version" | "kind" | "permissions">
  & Partial<Pick<PluginManifest, "version" | "kind" | "permissions">>;

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const KINDS: readonly PluginKind[] = ["stream", "batch"];
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
  const manifest: PluginManifest = {
    ...definition,
    version: definition.version ?? "0.0.0",
    kind: definition.kind ?? "stream",
    permissions: definition.permissions ?? {},
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
  for (const [column, type] of Object.entries(outputs)) {
    if (column === "id") {
      throw new Error(
        `Plugin ${m.name}: output "id" is implicit (the alert's id); remove it from outputs`,
      );
    }
    if (!OUTPUT_TYPES.includes(type as OutputType)) {
      throw new Error(
        `Plugin ${m.name}: output "${column}" has type ${type}; ` +
          `expected one of ${OUTPUT_TYPES.join(", ")}`,
      );
    }
  }
  const columns = m.columns;
  if (
    columns !== undefined &&
    (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== "string"))
  ) {
    throw new Error(
      `Plugin ${m.name}: "columns" must be a non-empty list of column names when given`,
    );
  }
  const budget = m.budgetMs;
  if (budget !== undefined && (typeof budget !== "number" || !(budget > 0) || budget > 600_000)) {
    throw new Error(
      `Plugin ${m.name}: "budgetMs" must be a number of milliseconds in (0, 600000], found ${budget}`,
    );
  }
  if (typeof m.process !== "function") {
    throw new Error(`Plugin ${m.name}: "process" must be a function`);
  }
  if (m.setup !== undefined && typeof m.setup !== "function") {
    throw new Error(`Plugin ${m.name}: "setup" must be a function when given`);
  }
  return manifest;
}
