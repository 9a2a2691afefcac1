import assert from "node:assert/strict";
import avro from "avsc";
import {
  DecodeError,
  frameContainer,
  parseSchema,
  parseSchemaFiles,
} from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";

const ZTF_33 = ["cutout", "candidate", "prv_candidate", "alert"].map((n) =>
  sharedData("ztf/schemas/3.3", `${n}.avsc`)
);

Deno.test("invalid union defaults of the real ZTF 3.3 schema are dropped, valid ones kept", () => {
  const raw = JSON.parse(Deno.readTextFileSync(ZTF_33[1]));
  const diffmaglim = raw.fields.find((f: { name: string }) => f.name === "diffmaglim");
  assert.deepEqual([diffmaglim.type, diffmaglim.default], [["float", "null"], null]);
  const parsed = parseSchema(Deno.readTextFileSync(ZTF_33[1]));
  const repaired = JSON.parse(parsed.json);
  const field = (name: string) => repaired.fields.find((f: { name: string }) => f.name === name);
  assert.equal("default" in field("diffmaglim"), false);
  assert.equal(field("diffmaglim").doc, diffmaglim.doc, "docs are kept");
  assert.throws(() => avro.Type.forSchema(raw), /invalid/i, "strict avsc rejects the original");
  assert.ok(avro.Type.forSchema(repaired), "and accepts the repaired schema");
});

Deno.test("a schema embedded in a real container is repaired the same way", () => {
  const bytes = Deno.readFileSync(
    sharedData("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro"),
  );
  const { schema } = frameContainer(bytes);
  assert.equal(schema.name, "ztf.alert");
  assert.ok(avro.Type.forSchema(JSON.parse(schema.json)));
});

Deno.test("named types resolve across several .avsc files (ZTF and Rubin)", () => {
  const ztf = parseSchemaFiles(ZTF_33);
  assert.equal(ztf.name, "ztf.alert");
  assert.ok(ztf.type.type === "record");
  const candidate = ztf.type.fields.find((f) => f.name === "candidate")!.type;
  assert.equal(candidate.type === "record" && candidate.name, "ztf.alert.candidate");
  const rubin = parseSchemaFiles(
    ["diaSource", "diaForcedSource", "diaObject", "ssSource", "MPCORB", "alert"].map((n) =>
      sharedData("rubin/schemas/9.0", `lsst.v9_0.${n}.avsc`)
    ),
  );
  assert.equal(rubin.name, "lsst.v9_0.alert");
  assert.ok(avro.Type.forSchema(JSON.parse(rubin.json)), "the assembled JSON stands alone");
});

Deno.test("the schema key depends on the canonical form, not on formatting or docs", () => {
  const a = parseSchema('{"type":"record","name":"r","fields":[{"name":"x","type":"long"}]}');
  const b = parseSchema(
    '{ "type": "record", "name": "r", "doc": "d",\n "fields": [{"name": "x", "type": "long"}] }',
  );
  const c = parseSchema('{"type":"record","name":"r","fields":[{"name":"x","type":"int"}]}');
  assert.equal(a.key, b.key);
  assert.notEqual(a.key, c.key);
  assert.match(a.key, /^[0-9a-f]{16}$/);
  assert.equal(
    parseSchema('{"type":"record","name":"r","fields":[{"name":"x","type":"long"}]}'),
    a,
  );
});

Deno.test("bad schemas fail with a DecodeError naming the problem", () => {
  assert.throws(
    () => parseSchema("{"),
    (e: Error) => e instanceof DecodeError && /JSON/.test(e.message),
  );
  assert.throws(
    () => parseSchema('{"type":"record","name":"r","fields":[{"name":"x","type":"nowhere.T"}]}'),
    /unknown type "nowhere.T"/,
  );
  assert.throws(() => parseSchema('{"type":"record","fields":[]}'), /must have a "name"/);
  assert.throws(() => parseSchemaFiles(["/nonexistent/x.avsc"]), /Cannot read schema file/);
});
