import assert from "node:assert/strict";
import { readCsvTable } from "../../../core/xmatch/csv_table.ts";
import { sharedData } from "../../shared_data.ts";

Deno.test("quoted cells, spaces around fields and header names are handled", () => {
  const table = readCsvTable(
    'id , Name , "R.A." \n1 , "a, b" , "00 01 16.37"\n\n2,"say ""hi""",\n',
  );
  assert.deepEqual(table.names, ["id", "Name", "R.A."]);
  assert.equal(table.numRows, 2);
  assert.deepEqual(table.column("Name"), ["a, b", 'say "hi"']);
  assert.deepEqual(table.column(" r.a. "), ["00 01 16.37", ""]);
});

Deno.test("tab-separated text and files without a header", () => {
  const table = readCsvTable("x\t 1\ny\t2 \n", { delimiter: "\t", columns: ["name", "v"] });
  assert.deepEqual(table.column("name"), ["x", "y"]);
  assert.deepEqual(table.column("v"), ["1", "2"]);
});

Deno.test("bad rows and unknown columns give clear errors", () => {
  assert.throws(() => readCsvTable('a,b\n1,"open\n'), /closing quote on line 2/);
  assert.throws(() => readCsvTable("a,b\n1,2,3\n"), /at most 2 fields on line 2, found 3/);
  assert.throws(() => readCsvTable("a,b\n1,2\n").column("c"), /column named c, found a, b/);
});

Deno.test("real catalog CSVs: 3HSP and the magnetic CV list", async () => {
  const hsp = readCsvTable(await Deno.readTextFile(sharedData("catalogs/fink-science/3hsp.csv")));
  assert.equal(hsp.names[1], "3HSP Source name");
  assert.equal(hsp.column("3HSP Source name")[0], "3HSPJ000116.4+293534");
  assert.equal(hsp.column("BZcat name")[0], "");
  const cvs = readCsvTable(
    await Deno.readTextFile(sharedData("catalogs/fink-filters/magnetic_cataclysmic_variables.csv")),
  );
  assert.equal(cvs.numRows, 245);
  assert.deepEqual(cvs.names, ["Name", "RA(J2000)", "DEC(J2000)", "Radius", "magnitude"]);
  assert.equal(cvs.column("RA(J2000)")[0], "00 18 56.9");
});
