/**
 * Catalog specs and loading: reads Parquet, CSV/TSV or FITS binary-table files
 * into flat position arrays plus the value (and optional name) to report for
 * each source. Coordinates may be numeric degrees or sexagesimal text (RA in
 * hours, Dec in degrees). Rows without a usable position are skipped and counted.
 */
import { isAbsolute, resolve } from "node:path";
import * as arrow from "apache-arrow";
// The bundler build links its wasm through the module graph, so it loads inside a
// Worker that may read only catalog folders (the default build reads the .wasm file).
import * as pq from "parquet-wasm/bundler";
import { readCsvTable } from "./csv_table.ts";
import { readFitsTable } from "./fits_table.ts";
import { parseCoordinate } from "./sexagesimal.ts";

/** File formats a catalog can be read from. */
export type CatalogFormat = "parquet" | "csv" | "tsv" | "fits";

/** What to read from a catalog and how to match against it. */
export interface CatalogSpec {
  /** Short name, used for output columns (`gcvs`, `4lac`…). */
  name: string;
  /** File, or files concatenated in order (4LAC high + low latitude). */
  path: string | string[];
  /** Format; by default from the file extension (.parquet, .csv, .tsv, .fits). */
  format?: CatalogFormat;
  /** Right ascension column: degrees, or sexagesimal hours as text. */
  ra: string;
  /** Declination column: degrees, or sexagesimal degrees as text. */
  dec: string;
  /** Column whose (whitespace-stripped) value is reported for a match. */
  column?: string;
  /** Constant value reported for a match when the catalog has no type column (3HSP). */
  label?: string;
  /** Match radius in arcseconds. */
  radiusArcsec: number;
  /** Column holding the source's name, reported beside the value. */
  id?: string;
  /** Drop sources whose value is empty before indexing (TNS: only classified entries). */
  dropEmpty?: boolean;
}

/** A loaded catalog: positions in degrees and the value/name per source. */
export interface Catalog {
  /** The spec it was read with. */
  spec: CatalogSpec;
  /** Absolute paths read. */
  files: string[];
  /** Number of sources kept. */
  size: number;
  /** Right ascensions in degrees. */
  ra: Float64Array;
  /** Declinations in degrees. */
  dec: Float64Array;
  /** Value to report per source (stripped; "" when the cell is empty). */
  values: string[];
  /** Name per source when the spec has `id`, else null. */
  ids: string[] | null;
  /** Rows dropped: no usable position, or empty value with `dropEmpty`. */
  skipped: number;
}

/** Options for {@link loadCatalog}. */
export interface LoadCatalogOptions {
  /** Folder that relative paths are resolved against; default the working directory. */
  root?: string;
}

/** Raised when a catalog file does not exist or cannot be read. */
export class CatalogFileError extends Error {
  /** Absolute path of the file. */
  readonly path: string;
  /** Name of the catalog whose file it is. */
  readonly catalog: string;

  /** Builds the error for `catalog`'s file at `path`; `options.cause` is the read error. */
  constructor(catalog: string, path: string, options: ErrorOptions = {}) {
    const cause = options.cause;
    const reason = cause instanceof Deno.errors.NotFound
      ? "does not exist"
      : `cannot be read (${cause instanceof Error ? cause.message : String(cause)})`;
    super(`Catalog "${catalog}" file ${path} ${reason}`, options);
    this.name = "CatalogFileError";
    this.path = path;
    this.catalog = catalog;
  }
}

const FORMATS: readonly CatalogFormat[] = ["parquet", "csv", "tsv", "fits"];
const SPEC_KEYS = [
  "name",
  "path",
  "format",
  "ra",
  "dec",
  "column",
  "label",
  "radiusArcsec",
  "id",
  "dropEmpty",
];

/**
 * Checks an untrusted catalog spec (from a config file) and returns it typed.
 *
 * @throws Error naming `where` and the first field that is missing or wrong
 */
