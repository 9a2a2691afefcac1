import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import * as arrow from "apache-arrow";
import avro from "avsc";
import * as pq from "parquet-wasm/bundler";
import plugin from "../../plugins/classify.ts";
import type { PluginContext, PluginRow } from "../../core/plugins/define.ts";
import { readCsvTable } from "../../core/xmatch/csv_table.ts";
import { sharedData } from "../shared_data.ts";

const catalogs = (file: string) => sharedData("catalogs/fink-science", file);

/** The default catalogs, pointed at the shared data folder wherever it is. */
const CONFIG = {
  catalogs: {
    tns: { path: catalogs("tns_raw.parquet") },
    gcvs: { path: catalogs("gcvs.parquet") },
    spicy: { path: catalogs("spicy.parquet") },
    "3hsp": { path: catalogs("3hsp.csv") },
    "4lac": { path: [catalogs("table-4LAC-DR3-h.fits"), catalogs("table-4LAC-DR3-l.fits")] },
  },
};

function context(config: Record<string, unknown>, logs: string[] = []): PluginContext {
  return {
    name: "classify",
    config,
    log: (message, fields) => logs.push(`${message} ${JSON.stringify(fields ?? {})}`),
  };
}

// ZTF and Rubin ids are 64-bit: decode Avro longs as bigint.
const longType = (avro.types.LongType as any).__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    return b;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === "bigint",
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** Decodes an Avro container with its embedded writer schema (Spark's topLevelRecord included). */
function decodeAvro(path: string): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const records: any[] = [];
    const decoder = new avro.streams.BlockDecoder({
      parseHook: (schema: any) =>
        avro.Type.forSchema(schema, { registry: { long: longType } } as any),
    });
    decoder.on("data", (r: any) => records.push(r));
    decoder.on("end", () => resolve(records));
    decoder.on("error", reject);
    decoder.end(Buffer.from(Deno.readFileSync(path)));
  });
}

async function decodeFolder(folder: string): Promise<any[]> {
  const names = [...Deno.readDirSync(sharedData(folder))].map((e) => e.name).sort();
  const records: any[] = [];
  for (const name of names) records.push(...await decodeAvro(sharedData(folder, name)));
  return records;
}

const f64 = (name: string, nullable = false) =>
  new arrow.Field(name, new arrow.Float64(), nullable);
const f32 = (name: string) => new arrow.Field(name, new arrow.Float32(), true);

function ztfTable(alerts: any[]): arrow.Table {
  const candidate = new arrow.Struct([
    new arrow.Field("candid", new arrow.Int64()),
    f64("jd"),
    f64("ra"),
    f64("dec"),
    f32("ssdistnr"),
    f32("ssmagnr"),
    new arrow.Field("ssnamenr", new arrow.Utf8(), true),
    f32("distpsnr1"),
    f32("sgscore1"),
    new arrow.Field("ndethist", new arrow.Int32()),
  ]);
  const prv = new arrow.List(
    new arrow.Field("element", new arrow.Struct([f64("jd"), f32("magpsf")]), true),
  );
  return new arrow.Table({
    candid: arrow.vectorFromArray(alerts.map((a) => a.candid), new arrow.Int64()),
    objectId: arrow.vectorFromArray(alerts.map((a) => a.objectId), new arrow.Utf8()),
    candidate: arrow.vectorFromArray(alerts.map((a) => a.candidate), candidate),
    prv_candidates: arrow.vectorFromArray(alerts.map((a) => a.prv_candidates), prv),
  });
}

function rubinTable(alerts: any[]): arrow.Table {
  const diaSource = new arrow.Struct([
    new arrow.Field("diaSourceId", new arrow.Int64()),
    f64("ra"),
    f64("dec"),
    new arrow.Field("ssObjectId", new arrow.Int64(), true),
  ]);
  const ssSource = new arrow.Struct([new arrow.Field("ssObjectId", new arrow.Int64(), true)]);
  return new arrow.Table({
    diaSourceId: arrow.vectorFromArray(alerts.map((a) => a.diaSourceId), new arrow.Int64()),
    diaSource: arrow.vectorFromArray(alerts.map((a) => a.diaSource), diaSource),
    ssSource: arrow.vectorFromArray(alerts.map((a) => a.ssSource), ssSource),
  });
}

async function expectedMatches(): Promise<
  Map<string, { catalog: string; value: string; sep: number }[]>
> {
  const t = readCsvTable(
    await Deno.readTextFile(sharedData("expected/derived_catalog_matches.csv")),
  );
  const byCandid = new Map<string, { catalog: string; value: string; sep: number }[]>();
  for (let i = 0; i < t.numRows; i++) {
    const candid = t.column("candid")[i];
    const list = byCandid.get(candid) ?? [];
    list.push({
      catalog: t.column("catalog")[i].startsWith("tns") ? "tns" : t.column("catalog")[i],
      value: t.column("catalog_type_or_name")[i],
      sep: Number(t.column("separation_arcsec")[i]),
    });
    byCandid.set(candid, list);
  }
  return byCandid;
}

