import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import plugin, { modelSpecs } from "../../plugins/anomaly.ts";
import { bandFeatures, erfc, FEATURE_NAMES } from "../../plugins/anomaly/features.ts";
import { alertCurves, type PointColumns } from "../../plugins/anomaly/light_curve.ts";
import type { PluginContext, PluginRow } from "../../core/plugins/define.ts";
import { alertTables, ANNOTATED, BETA_ZIP } from "./anomaly_alerts.ts";
import { sharedData } from "../shared_data.ts";

function context(config: Record<string, unknown>, logs: string[] = []): PluginContext {
  return {
    name: "anomaly",
    config,
    log: (message, fields) => logs.push(`${message} ${JSON.stringify(fields ?? {})}`),
  };
}

const [annotated] = await alertTables([ANNOTATED]);
await plugin.setup!(context({ model: BETA_ZIP }));
const rows = await plugin.process(annotated.table, context({})) as PluginRow[];

/** Fink's published value of a feature (NaN for NaN, null when Fink has no such band). */
function published(band: "g" | "r", row: number, feature: string): number | null {
  const struct = annotated.table.getChild(`lc_features_${band}`)!;
  if (!struct.isValid(row)) return null;
  const value = struct.getChild(feature)!.get(row);
  return value === null ? null : Number(value);
}

const close = (value: number, expected: number, relative: number) =>
  Math.abs(value - expected) <= relative * Math.abs(expected) ||
  Math.abs(value - expected) < 1e-12;

Deno.test("features equal Fink's published lc_features_g/r of 31 real alerts within 1e-6", () => {
  assert.equal(rows.length, 31);
  let compared = 0;
  const worst: Record<string, number> = {};
  for (let i = 0; i < rows.length; i++) {
    assert.equal(rows[i].id, annotated.ids[i]);
    for (const band of ["g", "r"] as const) {
      for (const feature of FEATURE_NAMES) {
        const expected = published(band, i, feature);
        const value = rows[i][`lc_features_${band}_${feature}`] as number | null;
        const where = `alert ${i} band ${band} ${feature}`;
        if (expected === null || Number.isNaN(expected)) {
          assert.equal(value, null, `${where}: Fink has no value, found ${value}`);
          continue;
        }
        assert.ok(value !== null, `${where}: expected ${expected}, found null`);
        assert.ok(close(value, expected, 1e-6), `${where}: ${value} vs Fink's ${expected}`);
        worst[feature] = Math.max(
          worst[feature] ?? 0,
          Math.abs(value - expected) / Math.abs(expected || 1),
        );
        compared++;
      }
    }
  }
  // Every feature is exercised by at least one alert with a value.
  assert.deepEqual(Object.keys(worst).sort(), [...FEATURE_NAMES].sort());
  assert.ok(compared > 600, `${compared} values compared`);
});

Deno.test("scores equal Fink's anomaly_score_beta within 1e-6: same alerts scored, same left NaN", () => {
  const beta = annotated.table.getChild("anomaly_score_beta")!;
  let scored = 0;
  for (let i = 0; i < rows.length; i++) {
    const expected = beta.get(i) as number | null;
    const value = rows[i].anomaly_score as number | null;
    if (expected === null || Number.isNaN(expected)) {
      assert.equal(value, null, `alert ${i}: Fink left it unscored, found ${value}`);
      continue;
    }
    assert.ok(value !== null, `alert ${i}: Fink scored ${expected}, found null`);
    assert.ok(Math.abs(value - expected) <= 1e-6, `alert ${i}: ${value} vs Fink's ${expected}`);
    scored++;
  }
  assert.equal(scored, 13);
});

/** `name: value` lines of an upstream .features file. */
async function featureFile(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    const match = line.match(/^(\w+): (\S+)$/);
    if (match) out.set(match[1], Number(match[2]));
  }
  return out;
}

Deno.test("the three upstream ad_features references hold within their 5 %", async () => {
  for (const id of ["536106200014286", "633202300014898", "633211400005684"]) {
    const csv = (await Deno.readTextFile(sharedData("science/ad_features", `${id}.csv`)))
      .trim().split("\n").slice(1).map((line) => line.split(",").map(Number));
    const features = bandFeatures({
      t: Float64Array.from(csv, (r) => r[0]),
      m: Float64Array.from(csv, (r) => r[1]),
      sigma: Float64Array.from(csv, (r) => r[2]),
    });
    const expected = await featureFile(sharedData("science/ad_features", `${id}.features`));
    let compared = 0;
    FEATURE_NAMES.forEach((name, k) => {
      const want = expected.get(name);
      if (want === undefined) return;
      assert.ok(close(features[k], want, 0.05), `${id} ${name}: ${features[k]} vs ${want}`);
      compared++;
    });
    assert.ok(compared >= 20, `${id}: only ${compared} features in the reference`);
  }
});

