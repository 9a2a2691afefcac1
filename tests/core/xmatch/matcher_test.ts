import assert from "node:assert/strict";
import { loadCatalog } from "../../../core/xmatch/catalog.ts";
import { readCsvTable } from "../../../core/xmatch/csv_table.ts";
import { CatalogMatcher } from "../../../core/xmatch/matcher.ts";
import { sharedData } from "../../shared_data.ts";
import { FINK_CATALOGS } from "./fink_catalogs.ts";

async function csv(path: string) {
  return readCsvTable(await Deno.readTextFile(sharedData(path)));
}

const matchers = new Map<string, CatalogMatcher>();
async function matcher(name: string, radiusArcsec?: number): Promise<CatalogMatcher> {
  const key = `${name}@${radiusArcsec}`;
  if (!matchers.has(key)) {
    matchers.set(key, new CatalogMatcher(await loadCatalog(FINK_CATALOGS[name]), { radiusArcsec }));
  }
  return matchers.get(key)!;
}

function catalogKey(label: string): string {
  return label.startsWith("tns") ? "tns" : label;
}

Deno.test("every real match listed in derived_catalog_matches.csv is found, value and separation", async () => {
  const expected = await csv("expected/derived_catalog_matches.csv");
  assert.equal(expected.numRows, 39);
  const cat = expected.column("catalog");
  for (let i = 0; i < expected.numRows; i++) {
    const m = await matcher(catalogKey(cat[i]), Number(expected.column("radius_arcsec")[i]));
    const ra = Number(expected.column("alert_ra")[i]);
    const dec = Number(expected.column("alert_dec")[i]);
    const row = m.match(ra, dec);
    const what = `${cat[i]} ${expected.column("objectId")[i]} ${expected.column("candid")[i]}`;
    assert.ok(row >= 0, `${what}: no match`);
    assert.equal(m.value(row), expected.column("catalog_type_or_name")[i], what);
    const sep = Number(expected.column("separation_arcsec")[i]);
    assert.ok(
      Math.abs(m.separationArcsec - sep) <= 0.01,
      `${what}: ${m.separationArcsec} vs ${sep}`,
    );
  }
});

Deno.test("offline fink-science doctest answers are reproduced", async () => {
  const doc = JSON.parse(
    await Deno.readTextFile(sharedData("expected/fink_science_xmatch_doctests.json")),
  );
  let checked = 0;
  for (const c of doc.cases) {
    if (!c.reproducible_offline || !c.inputs) continue;
    const m = await matcher(c.catalog, c.radius_arcsec);
    for (const input of c.inputs) {
      const row = m.match(input.ra, input.dec);
      assert.equal(row >= 0 ? m.value(row) : "Unknown", input.expected, `${c.catalog} ${input.id}`);
      checked++;
    }
  }
  assert.equal(checked, 12);
});

Deno.test("TNS: exactly one datatest alert matches, ZTF18abquxjv → SN Ia", async () => {
  const alerts = await csv("expected/fink-outputs/ztf_fink-science-datatest-20211122.csv");
  assert.equal(alerts.numRows, 124);
  const tns = await matcher("tns");
  const hits: string[] = [];
  for (let i = 0; i < alerts.numRows; i++) {
    const row = tns.match(Number(alerts.column("ra")[i]), Number(alerts.column("dec")[i]));
    if (row >= 0) hits.push(`${alerts.column("objectId")[i]} ${tns.value(row)} ${tns.id(row)}`);
  }
  assert.deepEqual(hits, ["ZTF18abquxjv SN Ia SN 2018lzf"]);
});

Deno.test("no match beyond those listed, for every alert the list covers", async () => {
  const expected = await csv("expected/derived_catalog_matches.csv");
  const listed = new Set<string>();
  for (let i = 0; i < expected.numRows; i++) {
    listed.add(`${catalogKey(expected.column("catalog")[i])} ${expected.column("candid")[i]}`);
  }
  const positions: [string, number, number][] = [];
  for (
    const file of [
      "expected/fink-outputs/ztf_fink-science-datatest-20211122.csv",
      "expected/alert-index/ztf_fink-broker-all-distribute-20231018.csv",
      "expected/alert-index/ztf_fink-alert-simulator-v3.1-20181129.csv",
      "expected/alert-index/ztf_ztf-avro-alert.csv",
    ]
  ) {
    const t = await csv(file);
    for (let i = 0; i < t.numRows; i++) {
      positions.push([
        t.column("candid")[i],
        Number(t.column("ra")[i]),
        Number(t.column("dec")[i]),
      ]);
    }
  }
  assert.equal(positions.length, 124 + 139 + 50 + 4);
  const found = new Set<string>();
  for (
    const [name, radius] of [["gcvs", 1.5], ["spicy", 1.5], ["3hsp", 1.5], ["4lac", 60], [
      "tns",
      1.5,
    ]] as const
  ) {
    const m = await matcher(name, radius);
    for (const [candid, ra, dec] of positions) {
      if (m.match(ra, dec) >= 0) found.add(`${name} ${candid}`);
    }
  }
  assert.deepEqual([...found].sort(), [...listed].sort());
});
