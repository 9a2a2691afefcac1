/**
 * The object page and the search box in headless Chromium, over an archive
 * of real ZTF and Rubin alerts: one point per detection and one marker per
 * upper limit, three non-blank cutouts, no console errors at laptop and
 * phone widths; a cone search typed in the search box lands on the results.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { ApiError } from "../../core/api/errors.ts";
import { registerQueryRoutes } from "../../core/api/query_routes.ts";
import { registerWebRoutes } from "../../core/api/web.ts";
import { QueryEngine } from "../../core/query/engine.ts";
import { sharedData } from "../shared_data.ts";
import { query as duck } from "../support/duckdb.ts";
import { launch, watchErrors } from "../support/chromium.ts";
import { screenshotFile } from "../support/screenshots.ts";
import { archiveAlertFolder } from "../support/sky_archive.ts";

const OBJECT = "ZTF18acqucmw";

Deno.test("the object page and the search box", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink_object_page_" });
  const root = `${dir}/archive`;
  await archiveAlertFolder(root, "ztf", sharedData("ztf/alerts/fink-broker-local-20200101"));
  const engine = await QueryEngine.open({ archiveRoot: root, scienceRoot: `${dir}/science` });
  const app = new Hono();
  app.onError((err, c) =>
    c.json({ error: err.message }, err instanceof ApiError ? err.status : 500)
  );
  registerQueryRoutes(app, () => Promise.resolve(engine));
  registerWebRoutes(app);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const browser = await launch();
  try {
    const [expected] = await duck(
      `select count(*)::INTEGER as detections,
        (select count(distinct p.jd)::INTEGER from (select unnest(prv_candidates) p
          from read_parquet('${root}/ztf/**/*.parquet') where objectId = '${OBJECT}')
          where p.magpsf is null) as limits
       from read_parquet('${root}/ztf/**/*.parquet') where objectId = '${OBJECT}'`,
    );
    assert.ok(Number(expected.limits) > 0);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    for (const viewport of [{ width: 1280, height: 860 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(viewport);
      await page.goto(`${url}/object.html?objectId=${OBJECT}`);
      await page.waitForFunction("globalThis.finkObject !== undefined", undefined, {
        timeout: 15_000,
      });
      const counts = await page.evaluate<{ points: number; limits: number }>(`(() => {
        const sets = finkObject.chart.data.datasets;
        const sum = (f) => sets.filter(f).reduce((n, d) => n + d.data.length, 0);
        return { points: sum((d) => !d.upperLimits), limits: sum((d) => d.upperLimits) };
      })()`);
      assert.deepEqual(counts, { points: expected.detections, limits: expected.limits });
      await page.waitForFunction(
        `[...document.querySelectorAll("#cutouts img")].every((i) => i.complete && i.naturalWidth > 0)`,
        undefined,
        { timeout: 15_000 },
      );
      const spreads = await page.evaluate<number[]>(`[...document.querySelectorAll("#cutouts img")]
        .map((img) => {
          const c = document.createElement("canvas");
          c.width = img.naturalWidth; c.height = img.naturalHeight;
          const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, c.width, c.height).data;
          let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
          return hi - lo;
        })`);
      assert.equal(spreads.length, 3);
      assert.ok(spreads.every((s) => s > 50), `cutouts are not blank: grey spreads ${spreads}`);
      const overflow = await page.evaluate<number>(
        "document.documentElement.scrollWidth - innerWidth",
      );
      assert.ok(overflow <= 0, `object.html at ${viewport.width}px overflows by ${overflow}px`);
      if (viewport.width === 1280) {
        const shot = screenshotFile("object.png");
        await page.screenshot({ path: shot.path, fullPage: false });
        await shot.discard();
      }
    }

    await page.setViewportSize({ width: 1280, height: 860 });
    await page.goto(`${url}/explorer.html`);
    await page.fill("header form.search input", "197.590032 7.3576394 600");
    await page.press("header form.search input", "Enter");
    await page.waitForSelector("#cone table a", { timeout: 15_000 });
    const first = await page.textContent("#cone table tbody tr:first-child a");
    assert.equal(first, "ZTF20aabaesm");
    await page.click("#cone table tbody tr:first-child a");
    await page.waitForFunction("globalThis.finkObject !== undefined", undefined, {
      timeout: 15_000,
    });
    assert.match(page.url(), /object\.html\?objectId=ZTF20aabaesm/);
    await page.close();
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.shutdown();
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
