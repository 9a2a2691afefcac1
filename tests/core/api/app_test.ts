import assert from "node:assert/strict";
import { join } from "node:path";
import { createArchiveIndexer } from "../../../core/api/archive_index.ts";
import { openStorage } from "../../../core/storage/mod.ts";
import { hourOf, realAlerts, startTestApi, type TestApi } from "./fleet.ts";

async function getJson(api: TestApi, path: string, init?: RequestInit) {
  const res = await fetch(api.url + path, init);
  const type = res.headers.get("content-type") ?? "";
  const body = await res.json();
  assert.match(type, /^application\/json/, `${path} answers JSON`);
  return { status: res.status, body };
}

function post(api: TestApi, path: string, token?: string) {
  const headers: Record<string, string> = token === undefined
    ? {}
    : { authorization: `Bearer ${token}` };
  return getJson(api, path, { method: "POST", headers });
}

Deno.test("status assembles the archive's and plugins' figures and hides secrets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink-api-conf-" });
  const configFile = join(dir, "fink.toml");
  await Deno.writeTextFile(
    configFile,
    `[ui]\ntoken = "s3cret-token"\n[decode]\nregistry = "http://user:hunter2@127.0.0.1:8081"\n` +
      `[plugins.classify]\napi_key = "k-123"\npriority = ["tns", "gcvs"]\n`,
  );
  const api = await startTestApi({ dir, configFile, token: "s3cret-token" });
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    const t0 = Date.now();
    api.recorder.sample(t0);
    api.archive.feed(50);
    api.archive.receive(6);
    api.recorder.sample(t0 + 2000);
    const res = await fetch(`${api.url}/api/status`);
    const text = await res.text();
    assert.equal(res.status, 200);
    for (const secret of ["s3cret-token", "hunter2", "k-123"]) {
      assert.ok(!text.includes(secret), secret);
    }
    const doc = JSON.parse(text);
    const stats = api.archive.stats;
    assert.equal(doc.process.pid, Deno.pid);
    assert.equal(typeof doc.process.version, "string");
    assert.ok(doc.process.uptimeSeconds >= 0);
    assert.deepEqual(doc.totals, {
      received: 56,
      decoded: 49,
      archived: 49,
      quarantined: 1,
      inFlight: 6,
      buffered: 6,
      files: stats.filesWritten,
      bytes: stats.bytesWritten,
    });
    assert.equal(doc.totals.received, stats.total("received"));
    assert.equal(doc.totals.archived, stats.total("archived"));
    assert.equal(doc.totals.quarantined, stats.total("quarantined"));
    assert.equal(
      doc.totals.received,
      doc.totals.archived + doc.totals.quarantined + doc.totals.inFlight,
    );
    assert.deepEqual(
      doc.lag.partitions.map((p: { partition: number; lag: number }) => [p.partition, p.lag]),
      [...stats.partitions.values()].map((p) => [p.partition, p.lag]),
    );
    assert.equal(doc.lag.total, 6, "received but not yet committed");
    assert.deepEqual(doc.lastCommit, stats.lastCommit);
    assert.equal(doc.storage.location, "/tmp/test-archive");
    assert.equal(doc.storage.bytesWritten, stats.bytesWritten);
    // The recorder's rates over its samples: in and out from the same two samples.
    assert.deepEqual(doc.rates, api.recorder.currentRates());
    assert.deepEqual(
      [doc.rates.inPerSecond, doc.rates.outPerSecond, doc.rates.windowSeconds],
      [28, 25, 2],
    );
    assert.deepEqual(
      doc.services.map((s: { name: string; state: string }) => [s.name, s.state]),
      [["simulator", "stopped"], ["archive", "running"], ["classify", "running"]],
    );
    assert.equal(doc.plugins.length, 1);
    assert.equal(doc.plugins[0].name, "classify");
    assert.equal(doc.plugins[0].batches, 1);
    assert.equal(doc.plugins[0].rows, 49);
    assert.deepEqual(doc.plugins[0].permissions, { read: ["../shared/data/catalogs"] });
    assert.ok(
      doc.errors.some((e: { service: string; message: string }) =>
        e.service === "archive" && /not an Avro container/.test(e.message)
      ),
    );
    assert.equal(doc.config.keys["ui.token"].value, "(set)");
    assert.equal(doc.config.keys["ui.token"].source, "file");
    assert.equal(doc.config.keys["decode.registry"].value, "http://user:(set)@127.0.0.1:8081");
    assert.equal(doc.config.plugins.classify.api_key, "(set)");
    assert.deepEqual(doc.config.plugins.classify.priority, ["tns", "gcvs"]);
    const recent = doc.services[2].details.summary.recent;
    assert.equal(typeof recent[0].id, "string", "bigint ids are sent as strings");
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("services are listed to anyone and controlled only with the bearer token", async () => {
  const api = await startTestApi();
  try {
    await api.manager.start("archive");
    const list = await getJson(api, "/api/services");
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.services.map((s: { name: string }) => s.name), [
      "simulator",
      "archive",
      "classify",
    ]);

    const missing = await post(api, "/api/services/archive/stop");
    assert.equal(missing.status, 401);
    assert.match(missing.body.error, /Missing bearer token/);
    const wrong = await post(api, "/api/services/archive/stop", "not-the-token");
    assert.equal(wrong.status, 401);
    assert.match(wrong.body.error, /Wrong bearer token/);
    assert.equal(api.manager.status("archive").state, "running");

    const stopped = await post(api, "/api/services/archive/stop", api.token);
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.state, "stopped");
    assert.equal(api.manager.status("archive").state, "stopped");
    const started = await post(api, "/api/services/classify/start", api.token);
    assert.equal(started.body.state, "running");
    assert.equal(api.manager.status("classify").state, "running");

    const unknown = await post(api, "/api/services/nope/start", api.token);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error, /Unknown service "nope"/);
    assert.deepEqual(unknown.body.services, ["simulator", "archive", "classify"]);
    const badAction = await post(api, "/api/services/archive/restart", api.token);
    assert.equal(badAction.status, 404);

    const refused = await post(api, "/api/shutdown");
    assert.equal(refused.status, 401);
    assert.equal(api.shutdowns, 0);
    const shutdown = await post(api, "/api/shutdown", api.token);
    assert.deepEqual(shutdown.body, { stopping: true });
    await new Promise((r) => queueMicrotask(() => r(null)));
    assert.equal(api.shutdowns, 1);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("a service that fails to start answers a JSON 500 naming it", async () => {
  const api = await startTestApi();
  try {
    api.manager.register({
      name: "broken",
      kind: "plugin",
      description: "fails",
      start: () => Promise.reject(new Error("catalog file missing")),
      stop: () => Promise.resolve(),
    });
    const res = await post(api, "/api/services/broken/start", api.token);
    assert.equal(res.status, 500);
    assert.equal(res.body.error, "Service broken failed to start: catalog file missing");
    const status = await getJson(api, "/api/status");
    assert.ok(status.body.errors.some((e: { service: string }) => e.service === "broken"));
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("unknown paths and methods answer a JSON 404", async () => {
  const api = await startTestApi();
  try {
    for (
      const [method, path] of [
        ["GET", "/api/nope"],
        ["POST", "/api/status"],
        ["GET", "/api/services/archive/start"],
        ["GET", "/nope.html"],
        ["GET", "/%2e%2e/deno.json"],
        ["GET", "/..%2f..%2fdeno.json"],
        ["GET", "/%E0%A4%A.html"],
        ["GET", "/index.html%00.js"],
        ["GET", "/js/%00.js"],
      ]
    ) {
      const res = await getJson(api, path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(typeof res.body.error, "string");
      assert.ok(!res.body.error.includes(Deno.cwd()), `${path}: no absolute path in the answer`);
    }
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("archive shows the hours written and lists the storage", async () => {
  const root = await Deno.makeTempDir({ prefix: "fink-api-archive-" });
  const storage = openStorage(root);
  const alerts = await realAlerts();
  const hour = hourOf(alerts[0].jd);
  await storage.writeFile(`ztf-sim/${hour}/ztf-sim+0+0+9.parquet`, new Uint8Array(300));
  await storage.writeFile(`ztf-sim/${hour}/ztf-sim+1+0+9.parquet`, new Uint8Array(200));
  await storage.writeFile(`ztf-sim/${hour}/ztf-sim+1+0+9.parquet.tmp`, new Uint8Array(50));
  await storage.writeFile(`_quarantine/ztf-sim/ztf-sim+0+31.avro`, new Uint8Array(70));
  await storage.writeFile(`_wal/ztf-sim+0/1.json`, new Uint8Array(10));
  const api = await startTestApi({ archiveIndex: createArchiveIndexer(storage) });
  try {
    await api.manager.start("archive");
    api.archive.feed(124);
    const { status, body } = await getJson(api, "/api/archive");
    assert.equal(status, 200);
    assert.equal(body.totals.received, 124);
    const hours = [...api.archive.stats.hours.values()];
    assert.equal(body.hours.length, hours.length);
    assert.equal(
      body.hours.reduce((n: number, h: { alerts: number }) => n + h.alerts, 0),
      api.archive.stats.total("archived"),
    );
    assert.deepEqual(body.partitions.map((p: { partition: number }) => p.partition), [0, 1]);
    assert.equal(body.indexError, null);
    assert.deepEqual(body.index.hours, [{ topic: "ztf-sim", hour, files: 2, bytes: 500 }]);
    assert.deepEqual(body.index.quarantine, { files: 1, bytes: 70 });
    assert.deepEqual(body.index.used, { files: 5, bytes: 630 });

    const status2 = await getJson(api, "/api/status");
    assert.equal(status2.body.storage.used.bytes, 630);

    const skipped = await getJson(api, "/api/archive?listing=false");
    assert.equal(skipped.body.index, null);
    const bad = await getJson(api, "/api/archive?listing=maybe");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'Bad parameter listing: expected true or false, found "maybe"');
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("archive says so when the process cannot list the storage", async () => {
  const api = await startTestApi();
  try {
    const { status, body } = await getJson(api, "/api/archive");
    assert.equal(status, 200);
    assert.equal(body.index, null);
    assert.match(body.indexError, /cannot list the archive storage/);
    assert.deepEqual(body.hours, []);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("classification counts Fink's classes per minute and shows the recent alerts", async () => {
  const api = await startTestApi();
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    const alerts = await realAlerts();
    const now = Date.now();
    api.recorder.sample(now - 1000);
    api.archive.feed(alerts.length);
    api.recorder.sample(now);
    api.archive.feed(10);
    api.recorder.sample(now + 1);

    const { status, body } = await getJson(
      api,
      `/api/classification?from=${now - 3_600_000}&to=${now + 60_000}`,
    );
    assert.equal(status, 200);
    const expected: Record<string, number> = {};
    for (const a of [...alerts, ...alerts.slice(0, 10)]) {
      if (a.cls !== "Inexistent") expected[a.cls] = (expected[a.cls] ?? 0) + 1;
    }
    assert.deepEqual(body.totals, expected);
    assert.deepEqual(body.current, expected);
    assert.equal(body.plugin.name, "classify");
    assert.equal(body.plugin.state, "running");
    assert.equal(body.column, "class");
    assert.equal(body.step, 60);
    assert.deepEqual(new Set(body.classes), new Set(Object.keys(expected)));
    for (let i = 1; i < body.classes.length; i++) {
      assert.ok(
        expected[body.classes[i - 1]] >= expected[body.classes[i]],
        "most frequent classes first",
      );
    }
    const summed: Record<string, number> = {};
    for (const p of body.points) {
      for (const [c, n] of Object.entries(p.counts as Record<string, number>)) {
        summed[c] = (summed[c] ?? 0) + n;
      }
    }
    assert.deepEqual(summed, expected);
    assert.equal(body.recent.length, 20);
    assert.equal(body.recent[0].id, alerts[9].candid.toString(), "newest first, ids as strings");
    assert.equal(body.recent[0].class, alerts[9].cls);
    assert.equal(body.recent[0].objectId, alerts[9].objectId, "named by object, alert id beside");
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("classification without a classifier plugin is empty, not an error", async () => {
  const api = await startTestApi();
  try {
    await api.manager.unregister("classify");
    const { status, body } = await getJson(api, "/api/classification");
    assert.equal(status, 200);
    assert.equal(body.plugin, null);
    assert.deepEqual(body.points, []);
    assert.deepEqual(body.recent, []);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("the dashboard pages and chart.js are served from the project", async () => {
  const api = await startTestApi();
  try {
    for (
      const page of [
        "/",
        "/index.html",
        "/live.html",
        "/classification.html",
        "/services.html",
        "/archive.html",
      ]
    ) {
      const res = await fetch(api.url + page);
      assert.equal(res.status, 200, page);
      assert.match(res.headers.get("content-type")!, /^text\/html/);
      const html = await res.text();
      assert.match(html, /<script type="module" src="\/js\//, page);
      assert.ok(
        !/https?:\/\/(?!127\.0\.0\.1)/.test(html.replace(/xmlns="[^"]*"/g, "")),
        `${page} loads nothing remote`,
      );
    }
    const chart = await fetch(`${api.url}/vendor/chart.umd.js`);
    assert.equal(chart.status, 200);
    assert.match(chart.headers.get("content-type")!, /javascript/);
    assert.match(await chart.text(), /Chart\.js v4\./);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});
