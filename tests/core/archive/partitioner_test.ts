import assert from "node:assert/strict";
import {
  eventHour,
  eventValue,
  hourPath,
  resolveEventTime,
  toUnixMs,
} from "../../../core/archive/partitioner.ts";
import { ContainerDecoder, DecodeError } from "../../../core/avro/mod.ts";
import { sharedData } from "../../shared_data.ts";

const decoder = new ContainerDecoder();
const decode = (path: string) => decoder.decode(Deno.readFileSync(sharedData(path)));

Deno.test("ZTF candidate.jd gives the UTC hour of the 2020-01-01 alerts", async () => {
  const { records: [record], schema } = await decode(
    "ztf/alerts/fink-broker-local-20200101/1095578115815010001.avro",
  );
  const field = resolveEventTime(schema.type);
  assert.deepEqual(field, { path: ["candidate", "jd"], unit: "jd" });
  const jd = eventValue(record, field);
  assert.equal(jd, 2458850.0781134);
  // A JD with 7 decimals resolves to ~9 ms.
  assert.ok(Math.abs(toUnixMs(jd!, "jd") - Date.UTC(2020, 0, 1, 13, 52, 29)) < 10);
  assert.equal(hourPath(eventHour(jd, field)), "2020/01/01/13");
  assert.equal(hourPath(eventHour(jd, field), "hive"), "year=2020/month=01/day=01/hour=13");
});

Deno.test("Rubin diaSource.midpointMjdTai is TAI, 37 s ahead of UTC", async () => {
  const { records: [record], schema } = await decode(
    "rubin/alerts/fink-broker-lsstcam-v9.0-20250905/169298432645136561_169298432645136561.avro",
  );
  const field = resolveEventTime(schema.type);
  assert.deepEqual(field, { path: ["diaSource", "midpointMjdTai"], unit: "mjd_tai" });
  const mjd = eventValue(record, field)!;
  assert.equal(toUnixMs(mjd, "mjd_tai"), toUnixMs(mjd, "mjd") - 37_000);
  assert.equal(new Date(toUnixMs(60924, "mjd")).toISOString(), "2025-09-06T00:00:00.000Z");
  assert.equal(hourPath(eventHour(mjd, field)), "2025/09/06/07");
});

Deno.test("older Rubin schemas (midPointTai) and explicit fields resolve too", async () => {
  const v3 = await decode("rubin/schemas/3.0/sample_data/fakeAlert.avro");
  assert.deepEqual(resolveEventTime(v3.schema.type).path, ["diaSource", "midPointTai"]);
  const ztf = await decode("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro");
  assert.deepEqual(resolveEventTime(ztf.schema.type, { field: "candidate.jdstarthist" }), {
    path: ["candidate", "jdstarthist"],
    unit: "jd",
  });
  assert.deepEqual(
    resolveEventTime(ztf.schema.type, { field: "candidate.jd", unit: "mjd" }).unit,
    "mjd",
  );
  assert.equal(toUnixMs(1_600_000_000_000, "unix_ms"), 1_600_000_000_000);
});

Deno.test("a missing field or event time is a DecodeError, not a crash", async () => {
  const ztf = await decode("ztf/alerts/ztf-avro-alert/472263571115115000_v3.3.avro");
  assert.throws(
    () => resolveEventTime(ztf.schema.type, { field: "candidate.nope" }),
    (e: Error) => e instanceof DecodeError && /candidate.nope not found/.test(e.message),
  );
  assert.throws(
    () => resolveEventTime(ztf.schema.type, { field: "prv_candidates.jd" }),
    DecodeError,
  );
  const field = { path: ["candidate", "jd"], unit: "jd" as const };
  assert.throws(() => eventHour(null, field), /candidate.jd is missing/);
  assert.throws(() => eventHour(Number.NaN, field), /missing \(null or NaN\)/);
  assert.throws(() => eventHour(0, field), /outside 1950..2150/);
  assert.equal(eventValue({ candidate: null }, field), null);
});
