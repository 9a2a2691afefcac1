/**
 * Local catalog cross-matching: catalog readers (Parquet, CSV/TSV, FITS binary
 * tables, sexagesimal coordinates), a spherical zone index with exact
 * separations, and Fink's rule-based early classification. No network, no Workers.
 *
 * ```ts
 * const catalog = await loadCatalog({ name: "gcvs", path: "gcvs.parquet", ra: "ra",
 *   dec: "dec", column: "VarType", radiusArcsec: 1.5 });
 * const gcvs = new CatalogMatcher(catalog);
 * const row = gcvs.match(101.3520545, 24.5421872); // -1 when nothing within 1.5″
 * if (row >= 0) console.log(gcvs.value(row), gcvs.separationArcsec);
 * ```
 */
export {
  type Catalog,
  CatalogFileError,
  type CatalogFormat,
  catalogFormat,
  type CatalogSpec,
  loadCatalog,
  type LoadCatalogOptions,
  validateCatalogSpec,
} from "./catalog.ts";
export {
  classify,
  rubinIsSolarSystem,
  SOLAR_SYSTEM_CANDIDATE,
  SOLAR_SYSTEM_MPC,
  solarSystemClass,
  UNKNOWN,
  type ZtfAsteroidFields,
  ztfRoidFlag,
} from "./classification.ts";
export { type CsvTable, type CsvTableOptions, readCsvTable } from "./csv_table.ts";
export {
  type FitsColumn,
  type FitsTable,
  type FitsTableOptions,
  type FitsValues,
  readFitsTable,
} from "./fits_table.ts";
export { CatalogMatcher } from "./matcher.ts";
export { parseCoordinate, parseDecDegrees, parseRaHours } from "./sexagesimal.ts";
export {
  angularSeparationDeg,
  type ConeOptions,
  type MatchAllOptions,
  SkyIndex,
  type SkyIndexOptions,
  type SkyPoint,
} from "./sky_index.ts";
