/**
 * Synthetic alerts: the schema is valid Avro and every alert matches it, candids are
 * unique 64-bit values that round-trip exactly, cutouts are gzipped 63x63 FITS, values
 * look like ZTF, generation is deterministic per seed, and catalog positions are used.
 */
import assert from "node:assert/strict";
import {
  AlertGenerator,
  avroType,
  CUTOUT_SIZE,
  readCatalogPositions,
  SIM_ALERT_SCHEMA_PATH,
  SIM_ALERT_SCHEMA_TEXT,
  SIM_SCHEMA_VERSION,
  type SimAlert,
  simAlertType,
} from "../../../simulator/alerts/mod.ts";
import { sharedData } from "../../shared_data.ts";
import { readGzippedFits } from "./fits_reader.ts";

const JD = 2461000.75;

function generate(count: number, seed = 7): SimAlert[] {
  const generator = new AlertGenerator({ seed });
  return Array.from({ length: count }, (_, i) => generator.next(JD + i / 86_400));
}

function angularDistanceArcsec(a: { ra: number; dec: number }, b: { ra: number; dec: number }) {
  const rad = Math.PI / 180;
  const cos = Math.sin(a.dec * rad) * Math.sin(b.dec * rad) +
    Math.cos(a.dec * rad) * Math.cos(b.dec * rad) * Math.cos((a.ra - b.ra) * rad);
  return (Math.acos(Math.min(1, cos)) / rad) * 3600;
}

Deno.test("the .avsc file is a valid Avro schema named fink.sim.alert", () => {
  const schema = JSON.parse(Deno.readTextFileSync(SIM_ALERT_SCHEMA_PATH));
  assert.equal(schema.namespace, "fink.sim");
  assert.equal(schema.name, "alert");
  const type = avroType(schema);
  assert.equal(type.name, "fink.sim.alert");
  assert.deepEqual(JSON.parse(SIM_ALERT_SCHEMA_TEXT), schema);
});

Deno.test("every alert is valid for the schema and round-trips with exact bigint candids", () => {
  const type = simAlertType();
  for (const alert of generate(500)) {
    const problems: string[] = [];
    const valid = type.isValid(alert, {
      errorHook: (path: string[]) => problems.push(path.join(".")),
    });
    assert.ok(valid, `invalid fields: ${problems.join(", ")}`);
    const decoded = type.fromBuffer(type.toBuffer(alert));
    assert.equal(typeof decoded.candid, "bigint");
    assert.equal(decoded.candid, alert.candid);
    assert.equal(decoded.candidate.candid, alert.candid);
    assert.equal(decoded.objectId, alert.objectId);
    assert.equal(decoded.schemavsn, SIM_SCHEMA_VERSION);
  }
});

Deno.test("candids are unique, above 2^53 and keep their low digits through Avro", () => {
  const alerts = generate(3000);
  const candids = alerts.map((alert) => alert.candid);
  assert.equal(new Set(candids).size, candids.length);
  const type = simAlertType();
  for (const candid of candids) assert.ok(candid > 2n ** 53n, `${candid} is not above 2^53`);
  const odd = alerts.find((alert) => alert.candid % 2n === 1n)!;
  assert.equal(type.fromBuffer(type.toBuffer(odd)).candid, odd.candid);
  const history = alerts.flatMap((alert) => alert.prv_candidates ?? [])
    .map((entry) => entry.candid).filter((candid) => candid !== null);
  assert.ok(history.length > 0);
});

