/**
 * The real alert files and their golden values (read by fastavro) from the
 * shared data, and the comparisons the decoder tests share.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join, relative } from "node:path";
import { SHARED_DATA, sharedData } from "../../shared_data.ts";

/** Every Avro alert file the decoders must read (paths relative to the shared data). */
export function alertFiles(): string[] {
  const out: string[] = [];
  for (const dir of ["ztf/alerts", "ztf/fink-annotated", "rubin/alerts", "rubin/fink-annotated"]) {
    walk(sharedData(dir), out);
  }
  for (const version of Deno.readDirSync(sharedData("rubin/schemas"))) {
    const fake = sharedData("rubin/schemas", version.name, "sample_data/fakeAlert.avro");
    try {
      Deno.statSync(fake);
      out.push(fake);
    } catch {
      // Not every entry is a version folder (latest.txt).
    }
  }
  return out.map((p) => relative(SHARED_DATA, p)).sort();
}

function walk(dir: string, out: string[]): void {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) walk(path, out);
    else if (entry.name.endsWith(".avro")) out.push(path);
  }
}

/** One row of an `expected/alert-index/*.csv` file. */
export type IndexRow = Record<string, string>;

/** All alert-index rows, keyed by `file#record_index`. */
export function alertIndex(): Map<string, IndexRow> {
  const out = new Map<string, IndexRow>();
  const dir = sharedData("expected/alert-index");
  for (const entry of Deno.readDirSync(dir)) {
    const [header, ...lines] = Deno.readTextFileSync(join(dir, entry.name)).trim().split(/\r?\n/);
    const names = header.split(",");
    for (const line of lines) {
      const cells = line.split(",");
      const row = Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ""]));
      out.set(`${row.file}#${row.record_index}`, row);
    }
  }
  return out;
}

/** Parses expected JSON keeping integers exact (as bigint) via the source text. */
export function parseExpectedJson(text: string): any {
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    if (typeof value === "number" && context?.source && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  });
}

/**
 * Asserts a decoded value equals an expected one from `expected/decoded`:
 * bytes as {length, sha256}, NaN as "NaN", timestamps as ISO strings, float32
 * widened to double.
 */
export function assertMatchesExpected(actual: unknown, expected: unknown, path = "$"): void {
  if (expected === null) {
    assert.equal(actual, null, path);
  } else if (typeof expected === "bigint") {
    if (typeof actual === "bigint") assert.equal(actual, expected, path);
    else assert.equal(BigInt(actual as number), expected, path);
  } else if (typeof expected === "number") {
    assert.ok(typeof actual === "number", `${path}: expected a number, found ${typeof actual}`);
    assert.ok(
      actual === expected || Math.fround(actual) === Math.fround(expected),
      `${path}: expected ${expected}, found ${actual}`,
    );
  } else if (typeof expected === "string") {
    if (expected === "NaN" && typeof actual === "number") assert.ok(Number.isNaN(actual), path);
    else if (/^-?Infinity$/.test(expected) && typeof actual === "number") {
      assert.equal(actual, Number(expected), path);
    } else if (typeof actual === "bigint") {
      // timestamp-micros rendered as ISO-8601 by the golden decoder.
      const micros = BigInt(Date.parse(expected)) * 1000n +
        BigInt(expected.match(/\.\d{3}(\d{3})/)?.[1] ?? 0);
      assert.equal(actual, micros, path);
    } else assert.equal(actual, expected, path);
  } else if (typeof expected === "boolean") {
    assert.equal(actual, expected, path);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    assert.equal(actual.length, expected.length, `${path}.length`);
    expected.forEach((e, i) => assertMatchesExpected(actual[i], e, `${path}[${i}]`));
  } else {
    const exp = expected as Record<string, unknown>;
    if (actual instanceof Uint8Array) {
      assert.equal(BigInt(actual.length), exp.length, `${path}.length`);
      assert.equal(createHash("sha256").update(actual).digest("hex"), exp.sha256, `${path}.sha256`);
      return;
    }
    assert.ok(actual !== null && typeof actual === "object", `${path}: expected an object`);
    const act = actual as Record<string, unknown>;
    assert.deepEqual(Object.keys(act).sort(), Object.keys(exp).sort(), `${path} keys`);
    for (const key of Object.keys(exp)) assertMatchesExpected(act[key], exp[key], `${path}.${key}`);
  }
}

const ZTF_CANDIDATE_FIELDS = [
  "jd",
  "fid",
  "ra",
  "dec",
  "magpsf",
  "sigmapsf",
  "isdiffpos",
  "rb",
  "drb",
  "ssnamenr",
  "ssdistnr",
  "sgscore1",
  "distpsnr1",
  "ndethist",
  "jdstarthist",
  "programid",
];

const RUBIN_SOURCE_FIELDS = [
  "diaSourceId",
  "diaObjectId",
  "ssObjectId",
  "midpointMjdTai",
  "ra",
  "dec",
  "band",
  "psfFlux",
  "psfFluxErr",
  "snr",
  "visit",
  "detector",
];

/** Asserts a decoded record carries the golden values of its alert-index row. */
export function assertMatchesIndex(record: Record<string, any>, row: IndexRow): void {
  const where = `${row.file}#${row.record_index}`;
  if ("objectId" in row) {
    assertCell(record.schemavsn, row.schemavsn, `${where} schemavsn`);
    assertCell(record.objectId, row.objectId, `${where} objectId`);
    assertCell(record.candid, row.candid, `${where} candid`);
    for (const f of ZTF_CANDIDATE_FIELDS) assertCell(record.candidate[f], row[f], `${where} ${f}`);
    assertCell(record.prv_candidates?.length, row.n_prv_candidates, `${where} n_prv`);
    assertCell(record.fp_hists?.length, row.n_fp_hists, `${where} n_fp_hists`);
  } else {
    for (const f of RUBIN_SOURCE_FIELDS) assertCell(record.diaSource[f], row[f], `${where} ${f}`);
    assertCell(record.prvDiaSources?.length ?? 0, row.n_prvDiaSources || "0", `${where} n_prv`);
    assertCell(Boolean(record.diaObject), row.has_diaObject, `${where} has_diaObject`);
  }
  for (const cutout of ["cutoutScience", "cutoutTemplate", "cutoutDifference"]) {
    const value = record[cutout];
    const length = value instanceof Uint8Array ? value.length : value?.stampData?.length;
    assertCell(length, row[`${cutout}_bytes`], `${where} ${cutout}`);
  }
}

function assertCell(actual: unknown, cell: string, where: string): void {
  if (cell === "") {
    assert.ok(
      actual === null || actual === undefined,
      `${where}: expected no value, found ${actual}`,
    );
  } else if (typeof actual === "bigint") {
    assert.equal(actual, BigInt(cell), where);
  } else if (typeof actual === "number") {
    assert.ok(actual === Number(cell), `${where}: expected ${cell}, found ${actual}`);
  } else if (typeof actual === "boolean") {
    assert.equal(actual, cell === "True", where);
  } else {
    assert.equal(actual, cell, where);
  }
}