export function validateCatalogSpec(value: unknown, where: string): CatalogSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`Expected ${where} to be a table of catalog settings, found ${typeof value}`);
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!SPEC_KEYS.includes(key)) {
      throw new Error(`Unknown setting ${where}.${key}; expected one of ${SPEC_KEYS.join(", ")}`);
    }
  }
  const text = (key: string, required: boolean) => {
    const x = v[key];
    if (x === undefined && !required) return;
    if (typeof x !== "string" || x.trim() === "") {
      throw new Error(
        `Expected ${where}.${key} to be a non-empty string, found ${JSON.stringify(x)}`,
      );
    }
  };
  text("name", true);
  text("ra", true);
  text("dec", true);
  text("column", false);
  text("label", false);
  text("id", false);
  const paths = Array.isArray(v.path) ? v.path : [v.path];
  if (paths.length === 0 || paths.some((p) => typeof p !== "string" || p.trim() === "")) {
    throw new Error(
      `Expected ${where}.path to be a file path or a list of them, found ${JSON.stringify(v.path)}`,
    );
  }
  if ((v.column === undefined) === (v.label === undefined)) {
    throw new Error(
      `Expected exactly one of ${where}.column and ${where}.label, found ${
        v.column === undefined ? "neither" : "both"
      }`,
    );
  }
  if (
    typeof v.radiusArcsec !== "number" || !(v.radiusArcsec > 0) || !Number.isFinite(v.radiusArcsec)
  ) {
    throw new Error(
      `Expected ${where}.radiusArcsec to be a positive number of arcseconds, found ${
        JSON.stringify(v.radiusArcsec)
      }`,
    );
  }
  if (v.format !== undefined && !FORMATS.includes(v.format as CatalogFormat)) {
    throw new Error(
      `Expected ${where}.format to be one of ${FORMATS.join(", ")}, found ${
        JSON.stringify(v.format)
      }`,
    );
  }
  if (v.dropEmpty !== undefined && typeof v.dropEmpty !== "boolean") {
    throw new Error(
      `Expected ${where}.dropEmpty to be true or false, found ${JSON.stringify(v.dropEmpty)}`,
    );
  }
  return v as unknown as CatalogSpec;
}

/** The format a file is read as, from the spec or its extension. */
export function catalogFormat(path: string, format?: CatalogFormat): CatalogFormat {
  if (format) return format;
  const lower = path.toLowerCase();
  if (lower.endsWith(".parquet") || lower.endsWith(".pq")) return "parquet";
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".tsv") || lower.endsWith(".tab")) return "tsv";
  if (lower.endsWith(".fits") || lower.endsWith(".fit") || lower.endsWith(".fts")) return "fits";
  throw new Error(
    `Cannot tell the format of ${path} from its extension; name it .parquet, .csv, .tsv or .fits ` +
      `or set "format" to one of ${FORMATS.join(", ")}`,
  );
}

/** Column access shared by the three formats. */
interface RawTable {
  numRows: number;
  /** Numeric column as numbers (NaN for null), or null when the column holds text. */
  numbers(name: string): Float64Array | null;
  /** Any column as text ("" for null). */
  texts(name: string): string[];
}

function arrowColumn(table: arrow.Table, name: string, path: string): arrow.Vector {
  const exact = table.getChild(name);
  if (exact) return exact;
  const wanted = name.trim().toLowerCase();
  const field = table.schema.fields.find((f) => f.name.trim().toLowerCase() === wanted);
  if (field) return table.getChild(field.name)!;
  throw new Error(
    `Expected a column named ${name} in ${path}, found ${
      table.schema.fields.map((f) => f.name).join(", ")
    }`,
  );
}

