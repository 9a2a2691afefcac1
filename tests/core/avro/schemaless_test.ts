import assert from "node:assert/strict";
import { DecodeError, frameContainer, SchemalessDecoder } from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";
import { assertMatchesExpected, parseExpectedJson } from "./expected_alerts.ts";

const expected = (name: string) =>
  parseExpectedJson(Deno.readTextFileSync(sharedData("expected/decoded", name))).records[0];

Deno.test("a Rubin body decodes with the official multi-file v9.0 schema", async () => {
  const decoder = new SchemalessDecoder({
    schemaPath: ["diaSource", "diaForcedSource", "diaObject", "ssSource", "MPCORB", "alert"].map(
      (n) => sharedData("rubin/schemas/9.0", `lsst.v9_0.${n}.avsc`),
    ),
  });
  const body = Deno.readFileSync(sharedData("kafka/rubin_v9.0_fakeAlert.confluent-wire.bin"))
    .subarray(5);
  const { records, schema } = await decoder.decode(body);
  assert.equal(schema.name, "lsst.v9_0.alert");
  assertMatchesExpected(records[0], expected("rubin_v9.0_fakeAlert.decoded.json"));
});

Deno.test("a ZTF record body decodes with the official 3.3 schema files", async () => {
  const container = Deno.readFileSync(
    sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
  );
  const { blocks: [block] } = frameContainer(container);
  const decoder = new SchemalessDecoder({
    schemaPath: ["cutout", "candidate", "prv_candidate", "alert"].map((n) =>
      sharedData("ztf/schemas/3.3", `${n}.avsc`)
    ),
  });
  const { records } = await decoder.decode(block.bytes.subarray(block.start, block.end));
  assertMatchesExpected(records[0], expected("ztf_472263571115115000_v3.3.decoded.json"));
});

Deno.test("data that does not fit the schema is a DecodeError", async () => {
  const decoder = new SchemalessDecoder({
    schemaPath: sharedData("kafka/rubin_v11.0_fakeAlert.writer-schema.avsc"),
  });
  const v9body = Deno.readFileSync(sharedData("kafka/rubin_v9.0_fakeAlert.confluent-wire.bin"))
    .subarray(5);
  await assert.rejects(decoder.decode(v9body), DecodeError);
  assert.throws(() => new SchemalessDecoder({}), /needs schemaPath or schema/);
});
