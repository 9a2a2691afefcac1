/**
 * Loads the one validated configuration: defaults from {@link KEYS}, then the
 * config file (TOML or JSON), then `FINK_*` environment variables, then
 * `--set key=value` flags. A bad key or value is refused with a message naming
 * the key, the value and what is expected.
 */
import { parse as parseToml } from "smol-toml";
import {
  type ConfigValue,
  type EnumKey,
  type EnumValue,
  envName,
  KEYS,
  type KeySpec,
} from "./keys.ts";

export {
  type ConfigValue,
  type EnumKey,
  type EnumValue,
  envName,
  keyDefault,
  type KeyName,
  KEYS,
  type KeySpec,
} from "./keys.ts";

/**
 * Where a value came from, lowest precedence first: `simulator` is what
 * `--simulator` points at the embedded broker, below an explicit `--set`.
 */
export type ValueSource = "default" | "file" | "env" | "simulator" | "flag";

/**
 * A table of the config file as the operator wrote it: a plugin's own section
 * (`[plugins.<name>]`) or a filter (`[distribution.filters.<name>]`). Its keys
 * are not the core's: whoever it is for (the plugin, the filter parser) checks them.
 */
export type ConfigTable = Record<string, unknown>;

/** The configuration as `status --json` and `/api/status` show it. */
export interface ConfigJson {
  /** The file read, or null when none. */
  file: string | null;
  /** Every key with its value and where it came from. */
  keys: Record<string, { value: ConfigValue; source: ValueSource }>;
  plugins: Readonly<Record<string, ConfigTable>>;
}

/** Thrown for any configuration problem; the message says what to fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const PRECEDENCE: readonly ValueSource[] = ["default", "file", "env", "simulator", "flag"];

/** The effective configuration. */
export class Config {
  constructor(
    readonly values: Readonly<Record<string, ConfigValue>>,
    readonly sources: Readonly<Record<string, ValueSource>>,
    /** Per-plugin sections: `[plugins.<name>]` tables of the config file. */
    readonly plugins: Readonly<Record<string, ConfigTable>>,
    /** The file read, or null when none. */
    readonly file: string | null,
    /** Declarative filters: `[distribution.filters.<name>]` tables of the config file. */
    readonly filters: Readonly<Record<string, ConfigTable>> = {},
  ) {}

