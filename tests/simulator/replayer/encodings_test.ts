/**
 * Message encodings: the Confluent frame against the published test vectors and Rubin's
 * real framed sample, and each encoder's output for real ZTF files and synthetic alerts.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { avroType, simAlertType } from "../../../simulator/alerts/mod.ts";
import { AlertGenerator } from "../../../simulator/alerts/generator.ts";
import { startRegistry } from "../../../simulator/registry/mod.ts";
import { readContainer } from "../../../simulator/replayer/container.ts";
import {
  confluentFrame,
  createEncoder,
  parseEncoding,
  readConfluentFrame,
} from "../../../simulator/replayer/encodings.ts";
import { decodeContainer } from "../../../simulator/replayer/records.ts";
import { sharedData } from "../../shared_data.ts";

const factsText = Deno.readTextFileSync(sharedData("kafka", "wire_format_facts.json"));
const facts = JSON.parse(factsText);
/** JSON.parse rounds 18-digit ids; read them from the text to compare exactly. */
const exactIds = [...factsText.matchAll(/"diaSourceId": (\d+)/g)].map((m) => BigInt(m[1]));
const LOCAL = sharedData("ztf", "alerts", "fink-broker-local-20200101");
const FILE = join(LOCAL, "1095578115815010001.avro");
const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("Confluent frames follow the published test vectors", () => {
  const vectors = facts.facts.find((f: { test_vectors?: unknown }) => f.test_vectors).test_vectors;
  for (const vector of vectors) {
    const bytes = fromHex(vector.hex);
    if (vector.error) assert.throws(() => readConfluentFrame(bytes), new RegExp(vector.error));
    else assert.equal(readConfluentFrame(bytes).schemaId, vector.schema_id);
  }
  assert.equal(hex(confluentFrame(900, new Uint8Array([7]))), "000000038407");
  assert.equal(hex(confluentFrame(1100, new Uint8Array(0))), "000000044c");
});

Deno.test("Rubin's real framed alerts split into schema id and a body decoding to the exact id", () => {
  for (const [i, sample] of facts.derived_samples.files.entries()) {
    const framed = Deno.readFileSync(sharedData(sample.file));
    const { schemaId, body } = readConfluentFrame(framed);
    assert.equal(schemaId, sample.schema_id);
    const type = avroType(Deno.readTextFileSync(sharedData(sample.schema_file)));
    const decoded = type.decode(Buffer.from(body), 0);
    assert.equal(decoded.offset, body.length);
    assert.equal(decoded.value.diaSourceId, exactIds[i]);
    assert.deepEqual(confluentFrame(schemaId, body), framed);
  }
});

Deno.test("unknown encodings are refused naming the option", () => {
  assert.equal(parseEncoding("confluent"), "confluent");
  assert.throws(() => parseEncoding("protobuf"), /Unknown encoding "protobuf" \(option encoding\)/);
});

Deno.test("container encoding passes real files through and wraps synthetic alerts", async () => {
  const encoder = createEncoder({ encoding: "container", topic: "t", key: "objectId" });
  const bytes = Deno.readFileSync(FILE);
  const [message] = await encoder.encodeFile({ name: FILE, bytes });
  assert.equal(message.value, bytes);
  assert.equal(message.key, decodeContainer(bytes, FILE).records[0].value.objectId);
  const alert = new AlertGenerator({ seed: 1 }).next(2461000.5);
  const wrapped = await encoder.encodeAlert(alert);
  assert.equal(wrapped.key, alert.objectId);
  const decoded = decodeContainer(wrapped.value, "synthetic");
  assert.equal(decoded.records.length, 1);
  assert.equal(decoded.records[0].value.candid, alert.candid);
});

Deno.test("container encoding with lateDays rebuilds the file with shifted jds", async () => {
  const encoder = createEncoder({ encoding: "container", topic: "t", key: null, lateDays: 3 });
  const bytes = Deno.readFileSync(FILE);
  const original = decodeContainer(bytes, FILE).records[0].value;
  const [message] = await encoder.encodeFile({ name: FILE, bytes });
  const shifted = decodeContainer(message.value, "late").records[0].value;
  assert.equal(shifted.candidate.jd, original.candidate.jd - 3);
  assert.equal(shifted.candid, original.candid);
  assert.equal(
    readContainer(message.value, "late").schemaText,
    readContainer(bytes, FILE).schemaText,
  );
});

Deno.test("confluent encoding registers the writer schema and frames the exact record body", async () => {
  const registry = await startRegistry({ port: 0 });
  try {
    const encoder = createEncoder({
      encoding: "confluent",
      topic: "ztf",
      key: "objectId",
      registryUrl: registry.url,
    });
    const bytes = Deno.readFileSync(FILE);
    const [message] = await encoder.encodeFile({ name: FILE, bytes });
    const { schemaId, body } = readConfluentFrame(message.value);
    assert.equal(encoder.schemaId, schemaId);
    assert.deepEqual(registry.store.subjects(), ["ztf-value"]);
    const container = readContainer(bytes, FILE);
    assert.equal(hex(body), hex(container.blocks[0].data));
    assert.deepEqual(
      JSON.parse(registry.store.schema(schemaId)!),
      JSON.parse(container.schemaText),
    );
    const synthetic = await encoder.encodeAlert(new AlertGenerator({ seed: 2 }).next(2461000.5));
    const frame = readConfluentFrame(synthetic.value);
    assert.notEqual(frame.schemaId, schemaId);
    assert.equal(simAlertType().fromBuffer(Buffer.from(frame.body)).schemavsn, "sim-1");
  } finally {
    await registry.close();
  }
});

Deno.test("schemaless encoding writes the .avsc once and refuses a second schema", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const schemaPath = join(dir, "sub", "ztf.avsc");
    const encoder = createEncoder({ encoding: "schemaless", topic: "t", key: null, schemaPath });
    const bytes = Deno.readFileSync(FILE);
    const [message] = await encoder.encodeFile({ name: FILE, bytes });
    assert.equal(encoder.schemaPath, schemaPath);
    const type = avroType(await Deno.readTextFile(schemaPath));
    assert.equal(type.fromBuffer(Buffer.from(message.value)).candid, 1095578115815010001n);
    const other = sharedData(
      "ztf",
      "alerts",
      "fink-broker-all-distribute-20231018",
      "part-00000-0b960f60-420c-4175-b2cc-ff6b135bfece-c000.avro",
    );
    await assert.rejects(
      encoder.encodeFile({ name: other, bytes: Deno.readFileSync(other) }),
      /Encoding schemaless needs one writer schema .*part-00000-0b960f60/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodings without their registry or schema path are refused", () => {
  assert.throws(
    () => createEncoder({ encoding: "confluent", topic: "t", key: null }),
    /needs option registryUrl/,
  );
  assert.throws(
    () => createEncoder({ encoding: "schemaless", topic: "t", key: null }),
    /needs option schemaPath/,
  );
});
