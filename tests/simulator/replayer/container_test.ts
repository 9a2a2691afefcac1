/**
 * Avro container files: real ZTF, Spark-written multi-block and Rubin files parse into
 * the right number of records, and rewriting a file's records behind the same schema and
 * sync marker reproduces its schema, sync marker and data block byte for byte.
 */
import assert from "node:assert/strict";
import { ContainerWriter, readContainer } from "../../../simulator/replayer/container.ts";
import { decodeContainer } from "../../../simulator/replayer/records.ts";
import { sharedData } from "../../shared_data.ts";

const LOCAL = sharedData("ztf", "alerts", "fink-broker-local-20200101");

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("every real local ZTF file rewrites to the same schema, sync and data block", () => {
  for (const entry of Deno.readDirSync(LOCAL)) {
    const bytes = Deno.readFileSync(`${LOCAL}/${entry.name}`);
    const container = readContainer(bytes, entry.name);
    assert.equal(container.codec, "null");
    assert.equal(container.blocks.length, 1);
    const decoded = decodeContainer(bytes, entry.name);
    assert.equal(decoded.records.length, 1);
    const rewritten = new ContainerWriter(container.schemaText, { sync: container.sync })
      .encode(decoded.records.map((record) => record.body));
    const again = readContainer(rewritten, "rewritten");
    assert.equal(again.schemaText, container.schemaText);
    assert.equal(hex(again.sync), hex(container.sync));
    assert.equal(hex(again.blocks[0].data), hex(container.blocks[0].data));
    const tail = container.blocks[0].data.length + 16;
    assert.equal(hex(rewritten.subarray(-tail)), hex(bytes.subarray(-tail)));
    assert.equal(`${decoded.records[0].value.candid}.avro`, entry.name);
  }
});

Deno.test("multi-record and multi-block containers yield every record", () => {
  const multi = sharedData("ztf", "alerts", "fink-client", "avro_multi_alerts.avro");
  const decoded = decodeContainer(Deno.readFileSync(multi), multi);
  assert.equal(decoded.records.length, 11);
  assert.equal(new Set(decoded.records.map((r) => r.value.candid)).size, 11);
  const rubin = sharedData(
    "rubin",
    "fink-annotated",
    "fink-client-lsst-v10.0-20260306",
  );
  const file = [...Deno.readDirSync(rubin)].find((e) => e.name.endsWith(".avro"))!;
  const records = decodeContainer(Deno.readFileSync(`${rubin}/${file.name}`), file.name).records;
  assert.equal(records.length, 7);
});

Deno.test("deflate containers round-trip", () => {
  const file = `${LOCAL}/1095578115815010001.avro`;
  const original = decodeContainer(Deno.readFileSync(file), file);
  const bodies = original.records.map((record) => record.body);
  const deflated = new ContainerWriter(original.schemaText, { codec: "deflate" }).encode(bodies);
  const again = decodeContainer(deflated, "deflated");
  assert.equal(readContainer(deflated, "deflated").codec, "deflate");
  assert.deepEqual(again.records.map((r) => hex(r.body)), bodies.map(hex));
});

Deno.test("broken containers fail with a message naming the file", () => {
  const file = `${LOCAL}/1095578115815010001.avro`;
  const bytes = Deno.readFileSync(file);
  assert.throws(
    () => readContainer(new TextEncoder().encode("hello"), "x.avro"),
    /x\.avro is not a valid Avro container file/,
  );
  assert.throws(
    () => readContainer(bytes.subarray(0, bytes.length - 100), "cut.avro"),
    /cut\.avro .*runs past the end/,
  );
  const badSync = bytes.slice();
  badSync[badSync.length - 1] ^= 0xff;
  assert.throws(() => readContainer(badSync, "sync.avro"), /without the sync marker/);
});
