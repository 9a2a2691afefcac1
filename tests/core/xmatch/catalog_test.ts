import assert from "node:assert/strict";
import {
  CatalogFileError,
  catalogFormat,
  loadCatalog,
  validateCatalogSpec,
} from "../../../core/xmatch/catalog.ts";
import { sharedData } from "../../shared_data.ts";
import { FINK_CATALOGS } from "./fink_catalogs.ts";

Deno.test("fink-science catalogs load with stripped values", async () => {
  const gcvs = await loadCatalog(FINK_CATALOGS.gcvs);
  assert.equal(gcvs.size, 59099);
  assert.equal(gcvs.skipped, 0);
  assert.deepEqual(gcvs.values.slice(0, 2), ["SNI", "M"]);
  assert.equal(gcvs.ra[0], 10.679583333333332);
  assert.equal(gcvs.ids, null);
  assert.ok(gcvs.values.every((v) => v === v.trim()));
  const spicy = await loadCatalog(FINK_CATALOGS.spicy);
  assert.equal(spicy.size, 117446);
  assert.deepEqual(spicy.values.slice(0, 3), ["ClassII", "ClassII", "FS"]);
  const hsp = await loadCatalog(FINK_CATALOGS["3hsp"]);
  assert.equal(hsp.size, 2013);
  assert.equal(hsp.values[0], "3HSPJ000116.4+293534");
  const lac = await loadCatalog({ ...FINK_CATALOGS["4lac"], column: "CLASS", id: "Source_Name" });
  assert.equal(lac.size, 3407 + 407);
  assert.equal(lac.files.length, 2);
  assert.equal(lac.values[0], "bcu");
  assert.equal(lac.ids![0], "4FGL J0001.2+4741");
  assert.equal(lac.ids![3407], "4FGL J0012.0+7043");
});

Deno.test("TNS keeps only classified entries, like fink-science", async () => {
  const tns = await loadCatalog(FINK_CATALOGS.tns);
  assert.equal(tns.size, 2);
  assert.equal(tns.skipped, 1);
  assert.deepEqual(tns.values, ["SN II", "SN Ia"]);
  assert.deepEqual(tns.ids, ["SN 2022and", "SN 2018lzf"]);
  const all = await loadCatalog({ ...FINK_CATALOGS.tns, dropEmpty: false });
  assert.equal(all.size, 3);
  assert.equal(all.values[0], "");
});

Deno.test("a constant label replaces a value column", async () => {
  const hsp = await loadCatalog({
    ...FINK_CATALOGS["3hsp"],
    column: undefined,
    label: "Blazar",
    id: "3HSP Source name",
  });
  assert.equal(hsp.values[5], "Blazar");
  assert.equal(hsp.ids![0], "3HSPJ000116.4+293534");
});

Deno.test("sexagesimal text columns in Parquet and CSV (fink-filters lists)", async () => {
  const sym = await loadCatalog({
    name: "symbiotic",
    path: sharedData("catalogs/fink-filters/symbiotic_and_cataclysmic.parquet"),
    ra: "RA(J2000)",
    dec: "DEC(J2000)",
    column: "source",
    id: "Name",
    radiusArcsec: 1.5,
  });
  assert.equal(sym.size + sym.skipped, 2857);
  assert.equal(sym.ids![0], "IC10 SySt-1");
  assert.ok(Math.abs(sym.ra[0] - (20 / 60 + 33.59 / 3600) * 15) < 1e-9);
  assert.ok(Math.abs(sym.dec[0] - (59 + 18 / 60 + 45.9 / 3600)) < 1e-9);
  const mcv = await loadCatalog({
    name: "mcv",
    path: sharedData("catalogs/fink-filters/magnetic_cataclysmic_variables.csv"),
    ra: "RA(J2000)",
    dec: "DEC(J2000)",
    label: "MCV",
    id: "Name",
    radiusArcsec: 1.5,
  });
  assert.equal(mcv.size, 245);
  assert.ok(Math.abs(mcv.dec[1] - (1 + 4 / 60 + 40 / 3600)) < 1e-9);
});

Deno.test("a missing file or column is a clear error", async () => {
  const missing = sharedData("catalogs/fink-science/nope.parquet");
  await assert.rejects(
    loadCatalog({ ...FINK_CATALOGS.gcvs, path: missing }),
    (e: unknown) =>
      e instanceof CatalogFileError && e.path === missing && e.catalog === "gcvs" &&
      e.message === `Catalog "gcvs" file ${missing} does not exist`,
  );
  await assert.rejects(
    loadCatalog({ ...FINK_CATALOGS.gcvs, column: "Type" }),
    /column named Type in .*gcvs.parquet, found ra, dec, VarType/,
  );
  await assert.rejects(
    loadCatalog({ ...FINK_CATALOGS["4lac"], ra: "RA" }),
    /column named RA, found Source_Name/,
  );
  await assert.rejects(
    loadCatalog({ ...FINK_CATALOGS.gcvs, path: "gcvs.parquet" }, { root: sharedData("catalogs") }),
    (e: unknown) => e instanceof CatalogFileError && e.path === sharedData("catalogs/gcvs.parquet"),
  );
});

Deno.test("formats come from the extension unless given", () => {
  assert.equal(catalogFormat("a/b.PARQUET"), "parquet");
  assert.equal(catalogFormat("x.fits"), "fits");
  assert.equal(catalogFormat("x.tsv"), "tsv");
  assert.equal(catalogFormat("x.dat", "csv"), "csv");
  assert.throws(() => catalogFormat("x.dat"), /Cannot tell the format of x.dat/);
});

Deno.test("config specs are validated field by field", () => {
  const where = "plugins.classify.catalogs.gcvs";
  const good = {
    name: "gcvs",
    path: "g.parquet",
    ra: "ra",
    dec: "dec",
    column: "VarType",
    radiusArcsec: 1.5,
  };
  assert.deepEqual(validateCatalogSpec(good, where), good);
  assert.throws(
    () => validateCatalogSpec("x", where),
    /Expected plugins.classify.catalogs.gcvs to be a table/,
  );
  assert.throws(
    () => validateCatalogSpec({ ...good, radiusArcsec: "1.5" }, where),
    /gcvs.radiusArcsec to be a positive number/,
  );
  assert.throws(() => validateCatalogSpec({ ...good, radiusArcsec: -1 }, where), /positive number/);
  assert.throws(
    () => validateCatalogSpec({ ...good, path: [] }, where),
    /gcvs.path to be a file path/,
  );
  assert.throws(
    () => validateCatalogSpec({ ...good, ra: "" }, where),
    /gcvs.ra to be a non-empty string/,
  );
  assert.throws(
    () => validateCatalogSpec({ ...good, label: "x" }, where),
    /exactly one of .*column and .*label, found both/,
  );
  assert.throws(() => validateCatalogSpec({ ...good, column: undefined }, where), /found neither/);
  assert.throws(
    () => validateCatalogSpec({ ...good, format: "xls" }, where),
    /gcvs.format to be one of parquet, csv, tsv, fits/,
  );
  assert.throws(
    () => validateCatalogSpec({ ...good, radius: 2 }, where),
    /Unknown setting plugins.classify.catalogs.gcvs.radius; expected one of name, path/,
  );
});
