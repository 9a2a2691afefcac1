/**
 * The fink-science catalogs in the shared data folder as catalog specs, with
 * the radii that `expected/derived_catalog_matches.csv` was computed with.
 */
import type { CatalogSpec } from "../../../core/xmatch/catalog.ts";
import { sharedData } from "../../shared_data.ts";

const dir = (file: string) => sharedData("catalogs/fink-science", file);

/** Catalog specs keyed by the names used in the expected-matches file. */
export const FINK_CATALOGS: Record<string, CatalogSpec> = {
  gcvs: {
    name: "gcvs",
    path: dir("gcvs.parquet"),
    ra: "ra",
    dec: "dec",
    column: "VarType",
    radiusArcsec: 1.5,
  },
  spicy: {
    name: "spicy",
    path: dir("spicy.parquet"),
    ra: "RAdeg",
    dec: "DEdeg",
    column: "class",
    radiusArcsec: 1.5,
  },
  "3hsp": {
    name: "3hsp",
    path: dir("3hsp.csv"),
    ra: "R.A.",
    dec: "Dec",
    column: "3HSP Source name",
    radiusArcsec: 1.5,
  },
  "4lac": {
    name: "4lac",
    path: [dir("table-4LAC-DR3-h.fits"), dir("table-4LAC-DR3-l.fits")],
    ra: "RAJ2000",
    dec: "DEJ2000",
    column: "Source_Name",
    radiusArcsec: 60,
  },
  tns: {
    name: "tns",
    path: dir("tns_raw.parquet"),
    ra: "ra",
    dec: "declination",
    column: "type",
    id: "fullname",
    radiusArcsec: 1.5,
    dropEmpty: true,
  },
};
