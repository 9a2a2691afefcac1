/**
 * The query API over a real archive: the 50 ZTF alerts of 2020-01-01 and 50
 * Rubin alerts (archived by the archive's own encoder, in several files),
 * plus synthetic alerts over the whole sky and clustered at the poles and
 * across RA 0/360. Answers are checked against brute force, and each output
 * format is read back by readers we did not write (DuckDB, a CSV parser).
 */
import assert from "node:assert/strict";
import { parse as parseCsv } from "csv-parse/sync";
import { QueryEngine } from "../../../core/query/engine.ts";
import { separationDeg } from "../../../core/query/cone.ts";
import { registerQueryRoutes } from "../../../core/api/query_routes.ts";
import { Hono } from "hono";
import * as arrow from "apache-arrow";
import * as pq from "parquet-wasm";
import { ApiError } from "../../../core/api/errors.ts";
import { sharedData } from "../../shared_data.ts";
import { query as duck } from "../../support/duckdb.ts";
import { WebHdfsTestServer } from "../../support/webhdfs_server.ts";
import { openStorage } from "../../../core/storage/mod.ts";
import {
  archiveAlertFolder,
  type SkyAlert,
  skyAlerts,
  writeSkyArchive,
} from "../../support/sky_archive.ts";

const ZTF_NIGHT = sharedData("ztf/alerts/fink-broker-local-20200101");
const RUBIN = sharedData("rubin/alerts/fink-broker-lsstcam-v9.0-20250905");

/** Alerts clustered within ~`spread` degrees of each center (poles, RA 0/360). */
function clusters(centers: [number, number][], perCenter: number, spread: number): SkyAlert[] {
  const out: SkyAlert[] = [];
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  centers.forEach(([ra, dec], c) => {
    for (let i = 0; i < perCenter; i++) {
      const d = Math.max(-90, Math.min(90, dec + (random() - 0.5) * 2 * spread));
      const cos = Math.max(Math.cos((d * Math.PI) / 180), 1e-3);
      const r = (((ra + ((random() - 0.5) * 2 * spread) / cos) % 360) + 360) % 360;
      out.push({
        objectId: `ZTF24clu${c}x${i.toString(36).padStart(4, "0")}`,
        candid: BigInt(5_000_000_000 + c * 100_000 + i),
        ra: r,
        dec: d,
        jd: 2460311.5 + i / 1e5,
      });
    }
  });
  return out;
}

/** Writes a plugin result file as the plugin host does: Parquet with an Int64 `id`. */
async function writeResult(path: string, columns: Record<string, arrow.Vector>): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const table = new arrow.Table(columns);
  await Deno.writeFile(
    path,
    pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"))),
  );
}

const CENTERS: [number, number][] = [[0, 90], [120, -89.99], [0.0005, 12], [359.9995, -30]];
const SKY = [...skyAlerts(20_000, { seed: 3 }), ...clusters(CENTERS, 1_500, 6)];

type Backend = "local disk" | "WebHDFS";

/**
 * Building the index over WebHDFS fetched footers and the index's columns, not the cutouts: a
 * small part of the real ZTF alerts' files.
 */
async function onlyIndexColumnsFetched(server: WebHdfsTestServer, root: string): Promise<void> {
  let stored = 0;
  for (const e of await openStorage(root).list("ztf/2020/01/01/13")) stored += e.size;
  const fetched = server.requests
    .filter((r) => r.op === "OPEN" && r.stage === "datanode" && r.path.includes("/ztf/"))
    .reduce((n, r) => n + Number(r.params.length), 0);
  assert.ok(stored > 1_000_000);
  assert.ok(fetched < stored / 4, `fetched ${fetched} of ${stored} bytes to index`);
}

/**
 * The API over an archive and science folder (`root` and `science`, local paths), read from
 * local disk or through the WebHDFS test server (which keeps its files in local folders).
 */
