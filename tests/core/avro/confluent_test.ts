import assert from "node:assert/strict";
import { ConfluentDecoder, confluentSchemaId, DecodeError } from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";
import { assertMatchesExpected, parseExpectedJson } from "./expected_alerts.ts";

const V9_SCHEMA = Deno.readTextFileSync(
  sharedData("kafka/rubin_v9.0_fakeAlert.writer-schema.avsc"),
);
const V11_SCHEMA = Deno.readTextFileSync(
  sharedData("kafka/rubin_v11.0_fakeAlert.writer-schema.avsc"),
);
const wire = (name: string) => Deno.readFileSync(sharedData("kafka", name));
const expected = (name: string) =>
  parseExpectedJson(Deno.readTextFileSync(sharedData("expected/decoded", name))).records[0];

/** A schema registry on 127.0.0.1 that counts the requests it serves. */
function startRegistry(schemas: Record<string, string>) {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    const id = path.match(/^\/schemas\/ids\/(\d+)$/)?.[1];
    if (id && schemas[id]) return Response.json({ schema: schemas[id] });
    return Response.json({ error_code: 40403, message: "Schema not found" }, { status: 404 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, hits, server };
}

Deno.test("schema ids follow the Rubin ingester test vectors (big-endian)", () => {
  const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
  assert.equal(confluentSchemaId(hex("0000000002")), 2);
  assert.equal(confluentSchemaId(hex("0000000004d3")), 4);
  assert.throws(() => confluentSchemaId(hex("00")), /at least 5 bytes/);
  assert.throws(() => confluentSchemaId(hex("0100000002")), /magic byte 0x00, found 0x01/);
  assert.equal(confluentSchemaId(wire("rubin_v9.0_fakeAlert.confluent-wire.bin")), 900);
  assert.equal(confluentSchemaId(wire("rubin_v11.0_fakeAlert.confluent-wire.bin")), 1100);
});

Deno.test("Rubin fakeAlerts from a registry equal the golden decodes; schemas fetched once", async () => {
  const registry = startRegistry({ "900": V9_SCHEMA, "1100": V11_SCHEMA });
  try {
    const decoder = new ConfluentDecoder({ registryUrl: registry.url + "/" });
    const v9 = await decoder.decode(wire("rubin_v9.0_fakeAlert.confluent-wire.bin"));
    assertMatchesExpected(v9.records[0], expected("rubin_v9.0_fakeAlert.decoded.json"));
    const v11 = await decoder.decode(wire("rubin_v11.0_fakeAlert.confluent-wire.bin"));
    assertMatchesExpected(v11.records[0], expected("rubin_v11.0_fakeAlert.decoded.json"));
    const [a, b] = await Promise.all([
      decoder.decode(wire("rubin_v9.0_lsstcam_169298432645136561.confluent-wire.bin")),
      decoder.decode(wire("rubin_v9.0_lsstcam_169298432645136561.confluent-wire.bin")),
    ]);
    assert.equal(a.schemaKey, v9.schemaKey);
    assert.equal(b.records[0].diaSourceId, 169298432645136561n);
    assert.deepEqual(registry.hits, ["/schemas/ids/900", "/schemas/ids/1100"]);
  } finally {
    await registry.server.shutdown();
  }
});

Deno.test("the real LSSTCam alert re-framed for Kafka keeps its values", async () => {
  const decoder = new ConfluentDecoder({ schemas: { "900": V9_SCHEMA } });
  const { records: [record] } = await decoder.decode(
    wire("rubin_v9.0_lsstcam_169298432645136561.confluent-wire.bin"),
  );
  const golden = expected("rubin_v9.0_lsstcam_sso_first.decoded.json");
  for (const key of ["diaSourceId", "diaSource", "ssSource", "MPCORB", "cutoutDifference"]) {
    assertMatchesExpected(record[key], golden[key], key);
  }
});

Deno.test("an unknown schema id or a missing registry is a DecodeError with the reason", async () => {
  const registry = startRegistry({});
  const decoder = new ConfluentDecoder({ registryUrl: registry.url });
  try {
    await assert.rejects(
      decoder.decode(wire("rubin_v9.0_fakeAlert.confluent-wire.bin")),
      (e: Error) => e instanceof DecodeError && /Unknown schema id 900.*404/.test(e.message),
    );
  } finally {
    await registry.server.shutdown();
  }
  await assert.rejects(
    decoder.decode(wire("rubin_v9.0_fakeAlert.confluent-wire.bin")),
    (e: Error) => e instanceof DecodeError && /registry unreachable/.test(e.message),
  );
  const local = new ConfluentDecoder({ schemas: { "900": V9_SCHEMA } });
  await assert.rejects(
    local.decode(wire("rubin_v11.0_fakeAlert.confluent-wire.bin")),
    /Unknown schema id 1100: not among the local schemas and no registry/,
  );
});

Deno.test("a failed lookup is retried once the registry answers", async () => {
  const schemas: Record<string, string> = {};
  const registry = startRegistry(schemas);
  try {
    const decoder = new ConfluentDecoder({ registryUrl: registry.url });
    const message = wire("rubin_v9.0_fakeAlert.confluent-wire.bin");
    await assert.rejects(decoder.decode(message), DecodeError);
    schemas["900"] = V9_SCHEMA;
    const { records } = await decoder.decode(message);
    assert.equal(records.length, 1);
    assert.equal(registry.hits.length, 2);
  } finally {
    await registry.server.shutdown();
  }
});
