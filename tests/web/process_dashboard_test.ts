/**
 * The dashboard in headless Chromium against the real process, started as a
 * user starts it (`main.ts start archive --simulator`), replaying the real ZTF
 * alerts of fink-broker's all-distribute set in a loop: the live chart rises,
 * the classification page shows the classes the classify plugin gave those
 * alerts, a plugin stops and starts from the services page, and no page logs
 * an error.
 */
import assert from "node:assert/strict";
import { sharedData } from "../shared_data.ts";
import { type Browser, launch, watchErrors } from "../support/chromium.ts";
import { lagSeries, overflowingElements, PAGES, ratesRise, READY } from "./pages.ts";
import { type FinkProcess, getJson, startFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

const REAL_ALERTS = sharedData("ztf/alerts/fink-broker-all-distribute-20231018");
/** Classes the plugin gives from an alert's own fields; every other class comes from a catalog match. */
const NON_CATALOG = new Set(["Unknown", "Solar System MPC", "Solar System candidate"]);

async function serviceState(fp: FinkProcess, name: string): Promise<string | undefined> {
  const doc = await getJson(`${fp.state.url}/api/services`);
  return doc.services.find((s: { name: string }) => s.name === name)?.state;
}

Deno.test("the dashboard on the real process replaying real ZTF alerts", async (t) => {
  const fp = await startFink({
    "simulator.source": REAL_ALERTS,
    "simulator.observations": 100000,
    "simulator.alerts_per_observation": 20,
  });
  let browser: Browser | null = null;
  try {
    browser = await launch();
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    const url = fp.state.url;

    await t.step(
      "live.html charts incoming and archived rates that rise within seconds",
      async () => {
        await page.goto(`${url}/live.html`);
        await ratesRise(page, 20_000);
        // The rates may rise from the backfilled history before the event stream opens.
        await page.waitForFunction(
          `document.getElementById("live-state")?.textContent === "live"`,
          undefined,
          { timeout: 20_000, polling: 100 },
        );
        const lag = await lagSeries(page);
        assert.equal(lag[0], "total");
        assert.ok(lag.some((l) => /^ztf-sim\[\d\]$/.test(l)), `lag series ${lag}`);
        assert.deepEqual(errors, []);
      },
    );

    await t.step(
      "classification.html shows the classes the plugin gave the real alerts",
      async () => {
        // Known asteroids and at least one catalog match (GCVS, SPICY, TNS, 3HSP or 4LAC) among them.
        const doc = await waitFor("catalog classes from the real alerts", async () => {
          const d = await getJson(`${url}/api/classification`);
          const classes: string[] = d.classes;
          return classes.includes("Solar System MPC") && classes.some((c) => !NON_CATALOG.has(c))
            ? d
            : undefined;
        }, { timeoutMs: 45_000 }).catch((e) => {
          throw new Error(`${e.message}\n${fp.log().slice(-3000)}`);
        });
        await page.goto(`${url}/classification.html`);
        await page.waitForSelector("#totals table", { timeout: 15_000 });
        await page.waitForSelector("#recent table", { timeout: 15_000 });
        const shown = await page.$$eval(
          "#totals tbody tr td:first-child",
          (cells) => cells.map((c) => c.textContent ?? ""),
        );
        for (
          const name of doc.classes.filter((c: string) => doc.totals[c] > 0)
        ) {
          assert.ok(shown.includes(name), `class ${name} shown in ${JSON.stringify(shown)}`);
        }
        const labels = await page.evaluate<string[]>(
          "finkClassification.chart.data.datasets.map((d) => d.label)",
        );
        assert.ok(labels.includes("Solar System MPC"), `chart series ${labels}`);
        // Named by ZTF objectId, the alert's candid beside it.
        const recent = await page.$$eval(
          "#recent tbody tr",
          (rows) => rows.map((r) => [...r.children].slice(0, 2).map((c) => c.textContent ?? "")),
        );
        assert.ok(
          recent.length > 0 &&
            recent.every(([object, id]) =>
              /^ZTF\d{2}[a-z]{7}$/.test(object) && /^\d{19}$/.test(id)
            ),
          `${JSON.stringify(recent)}`,
        );
        assert.deepEqual(errors, []);
      },
    );

    await t.step("services.html stops and starts the classify plugin", async () => {
      await page.goto(`${url}/services.html`);
      await page.click('button[data-service="classify"][data-action="stop"]');
      await page.waitForSelector("#token-form", { state: "visible" });
      await page.fill("#token", fp.state.token);
      await page.click('#token-form button[type="submit"]');
      // classify was started by the plugin host, not through the API: stopping it must still work.
      await page.waitForFunction(
        `/^classify is /.test(document.getElementById("message").textContent)`,
        undefined,
        { timeout: 15_000 },
      );
      assert.equal(await page.textContent("#message"), "classify is stopped");
      await page.waitForSelector('button[data-service="classify"][data-action="start"]');
      assert.equal(await serviceState(fp, "classify"), "stopped");
      assert.equal(await serviceState(fp, "archive"), "running");

      await page.click('button[data-service="classify"][data-action="start"]');
      await page.waitForSelector('button[data-service="classify"][data-action="stop"]', {
        timeout: 15_000,
      });
      await waitFor(
        "classify to run again",
        async () => await serviceState(fp, "classify") === "running" ? true : undefined,
      );
      assert.equal(await page.isHidden("#token-form"), true, "the token is asked once per tab");
      assert.deepEqual(errors, []);
    });

    await t.step(
      "every page loads without console errors or overflowing cards; the archive shows the alerts' days",
      async () => {
        // At laptop and phone widths, with the real process's paths, plugins and alerts.
        for (const viewport of [{ width: 390, height: 844 }, { width: 1280, height: 860 }]) {
          await page.setViewportSize(viewport);
          for (const path of PAGES) {
            await page.goto(url + path);
            await page.waitForSelector(READY[path], { timeout: 15_000 });
            assert.deepEqual(
              await overflowingElements(page),
              [],
              `${path} at ${viewport.width}px: elements overflowing their card`,
            );
          }
        }
        // Still on archive.html: the real alerts are of 2023-10-18 and 2023-10-19 (UTC).
        const days = await page.$$eval("#heatmap .day", (cells) => cells.map((c) => c.textContent));
        assert.deepEqual(days, ["2023-10-18", "2023-10-19"]);
        await page.close();
        assert.deepEqual(errors, []);
      },
    );
  } finally {
    await browser?.close();
    await fp.close();
  }
});
