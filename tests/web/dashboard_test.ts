/**
 * The dashboard in headless Chromium against the API over the test services
 * (real alerts, real ArchiveStats and SummaryAccumulator): every page loads
 * without console errors at laptop and phone widths, the live chart rises,
 * and services stop and start through the buttons.
 */
import assert from "node:assert/strict";
import { startTestApi, type TestApi } from "../core/api/fleet.ts";
import type { GroupStatus } from "../../core/api/app.ts";
import { createKafkaSource } from "../../core/source/kafka.ts";
import { GroupDescriber } from "../../core/source/group_view.ts";
import type { Source } from "../../core/source/source.ts";
import { startBroker } from "../../simulator/broker/mod.ts";
import { waitFor } from "../support/wait.ts";
import { type Browser, launch, watchErrors } from "../support/chromium.ts";
import { screenshotFile } from "../support/screenshots.ts";
import { lagSeries, overflowingElements, PAGES, ratesRise, READY } from "./pages.ts";

/** A long archive location, as a node's real folders are, which cards must wrap. */
const LONG_STORAGE = "/srv/fink_node/ztf_public_alert_stream_archive/parquet_by_event_hour";

async function withDashboard(
  fn: (api: TestApi, browser: Browser) => Promise<void>,
  options: { group?: GroupStatus } = {},
): Promise<void> {
  const api = await startTestApi({
    sampleMs: 1000,
    archive: { perFeed: 3, feedMs: 100, storage: LONG_STORAGE },
    group: options.group,
  });
  let browser: Browser | null = null;
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    browser = await launch();
    await fn(api, browser);
  } finally {
    await browser?.close();
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
}

Deno.test("every dashboard page loads without console errors or overflowing cards at laptop and phone widths", async () => {
  await withDashboard(async (api, browser) => {
    api.archive.replayPast(120, api.recorder);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    for (const viewport of [{ width: 1280, height: 860 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(viewport);
      for (const path of PAGES) {
        await page.goto(api.url + path);
        await page.waitForSelector(READY[path], { timeout: 15_000 });
        assert.deepEqual(
          await overflowingElements(page),
          [],
          `${path} at ${viewport.width}px: elements overflowing their card`,
        );
        const overflow = await page.evaluate<number>(
          "document.documentElement.scrollWidth - innerWidth",
        );
        assert.ok(overflow <= 0, `${path} at ${viewport.width}px overflows by ${overflow}px`);
      }
    }
    await page.close();
    assert.deepEqual(errors, []);
  });
});

Deno.test("live.html charts incoming and archived rates that rise within seconds", async () => {
  await withDashboard(async (api, browser) => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${api.url}/live.html`);
    // In the browser: the chart's incoming and archived series, fed by /api/live only (no history yet).
    await ratesRise(page, 15_000);
    assert.equal(await page.textContent("#live-state"), "live");
    assert.deepEqual(await lagSeries(page), ["total", "ztf-sim[0]", "ztf-sim[1]"]);
    await page.close();
    assert.deepEqual(errors, []);
  });
});

Deno.test("services.html shows a ranking plugin's distribution and most notable rows", async () => {
  await withDashboard(async (api, browser) => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${api.url}/services.html`);
    await page.waitForSelector('[data-ranking="classify"] tbody tr', { timeout: 15_000 });
    const text = await page.textContent('[data-ranking="classify"]');
    assert.match(text!, /classify: score/);
    assert.match(text!, /ranked, 0 without a value/);
    assert.match(text!, /< 0\.25.*0\.25 to 0\.5.*≥ 0\.75/s);
    assert.match(text!, /Most notable of the last hour \(lowest first\)/);
    assert.deepEqual(errors, []);
  });
});