function assertMatchesListed(
  rows: PluginRow[],
  expected: Map<string, { catalog: string; value: string; sep: number }[]>,
) {
  let checked = 0;
  for (const row of rows) {
    for (const m of expected.get(String(row.id)) ?? []) {
      // 4LAC and 3HSP are listed by source name; GCVS, SPICY and TNS by type.
      const column = m.catalog === "4lac" || m.catalog === "3hsp" ? `${m.catalog}_name` : m.catalog;
      if (m.catalog === "spicy" && m.sep >= 1.2) continue;
      assert.equal(row[column], m.value, `${m.catalog} ${row.id}`);
      const sep = row[`${m.catalog}_sep_arcsec`] as number;
      assert.ok(Math.abs(sep - m.sep) <= 0.01, `${m.catalog} ${row.id}: ${sep} vs ${m.sep}`);
      checked++;
    }
  }
  return checked;
}

const PRIORITY = ["tns", "gcvs", "spicy", "3hsp", "4lac"];

function assertClassRule(row: PluginRow) {
  const first = PRIORITY.map((c) => row[c]).find((v) => v !== null && v !== "");
  const sso = row.roid === 3
    ? "Solar System MPC"
    : row.roid === 2
    ? "Solar System candidate"
    : "Unknown";
  assert.equal(row.class, first ?? sso, `class of ${row.id}`);
}

Deno.test("manifest: a stream plugin reading only the catalog folder, one output per catalog", () => {
  assert.equal(plugin.name, "classify");
  assert.equal(plugin.kind, "stream");
  assert.ok(plugin.columns!.includes("candidate") && plugin.columns!.includes("diaSource"));
  assert.deepEqual(plugin.permissions, {
    read: [fileURLToPath(new URL("../../plugins/data/catalogs", import.meta.url))],
  });
  assert.equal(plugin.outputs.class, "string");
  assert.equal(plugin.outputs.roid, "int32");
  for (const c of PRIORITY) {
    assert.equal(plugin.outputs[c], "string");
    assert.equal(plugin.outputs[`${c}_name`], "string");
    assert.equal(plugin.outputs[`${c}_sep_arcsec`], "float64");
  }
});

Deno.test("139 real ZTF alerts (Avro → Arrow): catalog classes, asteroids, Unknown", async () => {
  const logs: string[] = [];
  const ctx = context(CONFIG, logs);
  await plugin.setup!(ctx);
  assert.equal(logs.length, 5);
  assert.match(logs.find((l) => l.includes('"gcvs"'))!, /"sources":59099/);
  const alerts = await decodeFolder("ztf/alerts/fink-broker-all-distribute-20231018");
  assert.equal(alerts.length, 139);
  // Two record batches, so every column has two chunks.
  const table = ztfTable(alerts.slice(0, 70)).concat(ztfTable(alerts.slice(70)));
  const rows = await plugin.process(table, ctx);
  assert.equal(rows.length, 139);
  assert.deepEqual(rows.map((r) => r.id), alerts.map((a) => a.candid));
  const keys = ["id", ...Object.keys(plugin.outputs)].sort();
  for (const row of rows) {
    assert.deepEqual(Object.keys(row).sort(), keys);
    assertClassRule(row);
    assert.ok(!String(row.class).startsWith("Fail"));
  }
  const expected = await expectedMatches();
  assert.equal(assertMatchesListed(rows, expected), 5 + 2 + 3 + 4);
  const byCandid = new Map(rows.map((r) => [String(r.id), r]));
  assert.equal(byCandid.get("2481345490015015002")!.class, "XM");
  assert.equal(byCandid.get("2481136641915015047")!.class, "FS");
  const blazar = byCandid.get("2481355110115015013")!;
  assert.equal(blazar["3hsp"], "Blazar");
  assert.equal(blazar.class, "Blazar");
  // ZTF writes the text "null" when no known solar-system object is near.
  const asteroids = alerts.filter((a) =>
    a.candidate.ssnamenr !== null && a.candidate.ssnamenr !== "null"
  );
  assert.equal(asteroids.length, 10);
  for (const a of asteroids) {
    const row = byCandid.get(String(a.candid))!;
    assert.equal(row.roid, 3, `roid of ${a.objectId}`);
    assert.equal(row.class, "Solar System MPC", `class of ${a.objectId}`);
  }
  const classes = new Set(rows.map((r) => r.class));
  assert.ok(classes.has("Unknown"));
  assert.equal(rows.filter((r) => r.roid === 3).length, 10);
});