async function withApi(
  backend: Backend,
  fn: (
    api: (path: string, init?: RequestInit) => Promise<Response>,
    dirs: { root: string; science: string },
    engine: QueryEngine,
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "fink_query_" });
  const server = backend === "WebHDFS" ? await WebHdfsTestServer.start() : null;
  const root = server?.localPath("/fink/archive") ?? `${dir}/archive`;
  const science = server?.localPath("/fink/science") ?? `${dir}/science`;
  const engine = await QueryEngine.open({
    archiveRoot: server?.url("/fink/archive") ?? root,
    scienceRoot: server?.url("/fink/science") ?? science,
    cacheDir: `${dir}/cache`,
  });
  try {
    await archiveAlertFolder(root, "ztf", ZTF_NIGHT);
    await archiveAlertFolder(root, "rubin", RUBIN);
    await writeSkyArchive(root, SKY, { perFile: 4_000 });
    // Answers follow the archive within a refresh period: these wait for all of it.
    await engine.refresh();
    if (server !== null) await onlyIndexColumnsFetched(server, root);
    const app = new Hono();
    app.onError((err, c) =>
      err instanceof ApiError
        ? c.json({ error: err.message }, err.status)
        : c.json({ error: err.message }, 500)
    );
    registerQueryRoutes(app, () => Promise.resolve(engine));
    await fn(async (path, init) => await app.request(path, init), { root, science }, engine);
  } finally {
    await engine.close();
    await server?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

for (const backend of ["local disk", "WebHDFS"] as const) {
  Deno.test(`query API on ${backend}: cones, objects, formats, errors`, async (t) => {
    await withApi(backend, async (api, { root, science }, engine) => {
      await t.step(
        "cone results equal a brute-force haversine scan, 1″ to 5°, poles, RA 0/360",
        async () => {
          const cones: [number, number, number][] = [
            [0, 90, 3600],
            [45, 89.5, 18_000],
            [120, -89.99, 600],
            [300, -88, 18_000],
            [0.0005, 12, 1],
            [0.0005, 12, 60],
            [359.9995, -30, 3600],
            [0, -30, 18_000],
            [359.999, 12, 7200],
            [197.59, 7.35, 3600],
            [10.4, -45.2, 1800],
          ];
          // A 1″ cone around a real alert finds it.
          cones.push([SKY[0].ra, SKY[0].dec, 1], [SKY[20_000].ra, SKY[20_000].dec, 1]);
          const all = await duck(
            `select objectId, candidate.ra as ra, candidate.dec as dec, candidate.jd as jd
         from read_parquet('${root}/sky/**/*.parquet')`,
          );
          for (const [ra, dec, radius] of cones) {
            const response = await api(
              `/api/v1/conesearch?ra=${ra}&dec=${dec}&radius=${radius}&n=10000`,
            );
            assert.equal(response.status, 200, await response.clone().text());
            const rows = await response.json() as { objectId: string; separation: number }[];
            const got = new Set(
              rows.filter((r) => r.objectId.startsWith("ZTF24")).map((r) => r.objectId),
            );
            const expected = new Set<string>();
            let ambiguous = 0;
            for (const a of all) {
              const sep = separationDeg(a.ra as number, a.dec as number, ra, dec) * 3600;
              if (Math.abs(sep - radius) < 1e-6) ambiguous++;
              else if (sep < radius) expected.add(a.objectId as string);
            }
            assert.equal(ambiguous, 0);
            assert.deepEqual([...got].sort(), [...expected].sort(), `cone ${ra} ${dec} ${radius}″`);
            const seps = rows.map((r) => r.separation);
            assert.deepEqual(seps, [...seps].sort((a, b) => a - b), "nearest first");
            if (radius === 1 && ra !== 0.0005) {
              assert.ok(got.size >= 1, `1″ cone at ${ra} ${dec}: ${all.length}`);
            }
          }
        },
      );

      await t.step("the Rubin alerts are found by cone and by diaObjectId", async () => {
        const cone = await (await api("/api/v1/conesearch?ra=10.371498&dec=-45.244114&radius=5"))
          .json();
        assert.equal(cone[0].objectId, "169298432598474793");
        assert.equal(cone[0].topic, "rubin");
        const rows = await (await api("/api/v1/objects?objectId=169298432598474793")).json();
        assert.ok(rows.length >= 1);
        assert.ok(rows.every((r: { band: string }) => typeof r.band === "string"));
      });

      await t.step("objects returns every alert of the object and its upper limits", async () => {
        const expected = await duck(
          `select candid::VARCHAR as id from read_parquet('${root}/ztf/**/*.parquet')
         where objectId = 'ZTF20aabaesm' order by candidate.jd`,
        );
        const limits = await duck(
          `select distinct p.jd from (select unnest(prv_candidates) p
         from read_parquet('${root}/ztf/**/*.parquet') where objectId = 'ZTF20aabaesm')
         where p.magpsf is null`,
        );
        const response = await api("/api/v1/objects", {
          method: "POST",
          body: JSON.stringify({ objectId: "ZTF20aabaesm", withupperlim: true }),
        });
        assert.equal(response.status, 200, await response.clone().text());
        const rows = await response.json();
        const valid = rows.filter((r: { tag: string }) => r.tag === "valid");
        assert.deepEqual(
          valid.map((r: { alertId: string }) => r.alertId),
          expected.map((e) => e.id),
        );
        const upper = rows.filter((r: { tag: string }) => r.tag === "upperlim");
        assert.ok(limits.length > 0);
        assert.equal(upper.length, limits.length);
        const plain = await (await api("/api/v1/objects?objectId=ZTF20aabaesm")).json();
        assert.deepEqual(
          plain.map((r: { alertId: string }) => r.alertId),
          expected.map((e) => e.id),
          "answered from the index, the same alerts",
        );
        const jds = rows.map((r: { jd: number }) => r.jd);
        assert.deepEqual(jds, [...jds].sort((a, b) => a - b), "oldest first");
      });

      await t.step("CSV and Parquet answers open in readers we did not write", async () => {
        const json = await (await api("/api/v1/conesearch?ra=0&dec=90&radius=3600")).json();
        const csv =
          await (await api("/api/v1/conesearch?ra=0&dec=90&radius=3600&output-format=csv"))
            .text();
        const records = parseCsv(csv, { columns: true }) as Record<string, string>[];
        assert.equal(records.length, json.length);
        assert.deepEqual(
          records.map((r) => r.objectId),
          json.map((r: { objectId: string }) => r.objectId),
        );
        const parquet = await api(
          "/api/v1/conesearch?ra=0&dec=90&radius=3600&output-format=parquet",
        );
        const file = await Deno.makeTempFile({ suffix: ".parquet" });
        await Deno.writeFile(file, new Uint8Array(await parquet.arrayBuffer()));
        const read = await duck(`select objectId, separation from read_parquet('${file}')`);
        await Deno.remove(file);
        assert.deepEqual(
          read.map((r) => r.objectId),
          json.map((r: { objectId: string }) => r.objectId),
        );
      });

      await t.step("cutouts come out as PNG, FITS and array", async () => {
        const pngResponse = await api("/api/v1/cutouts?objectId=ZTF20aabaesm&kind=Science");
        assert.equal(pngResponse.status, 200, await pngResponse.clone().text());
        const png = new Uint8Array(await pngResponse.arrayBuffer());
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
        const fits = await api(
          "/api/v1/cutouts?objectId=ZTF20aabaesm&kind=Template&output-format=FITS",
        );
        assert.equal(fits.headers.get("content-type"), "application/fits");
        const array = await (await api(
          "/api/v1/cutouts?objectId=ZTF20aabaesm&kind=Difference&output-format=array",
        )).json();
        assert.equal(array.array.length, 63);
        const rubin = await api("/api/v1/cutouts?objectId=169298432598474793&kind=Science");
        assert.equal(rubin.status, 200, await rubin.clone().text());
      });

      await t.step(
        "statistics, schema, classes and anomaly answer without science results",
        async () => {
          const stats = await (await api("/api/v1/statistics?date=20200101")).json();
          assert.equal(stats.alerts, 50);
          const schema = await (await api("/api/v1/schema")).json();
          assert.equal(schema.topics.ztf.survey, "ztf");
          assert.ok(
            schema.topics.ztf.columns.some((c: { name: string }) => c.name === "healpix_nest_10"),
          );
          assert.deepEqual(await (await api("/api/v1/classes")).json(), []);
          const anomaly = await (await api("/api/v1/anomaly")).json();
          assert.deepEqual(anomaly.rows, []);
          assert.match(anomaly.note, /anomaly plugin/);
        },
      );

      await t.step(
        "with classify and anomaly results: classes, latests, anomaly, statistics",
        async () => {
          const alerts = await duck(
            `select candid::VARCHAR as id, objectId, candidate.jd as jd
         from read_parquet('${root}/ztf/**/*.parquet') order by candid`,
          );
          const ids = alerts.map((a) => BigInt(a.id as string));
          const classes = ids.map((_, i) => i < 6 ? "Star" : i < 10 ? "QSO" : null);
          await writeResult(`${science}/classify/2020/01/01/13/ztf+0+0+49.parquet`, {
            id: arrow.vectorFromArray(ids, new arrow.Int64()),
            class: arrow.vectorFromArray(classes, new arrow.Utf8()),
          });
          await writeResult(`${science}/anomaly/2020/01/01/13/ztf+0+0+49.parquet`, {
            id: arrow.vectorFromArray(ids, new arrow.Int64()),
            anomaly_score: arrow.vectorFromArray(
              ids.map((_, i) => 1 - i / 100),
              new arrow.Float64(),
            ),
          });
          // Answers follow the archive within a refresh period; this one waits for it.
          await engine.refresh();
          assert.deepEqual(await (await api("/api/v1/classes")).json(), [
            { class: "Star", alerts: 6 },
            { class: "QSO", alerts: 4 },
          ]);
          const latest = await (await api("/api/v1/latests?class=QSO&n=3")).json();
          assert.equal(latest.length, 3);
          assert.ok(latest.every((r: { class: string }) => r.class === "QSO"));
          const jds = latest.map((r: { jd: number }) => r.jd);
          assert.deepEqual(jds, [...jds].sort((a, b) => b - a), "newest first");
          const anomalous = await (await api("/api/v1/anomaly?n=5")).json();
          assert.deepEqual(
            anomalous.map((r: { alertId: string }) => r.alertId),
            alerts.slice(-5).reverse().map((a) => a.id),
            "lowest scores first",
          );
          const stats = await (await api("/api/v1/statistics?date=202001")).json();
          assert.deepEqual(stats.classes, { Star: 6, QSO: 4 });
          const object = await (await api(`/api/v1/objects?objectId=${alerts[0].objectId}`)).json();
          assert.equal(object[0].class, "Star");
          assert.equal(object[0].anomaly_score, 1);
        },
      );

      await t.step("bad parameters get a 400 naming the parameter", async () => {
        const bad: [string, string][] = [
          ["/api/v1/conesearch?ra=400&dec=0&radius=5", "ra"],
          ["/api/v1/conesearch?ra=1&dec=0&radius=20000", "radius"],
          ["/api/v1/conesearch?ra=1&dec=0", "radius"],
          ["/api/v1/conesearch?ra=1&dec=0&radius=5&n=0", "n"],
          ["/api/v1/conesearch?ra=1&dec=0&radius=5&startdate=soon", "startdate"],
          ["/api/v1/conesearch?ra=1&dec=0&radius=5&window=3", "window"],
          ["/api/v1/objects", "objectId"],
          ["/api/v1/objects?objectId=ZTF20aabaesm&columns=candidate.nope", "columns"],
          ["/api/v1/objects?objectId=ZTF20aabaesm&output-format=xls", "output-format"],
          ["/api/v1/objects?objectId=ZTF20aabaesm&withupperlim=maybe", "withupperlim"],
          ["/api/v1/latests", "class"],
          ["/api/v1/statistics?date=2020-01", "date"],
          ["/api/v1/cutouts?objectId=ZTF20aabaesm&kind=Sky", "kind"],
          ["/api/v1/cutouts?objectId=ZTF20aabaesm&stretch=cubic", "stretch"],
        ];
        for (const [path, name] of bad) {
          const response = await api(path);
          assert.equal(response.status, 400, path);
          const body = await response.json();
          assert.ok(body.error.startsWith(`Bad parameter ${name}:`), `${path}: ${body.error}`);
        }
      });

      await t.step("an objectId holding SQL is a value, not SQL", async () => {
        const rows =
          await (await api("/api/v1/objects?objectId=" + encodeURIComponent("x') or 1=1 --")))
            .json();
        assert.deepEqual(rows, []);
      });
    });
  });
}

Deno.test("the engine cannot read files outside the archive and science roots", async () => {
  const dir = await Deno.makeTempDir();
  const engine = await QueryEngine.open({ archiveRoot: `${dir}/a`, scienceRoot: `${dir}/s` });
  try {
    await assert.rejects(
      engine.query((_v, db) => db.rows("select * from read_csv('/etc/passwd')")),
      /disabled|Permission/i,
    );
    await assert.rejects(
      engine.query((_v, db) => db.run("set enable_external_access = true")),
      /lock|configuration/i,
    );
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
