/**
 * The contract every decoder kind honours, run against the three of them
 * (and `auto`) with real messages.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import {
  ConfluentDecoder,
  ContainerDecoder,
  createDecoder,
  DecodeError,
  decodeFramed,
  type Decoder,
  SchemalessDecoder,
} from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";

const read = (path: string) => Deno.readFileSync(sharedData(path));
const schemas = {
  "900": Deno.readTextFileSync(sharedData("kafka/rubin_v9.0_fakeAlert.writer-schema.avsc")),
  "1100": Deno.readTextFileSync(sharedData("kafka/rubin_v11.0_fakeAlert.writer-schema.avsc")),
};
const V9_WIRE = read("kafka/rubin_v9.0_fakeAlert.confluent-wire.bin");

interface Fixture {
  name: string;
  decoder: Decoder;
  messages: Uint8Array[];
}

const fixtures: Fixture[] = [
  {
    name: "container",
    decoder: new ContainerDecoder(),
    messages: [
      read("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
      read(
        "rubin/alerts/fink-broker-lsstcam-v9.0-20250905/169298432645136561_169298432645136561.avro",
      ),
      read("ztf/alerts/fink-client/avro_multi_alerts.avro"),
    ],
  },
  {
    name: "confluent",
    decoder: new ConfluentDecoder({ schemas }),
    messages: [
      V9_WIRE,
      read("kafka/rubin_v11.0_fakeAlert.confluent-wire.bin"),
      read("kafka/rubin_v9.0_lsstcam_169298432645136561.confluent-wire.bin"),
    ],
  },
  {
    name: "schemaless",
    decoder: new SchemalessDecoder({
      schemaPath: sharedData("kafka/rubin_v9.0_fakeAlert.writer-schema.avsc"),
    }),
    messages: [
      V9_WIRE.subarray(5),
      read("kafka/rubin_v9.0_lsstcam_169298432645136561.confluent-wire.bin").subarray(5),
    ],
  },
  {
    name: "auto",
    decoder: createDecoder({ mode: "auto", schemas }),
    messages: [read("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"), V9_WIRE],
  },
];

for (const { name, decoder, messages } of fixtures) {
  Deno.test(`${name}: decode gives records, the schema and its key; frame agrees`, async () => {
    for (const message of messages) {
      const result = await decoder.decode(message);
      assert.ok(result.records.length >= 1);
      assert.equal(result.schemaKey, result.schema.key);
      const framed = await decoder.frame(message);
      assert.equal(framed.schema, result.schema, "parsed schemas are cached, not re-parsed");
      assert.ok(isDeepStrictEqual(decodeFramed(framed).records, result.records));
      for (const record of result.records) {
        const id = record.candid ?? record.diaSourceId;
        assert.equal(typeof id, "bigint", "64-bit ids are bigints");
      }
    }
  });

  Deno.test(`${name}: truncated, empty or padded messages fail with a DecodeError`, async () => {
    const message = messages[0];
    const variants = [
      message.subarray(0, Math.floor(message.length / 2)),
      message.subarray(0, message.length - 1),
      new Uint8Array(0),
      Uint8Array.from([...message, 1, 2, 3]),
    ];
    for (const [i, bad] of variants.entries()) {
      await assert.rejects(decoder.decode(bad), (error: Error) => {
        assert.ok(error instanceof DecodeError, `variant ${i}: ${error}`);
        assert.ok(error.reason.length > 10, "the reason names the problem");
        return true;
      });
    }
  });
}
