/**
 * Kinds the real alerts do not exercise (enum, fixed, multi-type unions,
 * dates, nested nullable records), encoded by avsc and read back as columns.
 * The real alerts are covered in table_builder_test.ts.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import avro from "avsc";
import { compileReader, parseSchema, Tap } from "../../../core/avro/mod.ts";
import { TableBuilder, toJson } from "../../../core/arrow/mod.ts";

const SCHEMA = {
  type: "record",
  name: "kinds",
  namespace: "test",
  fields: [
    { name: "id", type: "long" },
    { name: "band", type: { type: "enum", name: "Band", symbols: ["g", "r", "i"] } },
    { name: "hash", type: { type: "fixed", name: "Hash", size: 4 } },
    { name: "either", type: ["null", "int", "string"] },
    { name: "tags", type: { type: "map", values: "long" } },
    { name: "day", type: { type: "int", logicalType: "date" } },
    { name: "flag", type: ["boolean", "null"] },
    {
      name: "inner",
      type: ["null", {
        type: "record",
        name: "Inner",
        fields: [
          { name: "x", type: ["null", "double"] },
          { name: "ys", type: { type: "array", items: ["null", "float"] } },
          { name: "b", type: "bytes" },
        ],
      }],
    },
    { name: "nothing", type: "null" },
  ],
};

const RECORDS = [
  {
    id: -5,
    band: "r",
    hash: Buffer.from([1, 2, 3, 4]),
    either: { int: 7 },
    tags: { a: 1, b: -2 },
    day: 19000,
    flag: { boolean: true },
    inner: {
      "test.Inner": { x: { double: 1.5 }, ys: [{ float: 0.5 }, null], b: Buffer.from("hi") },
    },
    nothing: null,
  },
  {
    id: 2 ** 40,
    band: "i",
    hash: Buffer.from([9, 9, 9, 9]),
    either: { string: "text ✓" },
    tags: {},
    day: -1,
    flag: null,
    inner: null,
    nothing: null,
  },
  {
    id: 0,
    band: "g",
    hash: Buffer.from([0, 0, 0, 1]),
    either: null,
    tags: { z: 3 },
    day: 0,
    flag: { boolean: false },
    inner: { "test.Inner": { x: null, ys: [], b: Buffer.alloc(0) } },
    nothing: null,
  },
];

Deno.test("all Avro kinds land in the right Arrow columns", () => {
  const type = avro.Type.forSchema(SCHEMA as avro.Schema, { wrapUnions: true });
  const schema = parseSchema(JSON.stringify(SCHEMA));
  const builder = new TableBuilder(schema);
  const read = compileReader(schema.type);
  for (const [i, record] of RECORDS.entries()) {
    const bytes = new Uint8Array(type.toBuffer(record));
    assert.equal(builder.readRow(bytes, 0, bytes.length), bytes.length);
    builder.appendIngest({
      topic: "t",
      partition: 0,
      offset: BigInt(i),
      timestamp: 0,
      ingestTime: 0,
    });
    const decoded = read(new Tap(bytes)) as Record<string, unknown>;
    assert.equal(toJson(decoded.tags), JSON.stringify(record.tags));
  }
  const table = builder.finish();
  const types = Object.fromEntries(
    table.schema.fields.map((f) => [f.name, `${f.type}${f.nullable ? "?" : ""}`]),
  );
  assert.equal(types.id, "Int64");
  assert.equal(types.band, "Utf8");
  assert.equal(types.hash, "FixedSizeBinary[4]");
  assert.equal(types.either, "Utf8?");
  assert.equal(types.tags, "Map<{key:Utf8, value:Int64}>");
  assert.equal(types.day, "Date32<DAY>");
  assert.equal(types.flag, "Bool?");
  assert.equal(types.nothing, "Null?");
  const rows = table.toArray().map((r) => r.toJSON());
  assert.deepEqual(rows.map((r) => r.id), [-5n, 2n ** 40n, 0n]);
  assert.deepEqual(rows.map((r) => r.band), ["r", "i", "g"]);
  assert.deepEqual(rows.map((r) => [...r.hash]), [[1, 2, 3, 4], [9, 9, 9, 9], [0, 0, 0, 1]]);
  assert.deepEqual(rows.map((r) => r.either), ["7", '"text ✓"', null]);
  assert.deepEqual(rows.map((r) => ({ ...r.tags.toJSON() })), [{ a: 1n, b: -2n }, {}, { z: 3n }]);
  assert.deepEqual(rows.map((r) => r.flag), [true, null, false]);
  assert.equal(rows[1].inner, null);
  const inner = rows[0].inner.toJSON();
  assert.equal(inner.x, 1.5);
  assert.deepEqual([...inner.ys], [0.5, null]);
  assert.equal(new TextDecoder().decode(inner.b), "hi");
  assert.equal(rows[2].inner.toJSON().x, null);
  assert.equal([...rows[2].inner.toJSON().ys].length, 0);
});

Deno.test("recursive schemas are refused with a clear error", () => {
  const schema = parseSchema(JSON.stringify({
    type: "record",
    name: "Node",
    fields: [{ name: "next", type: ["null", "Node"] }],
  }));
  assert.throws(() => new TableBuilder(schema), /Recursive Avro type Node/);
});

Deno.test("a field named like an ingest column is refused", () => {
  const schema = parseSchema(JSON.stringify({
    type: "record",
    name: "clash",
    fields: [{ name: "kafka_offset", type: "long" }],
  }));
  assert.throws(() => new TableBuilder(schema), /reserved for ingest metadata/);
});
