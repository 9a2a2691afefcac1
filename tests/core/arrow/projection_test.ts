import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { logicalPath, pathTree, projectTable } from "../../../core/arrow/projection.ts";
import { alertTables, ANNOTATED } from "../../plugins/anomaly_alerts.ts";

const [{ table }] = await alertTables([ANNOTATED]);

Deno.test("a projected table keeps only the paths asked for, values and nulls unchanged", () => {
  const projected = projectTable(table, [
    "candid",
    "candidate.jd",
    "candidate.magpsf",
    "prv_candidates.magpsf",
    "prv_candidates.jd",
    "no_such_column",
    "candidate.no_such_field",
  ]);
  assert.deepEqual(
    projected.schema.fields.map((f) => f.toString()),
    [
      "candid: Int64",
      "candidate: Struct<{jd:Float64, magpsf:Float32}>",
      "prv_candidates: List<Struct<{jd:Float64, magpsf:Float32}>>",
    ],
  );
  assert.equal(projected.numRows, table.numRows);
  const full = { candidate: table.getChild("candidate")!, prv: table.getChild("prv_candidates")! };
  const cut = {
    candidate: projected.getChild("candidate")!,
    prv: projected.getChild("prv_candidates")!,
  };
  let points = 0;
  let nulls = 0;
  for (let i = 0; i < table.numRows; i++) {
    assert.equal(cut.candidate.get(i)!.jd, full.candidate.get(i)!.jd);
    const history = full.prv.get(i);
    assert.equal(cut.prv.isValid(i), full.prv.isValid(i));
    if (history === null) continue;
    const kept = cut.prv.get(i)!;
    assert.equal(kept.length, history.length);
    for (let k = 0; k < history.length; k++) {
      assert.equal(kept.get(k)!.magpsf, history.get(k)!.magpsf);
      if (history.get(k)!.magpsf === null) nulls++;
      points++;
    }
  }
  assert.ok(points > 100 && nulls > 0, `${points} history points, ${nulls} upper limits`);
  // It crosses the Arrow IPC format as it is.
  const back = arrow.tableFromIPC(arrow.tableToIPC(projected, "stream"));
  assert.equal(back.getChild("prv_candidates")!.get(3)!.get(0)!.jd, cut.prv.get(3)!.get(0)!.jd);
});

Deno.test("slices of a table project like the table", () => {
  const slice = table.slice(5, 12);
  const projected = projectTable(slice, ["candidate.jd", "prv_candidates.jd"]);
  assert.equal(projected.numRows, 7);
  for (let i = 0; i < 7; i++) {
    assert.equal(
      projected.getChild("candidate")!.get(i)!.jd,
      slice.getChild("candidate")!.get(i)!.jd,
    );
    assert.equal(
      projected.getChild("prv_candidates")!.get(i)?.length,
      slice.getChild("prv_candidates")!.get(i)?.length,
    );
  }
});

Deno.test("a whole column asked for wins over paths inside it", () => {
  assert.deepEqual(pathTree(["candidate.jd", "candidate", "candidate.fid"]).get("candidate"), true);
  const projected = projectTable(table, ["candidate.jd", "candidate"]);
  assert.equal(projected.getChild("candidate")!.type, table.getChild("candidate")!.type);
});

Deno.test("Parquet leaf paths read back as column paths, through lists and maps", () => {
  const schema = new arrow.Schema([
    new arrow.Field("candid", new arrow.Int64()),
    new arrow.Field(
      "prv",
      new arrow.List(
        new arrow.Field("element", new arrow.Struct([new arrow.Field("jd", new arrow.Float64())])),
      ),
    ),
    new arrow.Field(
      "tags",
      new arrow.Map_<arrow.Utf8, arrow.Utf8>(
        new arrow.Field(
          "entries",
          new arrow.Struct<{ key: arrow.Utf8; value: arrow.Utf8 }>([
            new arrow.Field("key", new arrow.Utf8(), false),
            new arrow.Field("value", new arrow.Utf8()),
          ]),
        ),
      ),
    ),
  ]);
  assert.equal(logicalPath(schema, ["candid"]), "candid");
  assert.equal(logicalPath(schema, ["prv", "list", "element", "jd"]), "prv.jd");
  assert.equal(logicalPath(schema, ["tags", "key_value", "value"]), "tags.value");
  assert.equal(logicalPath(schema, ["nothing"]), null);
});
