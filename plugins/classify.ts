/**
 * Early classification by local catalog cross-match. Every alert of a ZTF or
 * Rubin batch is matched against GCVS, SPICY, 3HSP, 4LAC and a TNS extract read
 * from disk at setup (no remote service, so never a "Fail"), and gets a `class`:
 * the value of the first matching catalog in priority order, else Fink's
 * solar-system tags from the alert's own fields, else "Unknown" (the rule is
 * documented in core/xmatch/classification.ts).
 *
 * Config (`[plugins.classify]`), all optional:
 * - `priority = ["tns", "gcvs", "spicy", "3hsp", "4lac"]`: which catalog's value
 *   becomes the class when several match; catalogs left out follow in this
 *   default order. TNS comes first (a spectroscopic type of the transient
 *   itself), then the 1.5″ point-source catalogs, then the 1′ blazar catalogs.
 * - `[plugins.classify.catalogs.<name>]`: overrides of the default spec
 *   (`path`, `radiusArcsec`, `ra`, `dec`, `column` or `label`, `id`, `format`,
 *   `dropEmpty`), or `enabled = false` to skip a catalog (its columns stay null).
 *   The defaults are the files shipped in `plugins/data/catalogs/`; relative
 *   paths are resolved from the project root, and files must sit under a
 *   folder listed in `permissions.read`.
 *
 * Outputs per catalog `<name>` (reported value), `<name>_name` (source name when
 * the catalog has one) and `<name>_sep_arcsec`, all null without a match; plus
 * `class` and `roid` (Fink's solar-system flag: 3 known object, 2 candidate,
 * 1 first detection, 0 otherwise).
 */
import type { Table, Vector } from "apache-arrow";
import * as arrow from "apache-arrow";
import { fileURLToPath } from "node:url";
import {
  definePlugin,
  type OutputType,
  type PluginContext,
  type PluginRow,
} from "../core/plugins/define.ts";
import {
  CatalogFileError,
  CatalogMatcher,
  type CatalogSpec,
  classify,
  loadCatalog,
  rubinIsSolarSystem,
  solarSystemClass,
  validateCatalogSpec,
  ztfRoidFlag,
} from "../core/xmatch/mod.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../", import.meta.url));
/** The catalogs shipped beside this file (provenance and licences in data/README.md). */
const CATALOG_DIR = fileURLToPath(new URL("./data/catalogs", import.meta.url));

const NAMES = ["tns", "gcvs", "spicy", "3hsp", "4lac"] as const;
type Name = typeof NAMES[number];

/** Fink's catalogs and radii (fink-broker science.py): 1.5″ for point sources, 1′ for blazars. */
const DEFAULTS: Record<Name, Omit<CatalogSpec, "name">> = {
  tns: {
    path: `${CATALOG_DIR}/tns_raw.parquet`,
    ra: "ra",
    dec: "declination",
    column: "type",
    id: "fullname",
    radiusArcsec: 1.5,
    dropEmpty: true,
  },
  gcvs: {
    path: `${CATALOG_DIR}/gcvs.parquet`,
    ra: "ra",
    dec: "dec",
    column: "VarType",
    radiusArcsec: 1.5,
  },
  spicy: {
    path: `${CATALOG_DIR}/spicy.parquet`,
    ra: "RAdeg",
    dec: "DEdeg",
    column: "class",
    radiusArcsec: 1.2,
  },
  "3hsp": {
    path: `${CATALOG_DIR}/3hsp.csv`,
    ra: "R.A.",
    dec: "Dec",
    label: "Blazar",
    id: "3HSP Source name",
    radiusArcsec: 60,
  },
  "4lac": {
    path: [`${CATALOG_DIR}/table-4LAC-DR3-h.fits`, `${CATALOG_DIR}/table-4LAC-DR3-l.fits`],
    ra: "RAJ2000",
    dec: "DEJ2000",
    column: "CLASS",
    id: "Source_Name",
    radiusArcsec: 60,
  },
};

function outputs(): Record<string, OutputType> {
  const out: Record<string, OutputType> = { class: "string", roid: "int32" };
  for (const name of NAMES) {
    out[name] = "string";
    out[`${name}_name`] = "string";
    out[`${name}_sep_arcsec`] = "float64";
  }
  return out;
}

const OUTPUTS = outputs();

