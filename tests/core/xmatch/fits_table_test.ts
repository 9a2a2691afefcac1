import assert from "node:assert/strict";
import { readFitsTable } from "../../../core/xmatch/fits_table.ts";
import { sharedData } from "../../shared_data.ts";

const H = sharedData("catalogs/fink-science/table-4LAC-DR3-h.fits");
const L = sharedData("catalogs/fink-science/table-4LAC-DR3-l.fits");

Deno.test("4LAC-DR3 high-latitude table: 3,407 rows and the first source", async () => {
  const table = readFitsTable(await Deno.readFile(H));
  assert.equal(table.numRows, 3407);
  assert.equal(table.rowBytes, 261);
  assert.equal(table.columns.length, 41);
  const names = table.column("Source_Name") as string[];
  assert.equal(names[0], "4FGL J0001.2+4741");
  assert.equal(names[3406], "4FGL J2359.9+3145");
  const ra = table.column("RAJ2000") as Float64Array;
  const dec = table.column("DEJ2000") as Float64Array;
  assert.equal(ra[0], Math.fround(0.3126));
  assert.equal(dec[0], Math.fround(47.6859));
  assert.equal((table.column("CLASS") as string[])[0], "bcu");
  assert.equal((table.column("ASSOC1") as string[])[0], "B3 2358+474");
  assert.equal((table.column("RA_Counterpart") as Float64Array)[0], 0.3293408);
  assert.equal((table.column("DataRelease") as Float64Array)[0], 1);
  const unit = table.columns.find((c) => c.name === "RAJ2000")!.unit;
  assert.equal(unit, "deg");
});

Deno.test("4LAC-DR3 low-latitude table: 407 rows and the first source", async () => {
  const table = readFitsTable(await Deno.readFile(L));
  assert.equal(table.numRows, 407);
  assert.equal((table.column("source_name") as string[])[0], "4FGL J0012.0+7043");
  assert.equal((table.column("RAJ2000") as Float64Array)[0], Math.fround(3.0032));
  assert.equal((table.column("DEJ2000") as Float64Array)[0], Math.fround(70.7326));
  assert.equal((table.column("CLASS") as string[])[0], "bcu");
  assert.equal((table.column("ASSOC1") as string[])[0], "TXS 0008+704");
});

function card(key: string, value: string): string {
  return (key.padEnd(8) + "= " + value.padStart(20)).padEnd(80);
}

function block(cards: string[]): Uint8Array {
  const text = [...cards, "END".padEnd(80)].join("");
  const out = new Uint8Array(Math.ceil(text.length / 2880) * 2880).fill(32);
  out.set(new TextEncoder().encode(text));
  return out;
}

/** A two-row table exercising scaling, integer nulls, 64-bit ints, logicals and unsigned 16-bit ints. */
function syntheticFits(): Uint8Array {
  const primary = block([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0")]);
  const rowBytes = 8 + 4 + 8 + 8 + 1 + 2;
  const header = block([
    card("XTENSION", "'BINTABLE'"),
    card("BITPIX", "8"),
    card("NAXIS", "2"),
    card("NAXIS1", String(rowBytes)),
    card("NAXIS2", "2"),
    card("PCOUNT", "0"),
    card("GCOUNT", "1"),
    card("TFIELDS", "6"),
    card("EXTNAME", "'SOURCES '"),
    card("TTYPE1", "'NAME    '"),
    card("TFORM1", "'8A      '"),
    card("TTYPE2", "'V'"),
    card("TFORM2", "'J'"),
    card("TSCAL2", "0.5"),
    card("TZERO2", "10"),
    card("TNULL2", "-1"),
    card("TTYPE3", "'F'"),
    card("TFORM3", "'D'"),
    card("TTYPE4", "'BIG'"),
    card("TFORM4", "'K'"),
    card("TTYPE5", "'OK'"),
    card("TFORM5", "'L'"),
    card("TTYPE6", "'U'"),
    card("TFORM6", "'I'"),
    card("TZERO6", "32768"),
  ]);
  const data = new Uint8Array(2880);
  const view = new DataView(data.buffer);
  const rows: [string, number, number, bigint, string, number][] = [
    ["it's", 4, -1.25, 9007199254740993n, "T", -32768],
    ["B", -1, 1e300, -5n, "F", 32767],
  ];
  rows.forEach(([name, v, f, big, ok, u], r) => {
    const at = r * rowBytes;
    data.set(new TextEncoder().encode(name), at);
    view.setInt32(at + 8, v);
    view.setFloat64(at + 12, f);
    view.setBigInt64(at + 20, big);
    view.setUint8(at + 28, ok.charCodeAt(0));
    view.setInt16(at + 29, u);
  });
  const out = new Uint8Array(primary.length + header.length + data.length);
  out.set(primary);
  out.set(header, primary.length);
  out.set(data, primary.length + header.length);
  return out;
}

Deno.test("scaling, integer nulls, 64-bit integers and logicals are decoded", () => {
  const table = readFitsTable(syntheticFits(), { hdu: "SOURCES" });
  assert.equal(table.extname, "SOURCES");
  assert.deepEqual(table.column("NAME"), ["it's", "B"]);
  assert.deepEqual(Array.from(table.column("V") as Float64Array), [12, NaN]);
  assert.deepEqual(Array.from(table.column("F") as Float64Array), [-1.25, 1e300]);
  assert.deepEqual(Array.from(table.column("BIG") as BigInt64Array), [9007199254740993n, -5n]);
  assert.deepEqual(table.column("OK"), [true, false]);
  assert.deepEqual(Array.from(table.column("U") as Float64Array), [0, 65535]);
  assert.equal(readFitsTable(syntheticFits(), { hdu: 1 }).numRows, 2);
});

Deno.test("broken files give errors that say what is wrong", async () => {
  const bytes = await Deno.readFile(L);
  assert.throws(() => readFitsTable(new TextEncoder().encode("PAR1 not fits")), /SIMPLE/);
  assert.throws(() => readFitsTable(bytes.subarray(0, 2880 + 1000)), /END card.*truncated/);
  assert.throws(() => readFitsTable(bytes.subarray(0, bytes.length - 5000)), /truncated/);
  assert.throws(
    () => readFitsTable(bytes, { hdu: "NOPE" }),
    /BINTABLE extension matching NOPE, found HDUs 0:PRIMARY, 1:BINTABLE/,
  );
  assert.throws(() => readFitsTable(bytes, { hdu: 0 }), /HDU 0 to be a BINTABLE, found PRIMARY/);
  assert.throws(
    () => readFitsTable(bytes).column("NOPE"),
    /column named NOPE, found Source_Name, DataRelease/,
  );
});