function parquetTable(bytes: Uint8Array, path: string): RawTable {
  const table = arrow.tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  return {
    numRows: table.numRows,
    numbers(name) {
      const v = arrowColumn(table, name, path);
      if (!arrow.DataType.isFloat(v.type) && !arrow.DataType.isInt(v.type)) return null;
      if (v.nullCount === 0 && arrow.DataType.isFloat(v.type)) {
        return Float64Array.from(v.toArray() as ArrayLike<number>);
      }
      const out = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const x = v.get(i);
        out[i] = x === null || x === undefined ? NaN : Number(x);
      }
      return out;
    },
    texts(name) {
      const v = arrowColumn(table, name, path);
      const out: string[] = new Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const x = v.get(i);
        out[i] = x === null || x === undefined ? "" : String(x);
      }
      return out;
    },
  };
}

function fitsTable(bytes: Uint8Array): RawTable {
  const table = readFitsTable(bytes);
  return {
    numRows: table.numRows,
    numbers(name) {
      const v = table.column(name);
      if (v instanceof Float64Array) return v;
      if (v instanceof BigInt64Array) return Float64Array.from(v, Number);
      return null;
    },
    texts(name) {
      const v = table.column(name);
      return Array.from(v as ArrayLike<unknown>, (x) => x === null ? "" : String(x));
    },
  };
}

function csvTable(bytes: Uint8Array, delimiter: string): RawTable {
  const table = readCsvTable(new TextDecoder().decode(bytes), { delimiter });
  return {
    numRows: table.numRows,
    numbers: () => null,
    texts: (name) => table.column(name),
  };
}

function coordinates(
  table: RawTable,
  name: string,
  axis: "ra" | "dec",
  path: string,
): Float64Array {
  const numeric = table.numbers(name);
  if (numeric) return numeric;
  const texts = table.texts(name);
  const out = new Float64Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i].trim();
    if (t === "") {
      out[i] = NaN;
      continue;
    }
    try {
      out[i] = parseCoordinate(t, axis);
    } catch (e) {
      throw new Error(`Row ${i + 1} of ${path}, column ${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

async function readBytes(spec: CatalogSpec, path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new CatalogFileError(spec.name, path, { cause: e });
  }
}

/**
 * Reads a catalog's file(s) into positions and reported values.
 *
 * @throws CatalogFileError when a file is missing or unreadable
 * @throws Error when a column is missing or a coordinate cannot be parsed
 */
export async function loadCatalog(
  spec: CatalogSpec,
  options: LoadCatalogOptions = {},
): Promise<Catalog> {
  const root = options.root ?? Deno.cwd();
  const files = (Array.isArray(spec.path) ? spec.path : [spec.path]).map((p) =>
    isAbsolute(p) ? p : resolve(root, p)
  );
  const ra: number[] = [];
  const dec: number[] = [];
  const values: string[] = [];
  const ids: string[] = [];
  let skipped = 0;
  for (const file of files) {
    const format = catalogFormat(file, spec.format);
    const bytes = await readBytes(spec, file);
    const table = format === "parquet"
      ? parquetTable(bytes, file)
      : format === "fits"
      ? fitsTable(bytes)
      : csvTable(bytes, format === "tsv" ? "\t" : ",");
    const r = coordinates(table, spec.ra, "ra", file);
    const d = coordinates(table, spec.dec, "dec", file);
    const v = spec.column === undefined ? null : table.texts(spec.column);
    const n = spec.id === undefined ? null : table.texts(spec.id);
    for (let i = 0; i < table.numRows; i++) {
      const value = v ? v[i].trim() : spec.label!;
      if (
        !Number.isFinite(r[i]) || !(d[i] >= -90 && d[i] <= 90) || (spec.dropEmpty && value === "")
      ) {
        skipped++;
        continue;
      }
      ra.push(r[i]);
      dec.push(d[i]);
      values.push(value);
      if (n) ids.push(n[i].trim());
    }
  }
  return {
    spec,
    files,
    size: ra.length,
    ra: Float64Array.from(ra),
    dec: Float64Array.from(dec),
    values,
    ids: spec.id === undefined ? null : ids,
    skipped,
  };
}
