import assert from "node:assert/strict";
import { createDecoder, DecodeError } from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";

const container = Deno.readFileSync(
  sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
);
const wire = Deno.readFileSync(sharedData("kafka/rubin_v9.0_fakeAlert.confluent-wire.bin"));
const v9Schema = sharedData("kafka/rubin_v9.0_fakeAlert.writer-schema.avsc");

Deno.test("createDecoder builds the decoder each mode names", () => {
  assert.equal(createDecoder({ mode: "container" }).kind, "container");
  assert.equal(
    createDecoder({ mode: "confluent", registryUrl: "http://127.0.0.1:1" }).kind,
    "confluent",
  );
  assert.equal(createDecoder({ mode: "schemaless", schemaPath: v9Schema }).kind, "schemaless");
  assert.equal(createDecoder().kind, "auto");
  assert.throws(() => createDecoder({ mode: "bogus" as "auto" }), /must be auto, container/);
  assert.throws(() => createDecoder({ mode: "confluent" }), /needs registryUrl or schemas/);
});

Deno.test("auto mode recognises containers, Confluent frames and schemaless bodies", async () => {
  const decoder = createDecoder({
    schemaPath: v9Schema,
    schemas: { "900": Deno.readTextFileSync(v9Schema) },
  });
  assert.equal((await decoder.decode(container)).schema.name, "ztf.alert");
  const framed = await decoder.decode(wire);
  const bare = await decoder.decode(wire.subarray(5));
  assert.equal(framed.schemaKey, bare.schemaKey);
  assert.equal(framed.records[0].diaSourceId, bare.records[0].diaSourceId);
});

Deno.test("auto mode without a way to read a message says what to configure", async () => {
  await assert.rejects(createDecoder().decode(wire), (e: Error) => {
    assert.ok(e instanceof DecodeError);
    assert.match(e.reason, /Cannot tell the message format.*configure/);
    return true;
  });
});
