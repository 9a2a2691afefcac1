import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { deflateRawSync } from "node:zlib";
import { ContainerDecoder, DecodeError, frameContainer } from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";
import {
  alertFiles,
  alertIndex,
  assertMatchesExpected,
  assertMatchesIndex,
  parseExpectedJson,
} from "./expected_alerts.ts";

const decoder = new ContainerDecoder();
const SAMPLE = "ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro";

Deno.test("every shared alert file decodes and matches the fastavro alert index", async () => {
  const index = alertIndex();
  const files = alertFiles();
  assert.ok(files.length >= 340, `expected at least 340 alert files, found ${files.length}`);
  let checked = 0;
  for (const file of files) {
    const { records, schemaKey, schema } = await decoder.decode(
      Deno.readFileSync(sharedData(file)),
    );
    assert.ok(records.length > 0, file);
    assert.equal(schemaKey, schema.key);
    records.forEach((record, i) => {
      const row = index.get(`${file}#${i}`);
      if (row) {
        assertMatchesIndex(record, row);
        checked++;
      }
    });
  }
  assert.equal(checked, index.size, "every alert-index row was checked");
});

Deno.test("complete decodes equal the golden fastavro decodes", async () => {
  const dir = sharedData("expected/decoded");
  for (const entry of Deno.readDirSync(dir)) {
    const expected = parseExpectedJson(Deno.readTextFileSync(`${dir}/${entry.name}`));
    const { records, schema } = await decoder.decode(
      Deno.readFileSync(sharedData(expected.source_file)),
    );
    assert.equal(schema.name, expected.writer_schema_name, entry.name);
    // Some golden files hold only the first record of a container.
    const n = expected.records.length;
    assert.ok(records.length >= n, entry.name);
    assertMatchesExpected(records.slice(0, n), expected.records, entry.name);
  }
});

Deno.test("64-bit ids round-trip exactly as bigint", async () => {
  const { records } = await decoder.decode(Deno.readFileSync(sharedData(SAMPLE)));
  assert.equal(records[0].candid, 472263571115115000n);
  const candidate = records[0].candidate as Record<string, unknown>;
  assert.equal(candidate.objectidps1, 170431796402626366n);
});

Deno.test("a multi-record container yields all its records", async () => {
  const file = "ztf/alerts/fink-client/avro_multi_alerts.avro";
  const { records, schema } = await decoder.decode(Deno.readFileSync(sharedData(file)));
  assert.equal(records.length, 11);
  assert.equal(schema.name, "topLevelRecord");
  assert.equal(new Set(records.map((r) => r.candid)).size, 11);
});

Deno.test("deflate blocks decode to the same records as the null codec", async () => {
  const bytes = Deno.readFileSync(
    sharedData("ztf/alerts/fink-client/avro_multi_alerts_other.avro"),
  );
  const plain = await decoder.decode(bytes);
  const framed = frameContainer(bytes);
  const deflated = containerOf(
    framed.schema.json,
    "deflate",
    framed.blocks.map((b) => ({
      count: b.count,
      data: deflateRawSync(b.bytes.subarray(b.start, b.end)),
    })),
  );
  assert.ok(deflated.length < bytes.length, "the blocks really are compressed");
  const inflated = await decoder.decode(deflated);
  assert.equal(inflated.schemaKey, plain.schemaKey);
  assert.equal(inflated.records.length, 3);
  // isDeepStrictEqual: assert.deepEqual's diff of megabyte records takes minutes on failure.
  assert.ok(isDeepStrictEqual(inflated.records, plain.records));
});

Deno.test("several blocks in one container are all read", async () => {
  const bytes = Deno.readFileSync(sharedData(SAMPLE));
  const { schema, blocks: [block] } = frameContainer(bytes);
  const data = block.bytes.subarray(block.start, block.end);
  const twice = containerOf(schema.json, "null", [{ count: 1, data }, { count: 1, data }]);
  const { records } = await decoder.decode(twice);
  assert.equal(records.length, 2);
  assert.ok(isDeepStrictEqual(records[0], records[1]));
});

Deno.test("truncated containers fail with a DecodeError naming the problem", async () => {
  const bytes = Deno.readFileSync(sharedData(SAMPLE));
  for (const cut of [3, 10, 100, 5000, 30000, bytes.length - 20, bytes.length - 1]) {
    await assert.rejects(decoder.decode(bytes.subarray(0, cut)), (error: Error) => {
      assert.ok(error instanceof DecodeError, `cut ${cut}: ${error}`);
      assert.match(error.reason, /truncated|Expected an Avro container|unread|Corrupt/i);
      return true;
    });
  }
});

Deno.test("a wrong sync marker, codec or magic is reported", async () => {
  const bytes = Deno.readFileSync(sharedData(SAMPLE)).slice();
  const badSync = bytes.slice();
  badSync[badSync.length - 3] ^= 0xff;
  await assert.rejects(decoder.decode(badSync), /sync marker/);
  const { schema, blocks: [block] } = frameContainer(bytes);
  const snappy = containerOf(schema.json, "snappy", [
    { count: 1, data: block.bytes.subarray(block.start, block.end) },
  ]);
  await assert.rejects(decoder.decode(snappy), /Unsupported Avro container codec "snappy"/);
  await assert.rejects(decoder.decode(new TextEncoder().encode("not avro")), DecodeError);
});

Deno.test("random corruption never escapes as anything but a DecodeError", async () => {
  const bytes = Deno.readFileSync(sharedData(SAMPLE));
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let failures = 0;
  for (let i = 0; i < 300; i++) {
    const copy = bytes.slice();
    for (let j = 0; j < 4; j++) {
      copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
    }
    try {
      await decoder.decode(copy);
    } catch (error) {
      assert.ok(error instanceof DecodeError, `iteration ${i}: ${error}`);
      failures++;
    }
  }
  assert.ok(failures > 0, "some corruptions must be detected");
});

/** Builds an Avro container from a schema and raw record blocks. */
function containerOf(
  schemaJson: string,
  codec: string,
  blocks: { count: number; data: Uint8Array }[],
): Uint8Array {
  const sync = new Uint8Array(16).map((_, i) => i * 7 + 1);
  const parts: Uint8Array[] = [new Uint8Array([0x4f, 0x62, 0x6a, 0x01])];
  const text = (s: string) => new TextEncoder().encode(s);
  const schema = text(schemaJson);
  parts.push(varint(2), varint(11), text("avro.schema"), varint(schema.length), schema);
  parts.push(varint(10), text("avro.codec"), varint(codec.length), text(codec), varint(0), sync);
  for (const block of blocks) {
    parts.push(varint(block.count), varint(block.data.length), block.data, sync);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function varint(value: number): Uint8Array {
  let n = value >= 0 ? value * 2 : -value * 2 - 1;
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return new Uint8Array(out);
}