Deno.test("cutouts are gzipped 63x63 BITPIX -32 FITS with a source at the centre", () => {
  const alert = generate(20).find((a) => a.candidate.isdiffpos === "t")!;
  for (const cutout of [alert.cutoutScience!, alert.cutoutTemplate!, alert.cutoutDifference!]) {
    assert.equal(cutout.stampData[0], 0x1f);
    assert.equal(cutout.stampData[1], 0x8b);
    const fits = readGzippedFits(cutout.stampData);
    assert.equal(fits.header.get("SIMPLE"), "T");
    assert.equal(fits.header.get("BITPIX"), "-32");
    assert.equal(fits.header.get("NAXIS"), "2");
    assert.equal(fits.width, CUTOUT_SIZE);
    assert.equal(fits.height, CUTOUT_SIZE);
    assert.ok(fits.pixels.every(Number.isFinite));
    assert.ok(cutout.fileName.endsWith(".fits.gz"));
  }
  const difference = readGzippedFits(alert.cutoutDifference!.stampData).pixels;
  const centre = difference[31 * CUTOUT_SIZE + 31];
  const sorted = [...difference].sort((a, b) => a - b);
  assert.ok(centre > sorted[Math.floor(sorted.length * 0.99)], "centre is not among the brightest");
});

Deno.test("values look like ZTF: magnitudes 14-21, sky positions, ids, object kinds", () => {
  const alerts = generate(3000);
  for (const { candidate, objectId } of alerts) {
    assert.match(objectId, /^FSIM\d{2}[a-z]{7}$/);
    assert.ok(candidate.magpsf >= 14 && candidate.magpsf <= 21, `magpsf ${candidate.magpsf}`);
    assert.ok(candidate.ra >= 0 && candidate.ra < 360);
    assert.ok(candidate.dec >= -31 && candidate.dec <= 90);
    assert.ok([1, 2, 3].includes(candidate.fid));
    assert.ok(["t", "f"].includes(candidate.isdiffpos));
    assert.ok(candidate.rb !== null && candidate.rb >= 0 && candidate.rb <= 1);
  }
  const asteroids = alerts.filter((a) => a.candidate.ssnamenr !== null);
  assert.ok(asteroids.length > 30, `${asteroids.length} asteroids`);
  for (const a of asteroids) assert.ok(a.candidate.ssdistnr! >= 0 && a.candidate.ssdistnr! < 5);
  const withHistory = alerts.filter((a) => (a.prv_candidates?.length ?? 0) > 3);
  assert.ok(withHistory.length > 300, `${withHistory.length} alerts with history`);
  for (const a of withHistory) {
    for (const entry of a.prv_candidates!) assert.ok(entry.jd < a.candidate.jd);
    assert.ok(a.candidate.ndethist >= 1);
  }
  const repeated = new Map<string, number>();
  for (const a of alerts) repeated.set(a.objectId, (repeated.get(a.objectId) ?? 0) + 1);
  assert.ok([...repeated.values()].some((n) => n > 1), "no object was seen twice");
  assert.ok(alerts.some((a) => a.candidate.rb! < 0.55), "no bogus detections");
});

Deno.test("the same seed and event times give byte-identical alerts; another seed differs", () => {
  const type = simAlertType();
  const a = generate(200, 11).map((alert) => type.toBuffer(alert).toString("hex"));
  const b = generate(200, 11).map((alert) => type.toBuffer(alert).toString("hex"));
  const c = generate(200, 12).map((alert) => type.toBuffer(alert).toString("hex"));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("the event time given is the candidate jd, so late mode can shift it", () => {
  const generator = new AlertGenerator({ seed: 3 });
  const late = JD - 12.5;
  const alert = generator.next(late);
  assert.equal(alert.candidate.jd, late);
  assert.equal(alert.candidate.jdendhist, late);
});

Deno.test("with real GCVS positions, catalog variable stars sit on catalog sources", async () => {
  const catalog = await readCatalogPositions(
    sharedData("catalogs", "fink-science", "gcvs.parquet"),
  );
  assert.ok(catalog.length > 50_000);
  const generator = new AlertGenerator({
    seed: 5,
    catalogPositions: catalog,
    catalogFraction: 0.5,
  });
  const alerts = Array.from({ length: 400 }, () => generator.next(JD));
  const onCatalog = alerts.filter((alert) =>
    catalog.some((source) =>
      Math.abs(source.dec - alert.candidate.dec) < 0.001 &&
      angularDistanceArcsec(source, alert.candidate) < 1
    )
  );
  assert.ok(onCatalog.length > 40, `${onCatalog.length} alerts on catalog sources`);
});
