/**
 * `streams.html` in headless Chromium over a real distribution: the real
 * `distribute` service publishes the archived real alerts to the embedded
 * broker, and the page lists each filter with its topic and figures and the
 * last alerts published to it, without console errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { startBroker } from "../../simulator/broker/mod.ts";
import { loadConfig } from "../../core/config/mod.ts";
import { requireToken } from "../../core/api/auth.ts";
import { registerDistributionRoutes } from "../../core/api/distribution.ts";
import { registerWebRoutes } from "../../core/api/web.ts";
import { createDistributionService } from "../../core/distribution/service.ts";
import { archiveFixture } from "../core/distribution/archive_fixture.ts";
import { launch, watchErrors } from "../support/chromium.ts";
import { waitFor } from "../support/wait.ts";

Deno.test("streams.html shows each filter's topic, figures and last alerts", async () => {
  const fixture = await archiveFixture();
  const state = await Deno.makeTempDir();
  const broker = await startBroker({ port: 0, dataDir: null });
  const file = join(state, "fink.toml");
  await Deno.writeTextFile(
    file,
    `[distribution.filters.bright]\nwhere = "candidate.magpsf < 16"\n`,
  );
  const config = await loadConfig({
    file,
    env: {},
    sets: [
      `archive.root=${join(fixture, "archive")}`,
      `science.root=${join(fixture, "science")}`,
      `process.state_dir=${state}`,
      `distribution.brokers=${broker.address}`,
      "distribution.poll_ms=100",
    ],
  });
  const distribution = createDistributionService(config);
  const app = new Hono();
  registerDistributionRoutes(app, distribution, requireToken("tok"));
  registerWebRoutes(app);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const browser = await launch();
  try {
    await distribution.start();
    await waitFor(
      "every archived alert distributed",
      // "in" counts alerts once evaluated; the lag reaches 0 once the last round is committed.
      () => {
        const evaluated = distribution.figures().find((f) => f.name === "bright")?.in ?? 0;
        const lag = distribution.details?.().lag;
        return Promise.resolve(evaluated >= 50 && lag === 0 ? true : undefined);
      },
      { timeoutMs: 120_000 },
    );
    const bright = distribution.figures().find((f) => f.name === "bright")!;
    assert.ok(bright.published > 0 && bright.published < 50, `${bright.published} bright alerts`);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`http://127.0.0.1:${server.addr.port}/streams.html`);
    await page.waitForSelector('[data-topic="fink_bright_ztf"] table', { timeout: 15_000 });
    const filters = await page.textContent("#filters");
    for (const name of ["bright", "catalog_match", "anomalies", "bright_transients"]) {
      assert.ok(filters!.includes(`fink_${name}_ztf`), `${name} listed`);
    }
    const rows = await page.$$eval(
      '[data-topic="fink_bright_ztf"] tbody tr',
      (trs) => trs.map((tr) => tr.textContent),
    );
    assert.equal(rows.length, Math.min(10, bright.published));
    assert.ok(rows.every((r) => r!.includes("ZTF")), "rows show objectIds");
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await distribution.stop();
    await server.shutdown();
    await broker.close();
    await Deno.remove(state, { recursive: true });
  }
});
