import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { ContainerDecoder, DecodeError, decodeFramed } from "../../../core/avro/mod.ts";
import {
  type ColumnPlan,
  INGEST_COLUMNS,
  TableBuilder,
  tableLayout,
  toJson,
} from "../../../core/arrow/mod.ts";
import { sharedData } from "../../shared_data.ts";
import { alertFiles } from "../avro/expected_alerts.ts";

const decoder = new ContainerDecoder();
const meta = (offset: bigint) => ({
  topic: "ztf_public",
  partition: 7,
  offset,
  timestamp: 1_700_000_000_123,
  ingestTime: 1_700_000_100_000,
});

/** Reads every record of a container into a fresh builder. */
async function build(bytes: Uint8Array): Promise<TableBuilder> {
  const framed = await decoder.frame(bytes);
  const builder = new TableBuilder(framed.schema);
  for (const block of framed.blocks) {
    let pos = block.start;
    for (let i = 0; i < block.count; i++) {
      pos = builder.readRow(block.bytes, pos, block.end);
      builder.appendIngest(meta(BigInt(builder.rows)));
    }
    assert.equal(pos, block.end);
  }
  return builder;
}

/** Asserts an Arrow value equals the object decoder's value for the same field. */
function assertSame(value: unknown, expected: unknown, plan: ColumnPlan, path: string): void {
  if (expected === null || expected === undefined) {
    assert.equal(value, null, path);
    return;
  }
  switch (plan.kind) {
    case "struct": {
      const row = value as Record<string, unknown>;
      for (const child of plan.children) {
        assertSame(
          row[child.name],
          (expected as Record<string, unknown>)[child.name],
          child,
          `${path}.${child.name}`,
        );
      }
      return;
    }
    case "list": {
      const items = [...(value as arrow.Vector)];
      const want = expected as unknown[];
      assert.equal(items.length, want.length, `${path}.length`);
      items.forEach((item, i) => assertSame(item, want[i], plan.item!, `${path}[${i}]`));
      return;
    }
    case "map": {
      const entries = [...(value as Iterable<[string, unknown]>)];
      const want = Object.entries(expected as Record<string, unknown>);
      assert.deepEqual(entries.map(([k]) => k), want.map(([k]) => k), `${path} keys`);
      const valuePlan = plan.item!.children[1];
      entries.forEach(([k, v], i) => assertSame(v, want[i][1], valuePlan, `${path}.${k}`));
      return;
    }
    case "json":
      assert.equal(value, toJson(expected), path);
      return;
    case "f32":
    case "f64":
      assert.ok(Object.is(value, expected), `${path}: ${value} !== ${expected}`);
      return;
    case "i64":
      if (arrow.DataType.isTimestamp(plan.arrowType)) {
        const unit = plan.arrowType.unit === arrow.TimeUnit.MICROSECOND ? 1000 : 1;
        assert.ok(Math.abs((value as number) - Number(expected) / unit) < 1e-3, path);
      } else assert.equal(value, expected, path);
      return;
    default:
      assert.deepEqual(value, expected, path);
  }
}

Deno.test("Arrow columns of every shared alert equal the record decoder's values", async () => {
  for (const file of alertFiles()) {
    const bytes = Deno.readFileSync(sharedData(file));
    const { records, schema } = decodeFramed(await decoder.frame(bytes));
    const table = (await build(bytes)).finish();
    assert.equal(table.numRows, records.length, file);
    const plans = tableLayout(schema).plans;
    for (let i = 0; i < records.length; i++) {
      const row = table.get(i)!;
      for (const plan of plans) {
        assertSame(row[plan.name], records[i][plan.name], plan, `${file}#${i}.${plan.name}`);
      }
    }
  }
});

Deno.test("Avro types map to the documented Arrow types", async () => {
  const bytes = Deno.readFileSync(
    sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
  );
  const table = (await build(bytes)).finish();
  const field = (name: string) => table.schema.fields.find((f) => f.name === name)!;
  assert.equal(String(field("candid").type), "Int64");
  assert.equal(field("candid").nullable, false);
  assert.ok(arrow.DataType.isStruct(field("candidate").type));
  const candidate = field("candidate").type.children;
  const child = (name: string) => candidate.find((f: arrow.Field) => f.name === name)!;
  assert.equal(String(child("jd").type), "Float64");
  assert.equal(String(child("magpsf").type), "Float32");
  assert.equal(String(child("fid").type), "Int32");
  assert.equal(child("diffmaglim").nullable, true, '["float", "null"] is a nullable Float32');
  assert.equal(String(child("isdiffpos").type), "Utf8");
  const prv = field("prv_candidates");
  assert.ok(arrow.DataType.isList(prv.type) && prv.nullable);
  assert.equal(prv.type.children[0].name, "element");
  const cutout = field("cutoutScience").type.children;
  assert.equal(String(cutout.find((f: arrow.Field) => f.name === "stampData").type), "Binary");
  const all = await build(Deno.readFileSync(sharedData(
    "ztf/alerts/fink-broker-all-distribute-20231018/part-00000-0b960f60-420c-4175-b2cc-ff6b135bfece-c000.avro",
  )));
  const timestamp = all.finish().schema.fields.find((f) => f.name === "timestamp")!;
  assert.equal(String(timestamp.type), "Timestamp<MICROSECOND, UTC>");
});

Deno.test("every row carries the ingest metadata columns", async () => {
  const bytes = Deno.readFileSync(sharedData("ztf/alerts/fink-client/avro_multi_alerts.avro"));
  const table = (await build(bytes)).finish();
  const names = table.schema.fields.map((f) => f.name);
  assert.deepEqual(names.slice(-5), [...INGEST_COLUMNS]);
  const types = table.schema.fields.slice(-5).map((f) => String(f.type));
  assert.deepEqual(types, [
    "Utf8",
    "Int32",
    "Int64",
    "Timestamp<MILLISECOND, UTC>",
    "Timestamp<MILLISECOND, UTC>",
  ]);
  const last = table.get(10)!;
  assert.equal(last.kafka_topic, "ztf_public");
  assert.equal(last.kafka_partition, 7);
  assert.equal(last.kafka_offset, 10n);
  assert.equal(last.kafka_timestamp, 1_700_000_000_123);
  assert.equal(last.ingest_time, 1_700_000_100_000);
});

Deno.test("reset drops rows appended after a mark, and ids come out exact", async () => {
  const one = Deno.readFileSync(
    sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
  );
  const framed = await decoder.frame(one);
  const [block] = framed.blocks;
  const builder = new TableBuilder(framed.schema);
  builder.readRow(block.bytes, block.start, block.end);
  builder.appendIngest(meta(1n));
  const mark = builder.mark();
  builder.readRow(block.bytes, block.start, block.end);
  builder.appendIngest(meta(2n));
  assert.throws(
    () => builder.readRow(block.bytes, block.start, block.start + 2000),
    (e: Error) => e instanceof DecodeError && /truncated/.test(e.message),
  );
  builder.reset(mark);
  assert.equal(builder.rows, 1);
  assert.deepEqual([...builder.ids()!], [472263571115115000n]);
  const table = builder.finish();
  assert.equal(table.numRows, 1);
  const [record] = decodeFramed(framed).records as { prv_candidates: unknown[] }[];
  assert.equal(table.getChild("prv_candidates")!.get(0)!.length, record.prv_candidates.length);
  assert.equal(table.get(0)!.kafka_offset, 1n);
});
