/**
 * The distribution's Avro encoding read back by avsc (what fink-client uses underneath
 * is fastavro; both follow the Avro spec), for the column types the archive writes.
 */
import * as arrow from "apache-arrow";
import avro from "avsc";
import { strict as assert } from "node:assert";
import {
  AvroWriter,
  messageRecord,
  nodeOfArrow,
  schemaJson,
} from "../../../core/distribution/avro_record.ts";

Deno.test("an archived Avro map (Arrow Map column) is published as an Avro map", () => {
  const entries = new arrow.Field(
    "entries",
    new arrow.Struct([
      new arrow.Field("key", new arrow.Utf8(), false),
      new arrow.Field("value", new arrow.Utf8(), true),
    ]),
    false,
  );
  const type = new arrow.Map_(entries);
  const values = [new Map([["HyperLEDA_name", "PGC 1"], ["2MASS_name", null]]), new Map()];
  const table = new arrow.Table({ mangrove: arrow.vectorFromArray(values, type) });
  const node = messageRecord([{
    name: "mangrove",
    source: "mangrove",
    node: nodeOfArrow("mangrove", type),
  }]);
  const reader = avro.Type.forSchema(schemaJson(node) as avro.Schema);
  const writer = new AvroWriter();
  const decoded = table.toArray().map((row) =>
    reader.fromBuffer(Buffer.from(writer.encode(node, row)))
  );
  assert.deepEqual(decoded.map((r) => ({ ...r.mangrove })), [
    { HyperLEDA_name: "PGC 1", "2MASS_name": null },
    {},
  ]);
});