Deno.test("Rubin alerts and ZTF alerts without g or r points get nulls, not an error", async () => {
  const rubin = await alertTables([
    sharedData(
      "rubin/alerts/fink-broker-lsstcam-v9.0-20250905",
      "169298432598474793_169298432598474793.avro",
    ),
  ]);
  const out = await plugin.process(rubin[0].table, context({})) as PluginRow[];
  assert.equal(out.length, 1);
  assert.equal(out[0].id, rubin[0].ids[0]);
  assert.ok(Object.entries(out[0]).every(([k, v]) => k === "id" || v === null));

  const point = (fid: number, jd: number, magpsf: number | null) => ({
    jd,
    fid,
    magpsf,
    sigmapsf: magpsf === null ? null : 0.1,
    distnr: 5,
    magnr: 18,
    sigmagnr: 0.02,
    isdiffpos: "t",
  });
  const fields = Object.keys(point(3, 0, 0)).map((name) =>
    new arrow.Field(
      name,
      name === "fid"
        ? new arrow.Int32()
        : name === "isdiffpos"
        ? new arrow.Utf8()
        : new arrow.Float64(),
      true,
    )
  );
  const struct = new arrow.Struct(fields);
  const table = new arrow.Table({
    candid: arrow.vectorFromArray([7n], new arrow.Int64()),
    candidate: arrow.vectorFromArray([point(3, 2461000.5, 18.2)], struct),
    prv_candidates: arrow.vectorFromArray(
      [[point(3, 2461000.4, 18.1), point(3, 2461000.3, 18.3), point(1, 2461000.2, null)]],
      new arrow.List(new arrow.Field("item", struct, true)),
    ),
  });
  const [iBand] = await plugin.process(table, context({})) as PluginRow[];
  assert.equal(iBand.id, 7n);
  assert.equal(iBand.anomaly_score, null);
  assert.equal(iBand.lc_features_r_mean, null);
  // Band g appears with an upper limit only: Fink gives NaN features, we give nulls.
  assert.equal(iBand.lc_features_g_mean, null);
});

Deno.test("the light curve follows Fink: limits dropped, sorted, de-duplicated, DC when a source is behind", () => {
  /** Points as columns: [jd, fid, magpsf (null: an upper limit), distnr]. */
  const points = (rows: [number, number, number | null, number?][]): PointColumns => ({
    jd: Float64Array.from(rows, (r) => r[0]),
    fid: Float64Array.from(rows, (r) => r[1]),
    magpsf: Float64Array.from(rows, (r) => r[2] ?? NaN),
    sigmapsf: Float64Array.from(rows, (r) => r[2] === null ? NaN : 0.1),
    distnr: Float64Array.from(rows, (r) => r[3] ?? 5),
    magnr: Float64Array.from(rows, () => 17),
    sigmagnr: Float64Array.from(rows, () => 0.05),
    positive: Uint8Array.from(rows, () => 1),
  });
  // Two alerts side by side, as a batch lays them out: only the second one's rows count.
  const batch = points([[9, 1, 12], [3, 1, 19], [1, 1, 18], [2, 2, 17], [1, 1, 18.5], [
    4,
    1,
    null,
  ]]);
  const plain = alertCurves(batch, 1, 6);
  assert.deepEqual([...plain.g!.t], [1, 3]);
  assert.deepEqual([...plain.g!.m], [18, 19]);
  assert.deepEqual([...plain.r!.m], [17]);
  // One point of any band within 1.5 pixels of a reference source turns the curve into DC mags.
  const dc = alertCurves(points([[1, 1, 18], [2, 2, 17, 0.4]]), 0, 2);
  const expected = -2.5 * Math.log10(10 ** (-0.4 * 17) + 10 ** (-0.4 * 18));
  assert.ok(Math.abs(dc.g!.m[0] - expected) < 1e-12);
  assert.ok(dc.g!.m[0] < 17);
});

Deno.test("erfc matches reference values to 1e-14 relative", () => {
  // Python's math.erfc (C libm)
  const cases: [number, number][] = [
    [0.1, 0.8875370839817152],
    [0.5, 0.4795001221869535],
    [1.5, 0.033894853524689274],
    [2.5, 0.0004069520174449589],
    [-1, 1.842700792949715],
    [5, 1.5374597944280351e-12],
  ];
  for (const [x, want] of cases) {
    assert.ok(Math.abs(erfc(x) - want) <= 1e-14 * want, `erfc(${x}) = ${erfc(x)}, want ${want}`);
  }
});

Deno.test("extra models give anomaly_score_<name>; bad model settings are refused with the path", async () => {
  assert.deepEqual(
    Object.keys(plugin.outputsFor!({ models: { june: BETA_ZIP } })).filter((c) =>
      c.startsWith("anomaly_score")
    ),
    ["anomaly_score", "anomaly_score_june"],
  );
  assert.throws(
    () => modelSpecs({ models: { "Bad Name": "x.zip" } }),
    /plugins\.anomaly\.models\.Bad Name/,
  );
  assert.throws(() => modelSpecs({ models: ["x.zip"] }), /table of name = "zip path"/);

  await assert.rejects(
    async () => await plugin.setup!(context({ models: { june: "/nowhere/june.zip" } })),
    /plugins\.anomaly\.models\.june: model file \/nowhere\/june\.zip not found/,
  );
  const notZip = sharedData("science/ad_features/536106200014286.csv");
  await assert.rejects(
    async () => await plugin.setup!(context({ model: notZip })),
    (e: Error) => e.message.includes(notZip) && /not a zip archive/.test(e.message),
  );
  const dir = await Deno.makeTempDir();
  try {
    // A zip without Fink's two models: the smallest valid zip (an empty archive).
    const empty = `${dir}/empty.zip`;
    await Deno.writeFile(empty, new Uint8Array([0x50, 0x4b, 5, 6, ...new Array(18).fill(0)]));
    await assert.rejects(
      async () => await plugin.setup!(context({ model: empty })),
      (e: Error) => e.message.includes(empty) && /expected one forest_g_\*\.onnx/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  await plugin.setup!(context({ model: BETA_ZIP, models: { twin: BETA_ZIP } }));
  const twin = await plugin.process(annotated.table, context({})) as PluginRow[];
  for (const row of twin) assert.equal(row.anomaly_score_twin, row.anomaly_score);
  assert.ok(twin.some((row) => row.anomaly_score !== null));
});
