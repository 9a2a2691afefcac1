/**
 * The distribution's message encoding, straight from Arrow columns, writes
 * exactly the bytes of the value-by-value writer over the same rows read as
 * objects, for real alerts of every survey of the shared data (ZTF of several
 * schema versions, Rubin with maps, ELAsTiCC), and avsc reads every message
 * back with the schema of its key, as fink-client does.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { encodeBatch, type RawMessage } from "../../../core/archive/encoder.ts";
import { parquetToTable } from "../../../core/archive/reader.ts";
import { encodeAlerts } from "../../../core/distribution/alert_encoder.ts";
import {
  avroName,
  type AvroNode,
  AvroWriter,
  messageRecord,
  nodeOfArrow,
} from "../../../core/distribution/avro_record.ts";
import { avroType } from "../../../simulator/alerts/avro_type.ts";
import { sharedData } from "../../shared_data.ts";

const FOLDERS = [
  "ztf/alerts/fink-broker-local-20200101",
  "ztf/alerts/ztf-avro-alert",
  "ztf/alerts/fink-alert-simulator-v3.1-20181129",
  "rubin/alerts/fink-broker-lsstcam-v9.0-20250905",
  "rubin/alerts/fink-broker-v7.4-fink-annotated",
  "rubin/alerts/elasticc",
];

const SCIENCE: AvroNode = {
  kind: "record",
  name: "classify",
  namespace: "topLevelRecord",
  fields: [
    { name: "class", source: "class", node: { kind: "string" } },
    { name: "_3hsp_sep", source: "3hsp_sep", node: { kind: "double" } },
  ],
};

function messages(folder: string): RawMessage[] {
  const names = [...Deno.readDirSync(sharedData(folder))].map((e) => e.name)
    .filter((n) => n.endsWith(".avro")).sort();
  return names.map((name, i) => ({
    topic: "t",
    partition: 0,
    offset: BigInt(i),
    timestamp: 1_700_000_000_000 + i,
    value: Deno.readFileSync(sharedData(folder, name)),
  }));
}

for (const folder of FOLDERS) {
  Deno.test(`Arrow columns encode as the value writer does: ${folder}`, async () => {
    const encoded = await encodeBatch(messages(folder));
    assert.equal(encoded.quarantined.length, 0, JSON.stringify(encoded.quarantined));
    let checked = 0;
    for (const file of encoded.files) {
      const table = await parquetToTable(file.bytes);
      const rows = Int32Array.from({ length: table.numRows }, (_, i) => i);
      const values = Array.from(
        rows,
        (i) => i % 3 === 2 ? null : { class: `c${i}`, "3hsp_sep": i / 7 },
      );
      const out = await encodeAlerts({
        parquet: file.bytes,
        rows,
        scienceFields: [{ name: "classify", source: "classify", node: SCIENCE }],
        scienceValues: values.map((v) => v === null ? null : { classify: v }),
      });
      const record = messageRecord([
        ...table.schema.fields.map((f) => ({
          name: avroName(f.name),
          source: f.name,
          node: nodeOfArrow(avroName(f.name), f.type),
        })),
        { name: "classify", source: "classify", node: SCIENCE },
      ]);
      const reader = avroType(JSON.parse(out.key));
      const writer = new AvroWriter();
      for (const i of rows) {
        const expected = writer.encode(record, { ...table.get(i)!.toJSON(), classify: values[i] });
        const got = out.data.subarray(i === 0 ? 0 : out.ends[i - 1], out.ends[i]);
        assert.deepEqual(got, expected, `row ${i} of ${folder}`);
        const decoded = reader.fromBuffer(Buffer.from(got)) as Record<string, unknown>;
        const science = values[i];
        assert.deepEqual(
          decoded.classify === null ? null : { ...(decoded.classify as object) },
          science === null ? null : { class: science.class, _3hsp_sep: science["3hsp_sep"] },
        );
        checked++;
      }
    }
    assert.ok(checked > 0);
  });
}
