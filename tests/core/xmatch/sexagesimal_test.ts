import assert from "node:assert/strict";
import {
  parseCoordinate,
  parseDecDegrees,
  parseRaHours,
} from "../../../core/xmatch/sexagesimal.ts";
import { readCsvTable } from "../../../core/xmatch/csv_table.ts";
import { sharedData } from "../../shared_data.ts";

function near(actual: number, expected: number, tolerance = 1e-9) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `expected ${expected} ± ${tolerance}, found ${actual}`,
  );
}

Deno.test("right ascension in hours becomes degrees", () => {
  near(parseRaHours("00 01 16.37"), (1 / 60 + 16.37 / 3600) * 15);
  near(parseRaHours("23:59:59.99"), (23 + 59 / 60 + 59.99 / 3600) * 15);
  near(parseRaHours("12 30"), 187.5);
  assert.equal(parseRaHours("00 00 00"), 0);
  // Rounded seconds, as in fink-filters' magnetic CV list.
  near(parseRaHours("14 46 60.0"), (14 + 47 / 60) * 15);
});

Deno.test("declination sign applies to the whole value, including -00", () => {
  near(parseDecDegrees("+29 35 34.0"), 29 + 35 / 60 + 34 / 3600);
  near(parseDecDegrees("-41 55 24.99"), -(41 + 55 / 60 + 24.99 / 3600));
  near(parseDecDegrees("-00 30 00"), -0.5);
  near(parseDecDegrees("+90 00 00"), 90);
});

Deno.test("malformed sexagesimal text is rejected with the value in the message", () => {
  assert.throws(() => parseRaHours("24 00 00"), /\[0h, 24h\).*"24 00 00"/);
  assert.throws(() => parseRaHours("-01 00 00"), /right ascension/);
  assert.throws(() => parseRaHours("12 61 00"), /at most 60/);
  assert.throws(() => parseDecDegrees("+91 00 00"), /±90°/);
  assert.throws(() => parseDecDegrees("north"), /non-negative numbers.*"north"/);
  assert.throws(() => parseDecDegrees("1 2 3 4"), /sexagesimal/);
});

Deno.test("coordinates may be decimal degrees or sexagesimal", () => {
  assert.equal(parseCoordinate(" 12.5 ", "ra"), 12.5);
  assert.equal(parseCoordinate("-1e-3", "dec"), -0.001);
  near(parseCoordinate("01 00 00", "ra"), 15);
  near(parseCoordinate("-01 00 00", "dec"), -1);
});

Deno.test("3HSP positions parse to the fink-science doctest position", async () => {
  const table = readCsvTable(await Deno.readTextFile(sharedData("catalogs/fink-science/3hsp.csv")));
  const ra = table.column("R.A.");
  const dec = table.column("Dec");
  assert.equal(table.numRows, 2013);
  assert.equal(ra[0], "00 01 16.37");
  assert.equal(dec[0], "+29 35 34.0");
  // fink-science matches (0.31820833, 29.59277778) to this source within 1.5″.
  near(parseRaHours(ra[0]), 0.31820833, 1e-8);
  near(parseDecDegrees(dec[0]), 29.59277778, 1e-8);
  for (let i = 0; i < table.numRows; i++) {
    const a = parseRaHours(ra[i]);
    const d = parseDecDegrees(dec[i]);
    assert.ok(a >= 0 && a < 360 && d >= -90 && d <= 90, `row ${i + 1}: ${ra[i]} ${dec[i]}`);
  }
});
