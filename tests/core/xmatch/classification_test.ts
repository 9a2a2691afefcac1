import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm/bundler";
import {
  classify,
  rubinIsSolarSystem,
  SOLAR_SYSTEM_CANDIDATE,
  SOLAR_SYSTEM_MPC,
  solarSystemClass,
  UNKNOWN,
  type ZtfAsteroidFields,
  ztfRoidFlag,
} from "../../../core/xmatch/classification.ts";
import { sharedData } from "../../shared_data.ts";

const quiet: ZtfAsteroidFields = {
  ssdistnr: -999,
  distpsnr1: 12,
  sgscore1: 0.9,
  ndethist: 10,
  nalerthist: 10,
  lastGapDays: 1,
};

Deno.test("known asteroid within 5″ (Fink roid 3)", () => {
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 0, ndethist: 1, nalerthist: 1 }), 3);
  assert.equal(
    ztfRoidFlag({ ...quiet, ssdistnr: 4.9, distpsnr1: 5, ndethist: 5, nalerthist: 5 }),
    3,
  );
  // Too far from the asteroid, or a PS1 source closer than it, or seen too often.
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 5, ndethist: 1, nalerthist: 1 }), 1);
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 2, distpsnr1: 1.5, ndethist: 1 }), 0);
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 0, ndethist: 6, nalerthist: 1 }), 0);
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 0, ndethist: 2, nalerthist: 6 }), 0);
  // A null distance (NaN) never counts as a match.
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: NaN, ndethist: 1 }), 1);
  // Without history only ndethist is checked.
  assert.equal(ztfRoidFlag({ ...quiet, ssdistnr: 0, ndethist: 3, nalerthist: NaN }), 3);
});

Deno.test("unknown moving-object candidates (Fink roid 2) and first detections", () => {
  const fresh = { ...quiet, sgscore1: 0.1, ndethist: 1, nalerthist: 1, lastGapDays: NaN };
  assert.equal(ztfRoidFlag(fresh), 2);
  assert.equal(ztfRoidFlag({ ...fresh, sgscore1: 0.8 }), 1);
  assert.equal(ztfRoidFlag({ ...fresh, distpsnr1: 3 }), 0);
  assert.equal(ztfRoidFlag({ ...fresh, ndethist: 2, nalerthist: 2, lastGapDays: 0.01 }), 2);
  assert.equal(ztfRoidFlag({ ...fresh, ndethist: 2, nalerthist: 2, lastGapDays: 0.03 }), 0);
  assert.equal(ztfRoidFlag({ ...fresh, ndethist: 2, nalerthist: 1 }), 0);
  assert.equal(ztfRoidFlag({ ...fresh, ndethist: 2, nalerthist: NaN }), 0);
  assert.equal(ztfRoidFlag({ ...fresh, ndethist: 3 }), 0);
});

Deno.test("class: first catalog value in priority order, else solar system, else Unknown", () => {
  assert.equal(classify(["SN Ia", "RRAB"], SOLAR_SYSTEM_MPC), "SN Ia");
  assert.equal(classify([null, "", "ClassII"], null), "ClassII");
  assert.equal(classify([null, null], solarSystemClass(3)), SOLAR_SYSTEM_MPC);
  assert.equal(classify([], solarSystemClass(2)), SOLAR_SYSTEM_CANDIDATE);
  assert.equal(classify([null], solarSystemClass(1)), UNKNOWN);
  assert.equal(classify([null], solarSystemClass(0)), "Unknown");
});

Deno.test("Rubin: ssSource or a non-zero ssObjectId means a known solar-system object", () => {
  assert.equal(rubinIsSolarSystem(21164719644750924n, false), true);
  assert.equal(rubinIsSolarSystem(0n, true), true);
  assert.equal(rubinIsSolarSystem(0n, false), false);
  assert.equal(rubinIsSolarSystem(0, false), false);
  assert.equal(rubinIsSolarSystem(null, false), false);
});

Deno.test("the rule gives Fink's roid on the 124 real datatest alerts", async () => {
  const dir = sharedData("ztf/fink-annotated/fink-science-datatest-20211122");
  const counts = new Map<string, number>();
  for await (const entry of Deno.readDir(dir)) {
    const table = arrow.tableFromIPC(
      pq.readParquet(await Deno.readFile(`${dir}/${entry.name}`)).intoIPCStream(),
    );
    for (let i = 0; i < table.numRows; i++) {
      const alert = table.get(i)!.toJSON();
      const c = alert.candidate.toJSON();
      const prv = alert.prv_candidates ? [...alert.prv_candidates].map((p) => p.toJSON()) : [];
      const nalerthist = 1 + prv.filter((p) => p.magpsf !== null && !Number.isNaN(p.magpsf)).length;
      assert.equal(nalerthist, alert.nalerthist);
      const flag = ztfRoidFlag({
        ssdistnr: c.ssdistnr ?? NaN,
        distpsnr1: c.distpsnr1 ?? NaN,
        sgscore1: c.sgscore1 ?? NaN,
        ndethist: c.ndethist,
        nalerthist,
        lastGapDays: prv.length > 0 ? c.jd - prv[prv.length - 1].jd : NaN,
      });
      const key = `fink ${alert.roid} ours ${flag}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  assert.deepEqual(Object.fromEntries(counts), { "fink 0 ours 0": 123, "fink 3 ours 3": 1 });
});