Deno.test("Fink's own datatest Parquet (host-shaped table with prv_candidates): TNS, GCVS, roid", async () => {
  const ctx = context(CONFIG);
  await plugin.setup!(ctx);
  const dir = sharedData("ztf/fink-annotated/fink-science-datatest-20211122");
  const rows: PluginRow[] = [];
  const fink = new Map<string, number>();
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const table = arrow.tableFromIPC(
      pq.readParquet(await Deno.readFile(`${dir}/${entry.name}`)).intoIPCStream(),
    );
    const candid = table.getChild("candid")!;
    const roid = table.getChild("roid")!;
    for (let i = 0; i < table.numRows; i++) fink.set(String(candid.get(i)), roid.get(i));
    const batch = await plugin.process(table, ctx);
    // The host sends only the declared columns; the answer must not change.
    assert.deepEqual(await plugin.process(table.select(plugin.columns!), ctx), batch);
    // A sliced table (non-zero offsets in every column) gives the same rows.
    assert.deepEqual(await plugin.process(table.slice(5, 40), ctx), batch.slice(5, 40));
    rows.push(...batch);
  }
  assert.equal(rows.length, 124);
  for (const row of rows) {
    assertClassRule(row);
    assert.equal(row.roid, fink.get(String(row.id)), `roid of ${row.id}`);
  }
  assert.equal(assertMatchesListed(rows, await expectedMatches()), 17 + 2 + 1 + 2 + 1);
  const sn = rows.find((r) => r.tns !== null)!;
  assert.deepEqual([String(sn.id), sn.tns, sn.tns_name, sn.class], [
    "1786226723415015003",
    "SN Ia",
    "SN 2018lzf",
    "SN Ia",
  ]);
  assert.equal(rows.filter((r) => r.tns !== null).length, 1);
});

Deno.test("50 real Rubin LSSTCam alerts: the 4 with ssSource are Solar System MPC", async () => {
  const ctx = context(CONFIG);
  await plugin.setup!(ctx);
  const alerts = await decodeFolder("rubin/alerts/fink-broker-lsstcam-v9.0-20250905");
  const index = readCsvTable(
    await Deno.readTextFile(
      sharedData("expected/alert-index/rubin_fink-broker-lsstcam-v9.0-20250905.csv"),
    ),
  );
  const withSsSource = new Set(
    index.column("diaSourceId").filter((_, i) => index.column("has_ssSource")[i] === "True"),
  );
  assert.equal(withSsSource.size, 4);
  const rows = await plugin.process(rubinTable(alerts), ctx);
  assert.equal(rows.length, 50);
  for (const row of rows) {
    assertClassRule(row);
    const sso = withSsSource.has(String(row.id));
    assert.equal(row.class === "Solar System MPC", sso, `class of ${row.id}: ${row.class}`);
  }
});

Deno.test("a missing catalog file names the file and the config key", async () => {
  const missing = sharedData("catalogs/fink-science/no-such-gcvs.parquet");
  await assert.rejects(
    Promise.resolve(
      plugin.setup!(context({ catalogs: { ...CONFIG.catalogs, gcvs: { path: missing } } })),
    ),
    (e: Error) =>
      e.message.includes(`Catalog "gcvs" file ${missing} does not exist`) &&
      e.message.includes("set plugins.classify.catalogs.gcvs.path"),
  );
});

Deno.test("bad config is refused with the key at fault", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { catalogs: { vsx: {} } },
      /plugins.classify.catalogs.vsx is not a catalog this plugin outputs/,
    ],
    [{ catalogs: [] }, /plugins.classify.catalogs to be a table/],
    [{ ...CONFIG, priority: ["gcvs", "gcvs"] }, /plugins.classify.priority to list distinct names/],
    [{ catalogs: { gcvs: { radiusArcsec: 0 } } }, /plugins.classify.catalogs.gcvs.radiusArcsec/],
    [{ catalogs: { gcvs: { enabled: "no" } } }, /plugins.classify.catalogs.gcvs.enabled/],
  ];
  for (const [config, message] of cases) {
    await assert.rejects(Promise.resolve(plugin.setup!(context(config))), message);
  }
});

