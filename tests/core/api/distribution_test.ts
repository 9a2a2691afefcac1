/**
 * `POST /api/filters` needs the token and checks the filter against the
 * archive's columns before keeping it: refused with the reason (400), or
 * listed by `GET /api/filters` with its topic; the Prometheus lines name it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { loadConfig } from "../../../core/config/mod.ts";
import { requireToken } from "../../../core/api/auth.ts";
import {
  distributionPrometheus,
  registerDistributionRoutes,
} from "../../../core/api/distribution.ts";
import { createDistributionService } from "../../../core/distribution/service.ts";
import { archiveFixture } from "../distribution/archive_fixture.ts";

Deno.test("POST /api/filters: token required, bad definitions refused with the reason, good ones listed", async () => {
  const fixture = await archiveFixture();
  const state = await Deno.makeTempDir();
  try {
    const config = await loadConfig({
      file: null,
      env: {},
      sets: [
        `archive.root=${join(fixture, "archive")}`,
        `science.root=${join(fixture, "science")}`,
        `process.state_dir=${state}`,
      ],
    });
    const distribution = createDistributionService(config);
    const app = new Hono();
    app.onError((err, c) => c.json({ error: err.message }, (err as any).status ?? 500));
    registerDistributionRoutes(app, distribution, requireToken("tok"));
    const post = (body: unknown, token?: string) =>
      app.request("/api/filters", {
        method: "POST",
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: JSON.stringify(body),
      });

    assert.equal((await post({ name: "bright", where: "candidate.magpsf < 16" })).status, 401);
    const unknown = await post({ name: "typo", where: "candidate.magpfs < 16" }, "tok");
    assert.equal(unknown.status, 400);
    assert.match((await unknown.json()).error, /^Filter typo is refused: .*magpfs/);
    const number = await post({ name: "number", where: "candidate.magpsf + 1" }, "tok");
    assert.match((await number.json()).error, /Filter number is refused: .*expected BOOLEAN/);

    const ok = await post(
      { name: "rrab", where: "classify.class = 'RRAB' AND candidate.magpsf < 17" },
      "tok",
    );
    assert.equal(ok.status, 200, await ok.clone().text());
    const listed = (await (await app.request("/api/filters")).json()).filters;
    const rrab = listed.find((f: { name: string }) => f.name === "rrab");
    assert.equal(rrab.topic, "fink_rrab_ztf");
    assert.ok(!listed.some((f: { name: string }) => f.name === "typo"));
    assert.match(
      distributionPrometheus(distribution.figures(), 0),
      /fink_filter_alerts_published_total\{filter="rrab",topic="fink_rrab_ztf"\} 0/,
    );
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