  /** A string key's value. */
  string(key: string): string {
    return this.#get(key, "string", (v) => typeof v === "string") as string;
  }
  /** A numeric key's value. */
  number(key: string): number {
    return this.#get(key, "number", (v) => typeof v === "number") as number;
  }
  /** A boolean key's value. */
  bool(key: string): boolean {
    return this.#get(key, "boolean", (v) => typeof v === "boolean") as boolean;
  }
  /** A list key's value. */
  list(key: string): string[] {
    return [...(this.#get(key, "list", Array.isArray) as string[])];
  }
  /** An enum key's value, typed as the key's union of values (`"plain" | "hive"`). */
  choice<K extends EnumKey>(key: K): EnumValue<K> {
    const type = KEYS[key].type;
    const value = this.string(key);
    if (type.kind !== "enum" || !type.values.includes(value)) {
      throw new ConfigError(`Configuration key "${key}" holds "${value}", not one of its values`);
    }
    return value as EnumValue<K>;
  }

  /**
   * A copy with some keys replaced (values are validated), recorded as coming
   * from `source`; a key that already comes from a higher source keeps its value.
   */
  with(overrides: Record<string, ConfigValue>, source: ValueSource = "flag"): Config {
    const values = { ...this.values };
    const sources = { ...this.sources };
    for (const [key, value] of Object.entries(overrides)) {
      if (PRECEDENCE.indexOf(sources[key]) > PRECEDENCE.indexOf(source)) continue;
      values[key] = validate(key, value, source === "simulator" ? "--simulator" : "override");
      sources[key] = source;
    }
    return new Config(values, sources, this.plugins, this.file, this.filters);
  }

  /** Plain object for `status --json`: every key with its value and source; no secrets. */
  toJSON(): ConfigJson {
    const out: ConfigJson["keys"] = {};
    for (const key of Object.keys(KEYS)) {
      const secret = key === "ui.token" && this.values[key] !== "";
      out[key] = { value: secret ? "(set)" : this.values[key], source: this.sources[key] };
    }
    return { file: this.file, keys: out, plugins: this.plugins };
  }

  #get(key: string, type: string, isType: (v: ConfigValue) => boolean): ConfigValue {
    const value = this.values[key];
    if (value === undefined) throw new ConfigError(`Unknown configuration key "${key}"`);
    if (!isType(value)) {
      throw new ConfigError(`Configuration key "${key}" holds a ${typeof value}, not a ${type}`);
    }
    return value;
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Config file; when absent `conf/fink.toml` is used if it exists. Null: no file. */
  file?: string | null;
  /** `key=value` overrides from the command line. */
  sets?: string[];
  /** Environment to read `FINK_*` variables from (default: the process environment). */
  env?: Record<string, string>;
}

/** The config file used when none is named. */
export const DEFAULT_CONFIG_FILE = "conf/fink.toml";

/**
 * Builds the effective configuration.
 *
 * @throws ConfigError naming the key, the value and what is expected
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const values: Record<string, ConfigValue> = {};
  const sources: Record<string, ValueSource> = {};
  for (const [key, spec] of Object.entries(KEYS)) {
    values[key] = spec.default;
    sources[key] = "default";
  }
  let plugins: Record<string, Record<string, unknown>> = {};
  const filters: Record<string, Record<string, unknown>> = {};
  const file = await resolveFile(options.file);
  if (file !== null) {
    const parsed = await readFile(file);
    const flat: Record<string, unknown> = {};
    plugins = flatten(parsed, "", flat, file, filters);
    for (const [key, value] of Object.entries(flat)) {
      values[key] = validate(key, value, `${file}`);
      sources[key] = "file";
    }
  }
  const env = options.env ?? Deno.env.toObject();
  for (const key of Object.keys(KEYS)) {
    const raw = env[envName(key)];
    if (raw !== undefined) {
      values[key] = validate(key, fromText(key, raw), `environment variable ${envName(key)}`);
      sources[key] = "env";
    }
  }
  for (const set of options.sets ?? []) {
    const eq = set.indexOf("=");
    if (eq <= 0) {
      throw new ConfigError(`--set expects key=value, such as --set ui.port=5001, found "${set}"`);
    }
    const key = set.slice(0, eq).trim();
    const section = pluginSection(key);
    if (section !== null) {
      setPluginValue(plugins, section, pluginValue(set.slice(eq + 1)));
      continue;
    }
    values[key] = validate(key, fromText(key, set.slice(eq + 1)), "--set");
    sources[key] = "flag";
  }
  checkTogether(values);
  return new Config(values, sources, plugins, file, filters);
}

async function resolveFile(file: string | null | undefined): Promise<string | null> {
  if (file === null) return null;
  if (file !== undefined) return file;
  try {
    await Deno.stat(DEFAULT_CONFIG_FILE);
    return DEFAULT_CONFIG_FILE;
  } catch {
    return null;
  }
}

async function readFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigError(`Cannot read config file ${file}: ${(e as Error).message}`);
  }
  try {
    return file.endsWith(".json") ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    const kind = file.endsWith(".json") ? "JSON" : "TOML";
    throw new ConfigError(`Config file ${file} is not valid ${kind}: ${(e as Error).message}`);
  }
}

/**
 * Flattens nested tables to dotted keys; returns the `[plugins.<name>]` sections
 * apart and puts the `[distribution.filters.<name>]` ones in `filters`.
 */
function flatten(
  table: Record<string, unknown>,
  prefix: string,
  out: Record<string, unknown>,
  file: string,
  filters: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const plugins: Record<string, Record<string, unknown>> = {};
  for (const [name, value] of Object.entries(table)) {
    const key = prefix + name;
    if (key in KEYS) {
      out[key] = value;
    } else if (prefix === "plugins." && isTable(value)) {
      // Plain objects: the section is sent to the plugin's process as it is.
      plugins[name] = JSON.parse(JSON.stringify(value));
    } else if (prefix === "distribution.filters." && isTable(value)) {
      filters[name] = JSON.parse(JSON.stringify(value));
    } else if (isTable(value)) {
      Object.assign(plugins, flatten(value, key + ".", out, file, filters));
    } else {
      throw new ConfigError(`Unknown configuration key "${key}" in ${file}${suggest(key)}`);
    }
  }
  return plugins;
}

/**
 * `plugins.<name>.<path>` that is no core key: a key of a plugin's own section, which takes
 * any keys and subtables (the plugin checks them at setup). Null for every other key.
 */
function pluginSection(key: string): { plugin: string; path: string[] } | null {
  if (key in KEYS) return null;
  const parts = key.split(".");
  if (parts.length < 3 || parts[0] !== "plugins" || parts.some((p) => p === "")) return null;
  return { plugin: parts[1], path: parts.slice(2) };
}

/** A plugin key's value given as text: JSON when it parses (numbers, booleans, lists), else the text. */
function pluginValue(raw: string): unknown {
  const text = raw.trim();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function setPluginValue(
  plugins: Record<string, Record<string, unknown>>,
  { plugin, path }: { plugin: string; path: string[] },
  value: unknown,
): void {
  let table: Record<string, unknown> = plugins[plugin] ??= {};
  for (const [i, part] of path.slice(0, -1).entries()) {
    const next = table[part];
    if (next !== undefined && !isTable(next)) {
      const key = ["plugins", plugin, ...path.slice(0, i + 1)].join(".");
      throw new ConfigError(
        `--set cannot put a key under plugins.${plugin}.${path.join(".")}: ${key} is a value, ` +
          `not a table; set ${key} itself`,
      );
    }
    table = (table[part] ??= {}) as Record<string, unknown>;
  }
  table[path[path.length - 1]] = value;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** Parses a value given as text (environment or --set) by the key's type. */
function fromText(key: string, raw: string): unknown {
  const spec = KEYS[key];
  if (spec === undefined) return raw;
  const text = raw.trim();
  switch (spec.type.kind) {
    case "int":
    case "number":
      // Text that is no number stays text, so the error quotes what was typed.
      return text === "" || Number.isNaN(Number(text)) ? raw : Number(text);
    case "bool":
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return raw;
    case "list":
      if (text.startsWith("[")) {
        try {
          return JSON.parse(text);
        } catch {
          return raw;
        }
      }
      return text === "" ? [] : text.split(",").map((s) => s.trim());
    default:
      return raw;
  }
}

function validate(key: string, value: unknown, where: string): ConfigValue {
  const spec = KEYS[key];
  if (spec === undefined) {
    throw new ConfigError(`Unknown configuration key "${key}" (from ${where})${suggest(key)}`);
  }
  const expected = typeProblem(spec, value) ?? spec.check?.(value as ConfigValue) ?? null;
  if (expected !== null) {
    throw new ConfigError(
      `Bad value for ${key} (from ${where}): ${JSON.stringify(value)}; expected ${expected}`,
    );
  }
  return value as ConfigValue;
}

function typeProblem(spec: KeySpec, value: unknown): string | null {
  const t = spec.type;
  switch (t.kind) {
    case "string":
      if (typeof value !== "string") return "a string";
      return value.trim() !== "" || t.emptyOk === true ? null : "a non-empty string";
    case "bool":
      return typeof value === "boolean" ? null : "true or false";
    case "list":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
        ? null
        : 'a list of strings (in TOML ["a", "b"]; on the command line a,b)';
    case "enum":
      return t.values.includes(value as string) ? null : `one of ${t.values.join(", ")}`;
    case "number":
      return typeof value === "number" && Number.isFinite(value) && value >= (t.min ?? -Infinity)
        ? null
        : `a number${t.min !== undefined ? ` >= ${t.min}` : ""}`;
    case "int": {
      const ok = typeof value === "number" && Number.isInteger(value) &&
        value >= (t.min ?? -Infinity) && value <= (t.max ?? Infinity);
      if (ok) return null;
      const range = t.max !== undefined
        ? ` from ${t.min} to ${t.max}`
        : t.min !== undefined
        ? ` >= ${t.min}`
        : "";
      return `a whole number${range}`;
    }
  }
}

/** Checks the keys whose values bound each other. */
function checkTogether(values: Record<string, ConfigValue>): void {
  const session = values["kafka.session_timeout_ms"] as number;
  const heartbeat = values["kafka.heartbeat_ms"] as number;
  if (heartbeat * 3 > session) {
    throw new ConfigError(
      `kafka.heartbeat_ms is ${heartbeat} and kafka.session_timeout_ms ${session}: the ` +
        `heartbeat must be at most a third of the session timeout, so a missed heartbeat or ` +
        `two does not drop the member; lower kafka.heartbeat_ms or raise kafka.session_timeout_ms`,
    );
  }
}

function suggest(key: string): string {
  const [section] = key.split(".");
  const near = Object.keys(KEYS).filter((k) => k.startsWith(section + "."));
  return near.length > 0
    ? `; keys of [${section}] are ${near.join(", ")}`
    : `; sections are ${[...new Set(Object.keys(KEYS).map((k) => k.split(".")[0]))].join(", ")}`;
}