/** Matchers of enabled catalogs, in priority order; set by setup. */
let matchers: CatalogMatcher[] = [];
/** Catalogs that are disabled: their columns are always null. */
let disabled: Name[] = [];

function catalogSpecs(config: PluginContext["config"]): { specs: CatalogSpec[]; off: Name[] } {
  const section = config.catalogs ?? {};
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    throw new Error(
      `Expected plugins.classify.catalogs to be a table keyed by catalog name, found ${typeof section}`,
    );
  }
  const overrides = section as Record<string, unknown>;
  for (const key of Object.keys(overrides)) {
    if (!NAMES.includes(key as Name)) {
      throw new Error(
        `plugins.classify.catalogs.${key} is not a catalog this plugin outputs; ` +
          `configure one of ${NAMES.join(", ")}`,
      );
    }
  }
  const priority = config.priority ?? NAMES;
  if (
    !Array.isArray(priority) || priority.some((p) => !NAMES.includes(p)) ||
    new Set(priority).size !== priority.length
  ) {
    throw new Error(
      `Expected plugins.classify.priority to list distinct names among ${NAMES.join(", ")}, ` +
        `found ${JSON.stringify(priority)}`,
    );
  }
  const order = [...priority, ...NAMES.filter((n) => !priority.includes(n))] as Name[];
  const specs: CatalogSpec[] = [];
  const off: Name[] = [];
  for (const name of order) {
    const where = `plugins.classify.catalogs.${name}`;
    const override = overrides[name] ?? {};
    if (typeof override !== "object" || override === null || Array.isArray(override)) {
      throw new Error(
        `Expected ${where} to be a table of catalog settings, found ${typeof override}`,
      );
    }
    const { enabled, ...rest } = override as Record<string, unknown>;
    if (enabled !== undefined && typeof enabled !== "boolean") {
      throw new Error(
        `Expected ${where}.enabled to be true or false, found ${JSON.stringify(enabled)}`,
      );
    }
    if (enabled === false) {
      off.push(name);
      continue;
    }
    const base: Record<string, unknown> = { ...DEFAULTS[name] };
    // A configured label replaces the default value column and the other way round.
    if ("label" in rest) delete base.column;
    if ("column" in rest) delete base.label;
    specs.push(validateCatalogSpec({ ...base, ...rest, name }, where));
  }
  return { specs, off };
}

async function setup(ctx: PluginContext): Promise<void> {
  const { specs, off } = catalogSpecs(ctx.config);
  const loaded: CatalogMatcher[] = [];
  for (const spec of specs) {
    const start = performance.now();
    let catalog;
    try {
      catalog = await loadCatalog(spec, { root: PROJECT_ROOT });
    } catch (e) {
      if (e instanceof CatalogFileError) {
        throw new Error(
          `${e.message}; set plugins.classify.catalogs.${spec.name}.path to an existing file ` +
            `(relative paths start at ${PROJECT_ROOT}) or set enabled = false`,
        );
      }
      throw e;
    }
    const loadMs = performance.now() - start;
    const matcher = new CatalogMatcher(catalog);
    loaded.push(matcher);
    ctx.log("catalog indexed", {
      catalog: spec.name,
      sources: catalog.size,
      skipped: catalog.skipped,
      radiusArcsec: matcher.radiusArcsec,
      loadMs: Math.round(loadMs),
      buildMs: Math.round(matcher.buildMs * 10) / 10,
    });
  }
  matchers = loaded;
  disabled = off;
}

/** Numbers of a column (NaN for nulls or when the column is absent). */
function numbers(vector: Vector | null, n: number): ArrayLike<number> {
  if (!vector) return new Float64Array(n).fill(NaN);
  if (vector.nullCount === 0 && arrow.DataType.isFloat(vector.type)) {
    return vector.toArray() as ArrayLike<number>;
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = vector.get(i);
    out[i] = v === null || v === undefined ? NaN : Number(v);
  }
  return out;
}

function child(vector: Vector | null, name: string): Vector | null {
  return vector?.getChild(name) ?? null;
}

/**
 * Per alert, the number of previous candidates with a magnitude plus one
 * (Fink's nalerthist) and the days since the last previous candidate.
 */