Deno.test("services.html stops and starts a service through its buttons, asking the token once", async () => {
  await withDashboard(async (api, browser) => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await page.goto(`${api.url}/services.html`);
    await page.click('button[data-service="archive"][data-action="stop"]');
    await page.waitForSelector("#token-form", { state: "visible" });
    await page.fill("#token", "wrong-token");
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(
      `document.getElementById("token-error").textContent === "Wrong bearer token"`,
    );
    assert.equal(api.manager.status("archive").state, "running");

    await page.fill("#token", api.token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('button[data-service="archive"][data-action="start"]', {
      timeout: 10_000,
    });
    assert.equal(api.manager.status("archive").state, "stopped");
    assert.match((await page.textContent("#message"))!, /archive is stopped/);

    await page.click('button[data-service="archive"][data-action="start"]');
    await page.waitForSelector('button[data-service="archive"][data-action="stop"]', {
      timeout: 10_000,
    });
    assert.equal(api.manager.status("archive").state, "running");
    assert.equal(await page.isHidden("#token-form"), true, "the token is asked once per tab");
    await page.close();
    // The wrong token was answered 401, which the browser reports (once as a response, once in the
    // console); nothing else may fail.
    const expected = [
      `HTTP 401: ${api.url}/api/services/archive/stop`,
      "console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)",
    ];
    assert.deepEqual(errors.filter((e) => !expected.includes(e)), []);
  });
});

Deno.test("a screenshot of live.html for the README", async () => {
  await withDashboard(async (api, browser) => {
    api.archive.replayPast(120, api.recorder);
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1200, height: 820 });
    await page.goto(`${api.url}/live.html`);
    await page.waitForFunction(
      "(globalThis.finkLive?.rates.data.datasets[0].data.length ?? 0) > 122",
      undefined,
      {
        timeout: 15_000,
        polling: 100,
      },
    );
    const shot = screenshotFile("live.png");
    await page.screenshot({ path: shot.path, fullPage: true });
    await page.close();
    const png = await Deno.readFile(shot.path);
    await shot.discard();
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG file");
  });
});

Deno.test({
  name: "the overview shows the consumer group as Kafka describes it, this node marked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Two nodes of one group: sources of ours over the embedded broker, described by Kafka.
    const broker = await startBroker({ port: 0, dataDir: null });
    broker.createTopic("ztf-view", 4);
    const node = (clientId: string): Source =>
      createKafkaSource({
        brokers: [broker.address],
        topics: ["ztf-view"],
        group: "fink-view",
        clientId,
        fromBeginning: true,
      });
    const [self, other] = [node("fink-node-a"), node("fink-node-b")];
    const describer = new GroupDescriber({
      brokers: [broker.address],
      group: "fink-view",
      clientId: "view",
    });
    try {
      for (const source of [self, other]) {
        await source.start({ onMessages: () => Promise.resolve() });
      }
      await waitFor("the two nodes to share the partitions", () => {
        const owned = [self, other].map((s) => s.membership()?.assigned.length ?? 0);
        return Promise.resolve(owned[0] > 0 && owned[0] + owned[1] === 4 ? true : undefined);
      });
      const group = {
        membership: () => self.membership(),
        describe: (memberId: string | null) => describer.describe(memberId),
      };
      await withDashboard(async (api, browser) => {
        const page = await browser.context.newPage();
        const errors: string[] = [];
        watchErrors(page, errors);
        await page.goto(api.url + "/");
        await page.waitForSelector("#group table", { timeout: 15_000 });
        const rows = await page.$$eval(
          "#group tbody tr",
          (trs) =>
            trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim())),
        );
        const mine = self.membership()!.assigned.map((tp) => tp.partition).join(",");
        assert.deepEqual(rows.map((r) => [r[0], r[3]]), [
          ["fink-node-a this node", `ztf-view[${mine}]`],
          [
            "fink-node-b",
            `ztf-view[${other.membership()!.assigned.map((tp) => tp.partition).join(",")}]`,
          ],
        ]);
        assert.match(
          await page.textContent("#group-state") ?? "",
          /fink-view · Stable · 2 members/,
        );
        await page.close();
        assert.deepEqual(errors, []);
      }, { group });
    } finally {
      await self.stop();
      await other.stop();
      await describer.close();
      await broker.close();
    }
  },
});