Deno.test("disabled catalogs report null, priority reorders the class, bad positions are Unknown", async () => {
  const off = { enabled: false };
  const ctx = context({
    priority: ["spicy", "gcvs"],
    catalogs: {
      ...CONFIG.catalogs,
      tns: off,
      "3hsp": off,
      "4lac": off,
      gcvs: { ...CONFIG.catalogs.gcvs, label: "Variable" },
    },
  });
  await plugin.setup!(ctx);
  const table = new arrow.Table({
    candid: arrow.vectorFromArray([1n, 2n, 3n, 4n], new arrow.Int64()),
    candidate: arrow.vectorFromArray(
      [
        { ra: 308.4595093, dec: 41.3982821 },
        { ra: 96.317593, dec: 73.5775199 },
        { ra: NaN, dec: 0 },
        { ra: 10, dec: 123 },
      ],
      new arrow.Struct([f64("ra"), f64("dec")]),
    ),
  });
  const rows = await plugin.process(table, ctx);
  assert.deepEqual(rows.map((r) => r.class), ["ClassII", "Variable", "Unknown", "Unknown"]);
  assert.equal(rows[1].gcvs, "Variable");
  for (const row of rows) {
    for (const c of ["tns", "3hsp", "4lac"]) {
      assert.equal(row[c], null);
      assert.equal(row[`${c}_sep_arcsec`], null);
    }
  }
  assert.equal(rows[2].gcvs_sep_arcsec, null);
});

Deno.test("a ZTF batch without positions gets null results; an empty one gives no rows", async () => {
  const logs: string[] = [];
  const ctx = context(CONFIG, logs);
  const noDec = new arrow.Table({
    candid: arrow.vectorFromArray([1n], new arrow.Int64()),
    candidate: arrow.vectorFromArray([{ ra: 1 }], new arrow.Struct([f64("ra")])),
  });
  assert.deepEqual((await plugin.process(noDec, ctx)).map((r) => [r.id, r.class]), [[1n, null]]);
  assert.ok(logs.some((l) => l.includes('"reason":"no candidate.ra/dec column"')), logs.join());
  assert.deepEqual(
    await plugin.process(new arrow.Table({ x: arrow.vectorFromArray([]) }), ctx),
    [],
  );
});

/** Every Rubin-like alert file in the shared data: sample alerts of each schema, ELAsTiCC, Fink's. */
function rubinFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".avro")) found.push(path);
    }
  };
  walk(sharedData("rubin"));
  return found.sort();
}

/** A host-shaped table of the diaSource fields the alerts' own schema has, named as it names them. */
function diaSourceTable(alerts: any[]): arrow.Table {
  const names = Object.keys(alerts[0].diaSource);
  const fields: arrow.Field[] = [new arrow.Field("diaSourceId", new arrow.Int64())];
  for (const name of ["ra", "dec", "decl"]) if (names.includes(name)) fields.push(f64(name, true));
  if (names.includes("ssObjectId")) {
    fields.push(new arrow.Field("ssObjectId", new arrow.Int64(), true));
  }
  // The archive's row id: the top-level diaSourceId, or alertId (ELAsTiCC).
  const id = ["diaSourceId", "alertId"].find((name) => name in alerts[0]);
  return new arrow.Table({
    ...(id === undefined
      ? {}
      : { [id]: arrow.vectorFromArray(alerts.map((a) => a[id]), new arrow.Int64()) }),
    diaSource: arrow.vectorFromArray(alerts.map((a) => a.diaSource), new arrow.Struct(fields)),
  });
}

function archiveId(alert: any): bigint {
  return alert.diaSourceId ?? alert.alertId ?? alert.diaSource.diaSourceId;
}

Deno.test("every Rubin alert in the shared data is classified, ELAsTiCC's decl included", async () => {
  const ctx = context(CONFIG);
  await plugin.setup!(ctx);
  const files = rubinFiles();
  assert.ok(files.length >= 80, `found ${files.length} Rubin alert files`);
  let decl = 0;
  for (const file of files) {
    const alerts = await decodeAvro(file);
    if ("decl" in alerts[0].diaSource) decl++;
    const rows = await plugin.process(diaSourceTable(alerts), ctx);
    assert.deepEqual(
      rows.map((r) => [r.id, typeof r.class]),
      alerts.map((a) => [archiveId(a), "string"]),
      file,
    );
  }
  assert.ok(decl >= 2, `ELAsTiCC and the early schemas name it decl; found ${decl} such files`);
});

Deno.test("a batch of an unknown layout gets null results and a counted reason, not an error", async () => {
  const logs: string[] = [];
  const ctx = context(CONFIG, logs);
  await plugin.setup!(ctx);
  const ids = arrow.vectorFromArray([1n, 2n, null], new arrow.Int64());
  const rows = await plugin.process(new arrow.Table({ candid: ids }), ctx);
  assert.deepEqual(rows.map((r) => [r.id, r.class, r.gcvs, r.roid]), [
    [1n, null, null, null],
    [2n, null, null, null],
  ]);
  assert.ok(
    logs.some((l) => l.includes("alerts left unclassified") && l.includes('"count":2')),
    logs.join("\n"),
  );
  const noIds = new arrow.Table({ x: arrow.vectorFromArray([1, 2], new arrow.Float64()) });
  assert.deepEqual(await plugin.process(noIds, ctx), []);
});
