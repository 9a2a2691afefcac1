/**
 * Records inside real alert files: late-mode time shifts for ZTF and Rubin alerts,
 * message keys, and the error for records without an event time.
 */
import assert from "node:assert/strict";
import { decodeContainer, recordKey, shiftEventTime } from "../../../simulator/replayer/records.ts";
import { sharedData } from "../../shared_data.ts";

function firstRecord(...path: string[]) {
  const file = sharedData(...path);
  return decodeContainer(Deno.readFileSync(file), file).records[0].value;
}

function firstIn(...path: string[]) {
  const dir = sharedData(...path);
  const name =
    [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".avro")).sort()[0];
  return firstRecord(...path, name);
}

Deno.test("a ZTF record moves candidate.jd and its history back together", () => {
  const record = firstRecord(
    "ztf",
    "alerts",
    "fink-broker-local-20200101",
    "1095578116115010009.avro",
  );
  const before = structuredClone(record);
  shiftEventTime(record, 2.5, "x");
  assert.equal(record.candidate.jd, before.candidate.jd - 2.5);
  assert.equal(record.candidate.jdstarthist, before.candidate.jdstarthist - 2.5);
  assert.equal(record.candidate.jdendhist, before.candidate.jdendhist - 2.5);
  assert.ok(before.prv_candidates.length > 0);
  record.prv_candidates.forEach((entry: { jd: number }, i: number) =>
    assert.equal(entry.jd, before.prv_candidates[i].jd - 2.5)
  );
  assert.equal(record.candidate.jdstartref, before.candidate.jdstartref);
  assert.equal(record.candid, before.candid);
});

Deno.test("a Rubin record moves diaSource.midpointMjdTai and previous sources back", () => {
  const record = firstIn("rubin", "alerts", "fink-broker-lsstcam-v9.0-20250905");
  const before = structuredClone(record);
  shiftEventTime(record, 1, "x");
  assert.equal(record.diaSource.midpointMjdTai, before.diaSource.midpointMjdTai - 1);
  for (const [i, source] of (record.prvDiaSources ?? []).entries()) {
    assert.equal(source.midpointMjdTai, before.prvDiaSources[i].midpointMjdTai - 1);
  }
});

Deno.test("records without an event time cannot be made late", () => {
  assert.throws(
    () => shiftEventTime({ objectId: "x" }, 1, "odd.avro"),
    /Option lateDays needs candidate\.jd .* odd\.avro/,
  );
});

Deno.test("keys come from objectId, Rubin diaObjectId or a dotted path", () => {
  const ztf = firstRecord(
    "ztf",
    "alerts",
    "fink-broker-local-20200101",
    "1095578116115010009.avro",
  );
  assert.equal(recordKey(ztf, "objectId"), ztf.objectId);
  assert.match(recordKey(ztf, "objectId")!, /^ZTF\d{2}[a-z]{7}$/);
  assert.equal(recordKey(ztf, "candidate.candid"), "1095578116115010009");
  assert.equal(recordKey(ztf, "no.such.field"), null);
  const rubin = firstIn("rubin", "alerts", "fink-broker-lsstcam-v9.0-20250905");
  assert.match(recordKey(rubin, "objectId")!, /^\d+$/);
  assert.equal(
    recordKey(rubin, "objectId"),
    String(rubin.diaObject?.diaObjectId ?? rubin.diaSource.diaObjectId),
  );
});