function history(
  prv: Vector | null,
  jd: ArrayLike<number>,
  n: number,
): { nalerthist: Float64Array; gap: Float64Array } {
  const nalerthist = new Float64Array(n).fill(NaN);
  const gap = new Float64Array(n).fill(NaN);
  if (!prv || !arrow.DataType.isList(prv.type)) return { nalerthist, gap };
  let row = 0;
  for (const data of prv.data) {
    const items = arrow.makeVector(data.children[0]);
    const mags = items.getChild("magpsf");
    const jds = items.getChild("jd");
    const offsets = data.valueOffsets;
    for (let i = 0; i < data.length; i++, row++) {
      if (!data.getValid(i)) {
        nalerthist[row] = 1;
        continue;
      }
      const begin = offsets[i];
      const end = offsets[i + 1];
      let detections = 1;
      for (let k = begin; k < end; k++) {
        const m = mags?.get(k);
        if (m !== null && m !== undefined && !Number.isNaN(m)) detections++;
      }
      nalerthist[row] = detections;
      const lastJd = end > begin ? jds?.get(end - 1) : null;
      if (lastJd !== null && lastJd !== undefined) gap[row] = jd[row] - Number(lastJd);
    }
  }
  return { nalerthist, gap };
}

interface Positions {
  ids: ArrayLike<bigint | null>;
  /** Null, with `unclassified` saying why, when the batch has no position columns. */
  ra: ArrayLike<number> | null;
  dec: ArrayLike<number> | null;
  roid: Int32Array;
  unclassified?: string;
}

function ids(vector: Vector | null, n: number): ArrayLike<bigint | null> {
  if (!vector) return new Array(n).fill(null);
  if (
    vector.nullCount === 0 && vector.type.typeId === arrow.Type.Int &&
    (vector.type as arrow.Int).bitWidth === 64
  ) {
    return vector.toArray() as BigInt64Array;
  }
  const out: (bigint | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = vector.get(i);
    out[i] = v === null || v === undefined ? null : BigInt(v);
  }
  return out;
}

function ztfPositions(table: Table, candidate: Vector): Positions {
  const n = table.numRows;
  const jd = numbers(child(candidate, "jd"), n);
  const ssdistnr = numbers(child(candidate, "ssdistnr"), n);
  const distpsnr1 = numbers(child(candidate, "distpsnr1"), n);
  const sgscore1 = numbers(child(candidate, "sgscore1"), n);
  const ndethist = numbers(child(candidate, "ndethist"), n);
  const { nalerthist, gap } = history(table.getChild("prv_candidates"), jd, n);
  const roid = new Int32Array(n);
  const fields = {
    ssdistnr: 0,
    distpsnr1: 0,
    sgscore1: 0,
    ndethist: 0,
    nalerthist: 0,
    lastGapDays: 0,
  };
  for (let i = 0; i < n; i++) {
    fields.ssdistnr = ssdistnr[i];
    fields.distpsnr1 = distpsnr1[i];
    fields.sgscore1 = sgscore1[i];
    fields.ndethist = ndethist[i];
    fields.nalerthist = nalerthist[i];
    fields.lastGapDays = gap[i];
    roid[i] = ztfRoidFlag(fields);
  }
  return located(
    ids(table.getChild("candid") ?? child(candidate, "candid"), n),
    { ra: child(candidate, "ra"), dec: child(candidate, "dec"), where: "candidate.ra/dec" },
    roid,
  );
}

/** The first of `names` that the struct has: field names differ between schema versions. */
function childOf(vector: Vector | null, names: readonly string[]): Vector | null {
  for (const name of names) {
    const found = child(vector, name);
    if (found) return found;
  }
  return null;
}

/** Rubin's declination: `dec` since lsst.v7, `decl` before it and in ELAsTiCC. */
const RUBIN_DEC = ["dec", "decl"] as const;

function rubinPositions(table: Table, diaSource: Vector): Positions {
  const n = table.numRows;
  const ssObjectId = child(diaSource, "ssObjectId");
  const ssSource = table.getChild("ssSource");
  const roid = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const hasSsSource = ssSource !== null && ssSource.isValid(i);
    roid[i] = rubinIsSolarSystem(ssObjectId?.get(i) ?? null, hasSsSource) ? 3 : 0;
  }
  return located(
    // The archive keys rows by the top-level id (diaSourceId, or alertId in ELAsTiCC).
    ids(
      table.getChild("diaSourceId") ?? table.getChild("alertId") ??
        child(diaSource, "diaSourceId"),
      n,
    ),
    { ra: child(diaSource, "ra"), dec: childOf(diaSource, RUBIN_DEC), where: "diaSource.ra/dec" },
    roid,
  );
}

/** Positions from the columns found, or none and the reason when one is missing. */
function located(
  alertIds: ArrayLike<bigint | null>,
  columns: { ra: Vector | null; dec: Vector | null; where: string },
  roid: Int32Array,
): Positions {
  const n = roid.length;
  if (!columns.ra || !columns.dec) {
    return { ids: alertIds, ra: null, dec: null, roid, unclassified: `no ${columns.where} column` };
  }
  return { ids: alertIds, ra: numbers(columns.ra, n), dec: numbers(columns.dec, n), roid };
}

/** A batch of neither survey's layout: rows for the alerts that have an id, left unclassified. */
function unknownLayout(table: Table): Positions {
  const n = table.numRows;
  return {
    ids: ids(
      table.getChild("candid") ?? table.getChild("diaSourceId") ?? table.getChild("alertId"),
      n,
    ),
    ra: null,
    dec: null,
    roid: new Int32Array(n),
    unclassified: "neither a ZTF candidate nor a Rubin diaSource",
  };
}

function process(table: Table, ctx: PluginContext): PluginRow[] {
  if (table.numRows === 0) return [];
  const candidate = table.getChild("candidate");
  const diaSource = table.getChild("diaSource");
  const positions = candidate
    ? ztfPositions(table, candidate)
    : diaSource
    ? rubinPositions(table, diaSource)
    : unknownLayout(table);
  const { ra: ras, dec: decs } = positions;
  if (ras === null || decs === null) return unclassified(positions, ctx);
  const rows: PluginRow[] = [];
  const values: (string | null)[] = new Array(matchers.length);
  let missingIds = 0;
  for (let i = 0; i < table.numRows; i++) {
    const id = positions.ids[i];
    if (id === null) {
      missingIds++;
      continue;
    }
    const row: PluginRow = { id, class: "", roid: positions.roid[i] };
    const ra = ras[i];
    const dec = decs[i];
    for (let c = 0; c < matchers.length; c++) {
      const m = matchers[c];
      const hit = m.match(ra, dec);
      const value = hit >= 0 ? m.value(hit) : null;
      values[c] = value;
      row[m.name] = value;
      row[`${m.name}_name`] = hit >= 0 ? m.id(hit) : null;
      row[`${m.name}_sep_arcsec`] = hit >= 0 ? m.separationArcsec : null;
    }
    for (const name of disabled) {
      row[name] = null;
      row[`${name}_name`] = null;
      row[`${name}_sep_arcsec`] = null;
    }
    row.class = classify(values, solarSystemClass(positions.roid[i]));
    rows.push(row);
  }
  if (missingIds > 0) ctx.log("alerts without an id skipped", { count: missingIds });
  return rows;
}

/**
 * Rows of null results for a batch whose layout has no positions, so the
 * alerts are accounted for; the reason is logged with the count.
 */
function unclassified(positions: Positions, ctx: PluginContext): PluginRow[] {
  const rows: PluginRow[] = [];
  for (const id of Array.from(positions.ids)) {
    if (id === null) continue;
    const row: PluginRow = { id };
    for (const column of Object.keys(OUTPUTS)) row[column] = null;
    rows.push(row);
  }
  ctx.log("alerts left unclassified", {
    reason: positions.unclassified,
    count: rows.length,
    withoutId: positions.ids.length - rows.length,
  });
  return rows;
}

export default definePlugin({
  name: "classify",
  description: "Early classification by local cross-match with GCVS, SPICY, 3HSP, 4LAC and TNS, " +
    "plus Fink's solar-system rules; never fails on a remote service",
  version: "1.0.0",
  permissions: { read: [CATALOG_DIR] },
  kind: "stream",
  // Positions, ids and solar-system fields only: the cutouts stay out of the plugin process.
  columns: [
    "candid",
    "candidate",
    "prv_candidates",
    "diaSourceId",
    "alertId",
    "diaSource",
    "ssSource",
  ],
  outputs: OUTPUTS,
  setup,
  process,
});
