/**
 * The dashboard in headless Chromium against the real process, started as a
 * user starts it (`main.ts start archive --simulator`), replaying the real ZTF
 * alerts of fink-broker's all-distribute set in a loop: the live chart rises,
 * the classification page shows the classes the classify plugin gave those
 * alerts, a plugin stops and starts from the services page, and no page logs
 * an error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type ProcessState, readProcessState } from "../../core/process/state_file.ts";
import { sharedData } from "../shared_data.ts";
import { freePort, getJson, stopProcess } from "../support/fink_process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = Deno.env.get("FINK_CHROMIUM") ?? "/usr/bin/chromium";
const REAL_ALERTS = sharedData("ztf/alerts/fink-broker-all-distribute-20231018");
/** Classes the plugin gives from an alert's own fields; every other class comes from a catalog match. */
const NON_CATALOG = new Set(["Unknown", "Solar System MPC", "Solar System candidate"]);
const PAGES = ["/", "/live.html", "/classification.html", "/services.html", "/archive.html"];
/** An element each page shows once its data arrived. */
const READY: Record<string, string> = {
  "/": "#services table",
  "/live.html": "#cards .card",
  "/classification.html": "#recent table",
  "/services.html": "#services table",
  "/archive.html": "#heatmap .cell",
};

/** A `main.ts start` child process and its isolated folders. */
interface FinkProcess {
  state: ProcessState;
  /** What the process wrote to stderr so far (for failure messages). */
  log(): string;
  close(): Promise<void>;
}

async function drain(stream: ReadableStream<Uint8Array>, sink: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.push(decoder.decode(chunk, { stream: true }));
}

/** Waits (bounded) until `check` returns a value other than undefined. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts the process on the real alerts, sent again and again (20 per
 * observation, two observations a second) so the dashboard always has traffic.
 */
async function startFink(): Promise<FinkProcess> {
  const dir = await Deno.makeTempDir({ prefix: "fink-dashboard-" });
  const stateDir = join(dir, "state");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "start", "archive", "--simulator"],
    cwd: ROOT,
    env: {
      FINK_PROCESS_STATE_DIR: stateDir,
      FINK_UI_PORT: "0",
      FINK_ARCHIVE_ROOT: join(dir, "archive"),
      FINK_SCIENCE_ROOT: join(dir, "science"),
      FINK_SIMULATOR_PORT: String(freePort()),
      FINK_SIMULATOR_IN_MEMORY: "true",
      FINK_SIMULATOR_SOURCE: REAL_ALERTS,
      FINK_SIMULATOR_OBSERVATIONS: "100000",
      FINK_SIMULATOR_ALERTS_PER_OBSERVATION: "20",
      FINK_SIMULATOR_INTERVAL_S: "0.5",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const drained = Promise.all([drain(child.stdout, stdout), drain(child.stderr, stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const log = () => stderr.join("");
  const close = async () => {
    if (!exited) await stopProcess(child, stateDir);
    await drained;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const state = await until("the process to answer on its API", async () => {
      if (exited) throw new Error(`The process exited at start:\n${log()}`);
      const s = await readProcessState(stateDir);
      if (s === null || s.pid !== child.pid) return undefined;
      const res = await fetch(`${s.url}/api/status`).catch(() => null);
      await res?.body?.cancel();
      return res?.ok ? s : undefined;
    });
    return { state, log, close };
  } catch (e) {
    await close();
    throw e;
  }
}

async function serviceState(fp: FinkProcess, name: string): Promise<string | undefined> {
  const doc = await getJson(`${fp.state.url}/api/services`);
  return doc.services.find((s: { name: string }) => s.name === name)?.state;
}

interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

async function launch(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "fink-chromium-" });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      await Deno.remove(profile, { recursive: true });
    },
  };
}

/** Collects what would show as errors in the browser console. */
function watchErrors(page: Page, errors: string[]): void {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      errors.push(`console ${m.type()}: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // Leaving a page cancels its live stream; that is not an error of the page.
    if (!r.url().endsWith("/api/live")) {
      errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    }
  });
  page.on("response", (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
}

Deno.test("the dashboard on the real process replaying real ZTF alerts", async (t) => {
  const fp = await startFink();
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
        await page.waitForFunction(
          `(() => {
          const [incoming, archived] = globalThis.finkLive?.rates.data.datasets ?? [];
          return incoming !== undefined && incoming.data.length >= 3 &&
            incoming.data.at(-1).y > 0 && archived.data.at(-1).y > 0;
        })()`,
          undefined,
          { timeout: 20_000, polling: 100 },
        );
        assert.equal(await page.textContent("#live-state"), "live");
        const lagSeries = await page.evaluate<string[]>(
          "finkLive.lag.data.datasets.map((d) => d.label)",
        );
        assert.equal(lagSeries[0], "total");
        assert.ok(lagSeries.some((l) => /^ztf-sim\[\d\]$/.test(l)), `lag series ${lagSeries}`);
        assert.deepEqual(errors, []);
      },
    );

    await t.step(
      "classification.html shows the classes the plugin gave the real alerts",
      async () => {
        // Known asteroids and at least one catalog match (GCVS, SPICY, TNS, 3HSP or 4LAC) among them.
        const doc = await until("catalog classes from the real alerts", async () => {
          const d = await getJson(`${url}/api/classification`);
          const classes: string[] = d.classes;
          return classes.includes("Solar System MPC") && classes.some((c) => !NON_CATALOG.has(c))
            ? d
            : undefined;
        }, 45_000).catch((e) => {
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
        const recentIds = await page.$$eval(
          "#recent tbody tr td:first-child",
          (cells) => cells.map((c) => c.textContent ?? ""),
        );
        assert.ok(
          recentIds.length > 0 && recentIds.every((id) => /^\d{19}$/.test(id)),
          `${recentIds}`,
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
      await until(
        "classify to run again",
        async () => await serviceState(fp, "classify") === "running" ? true : undefined,
      );
      assert.equal(await page.isHidden("#token-form"), true, "the token is asked once per tab");
      assert.deepEqual(errors, []);
    });

    await t.step(
      "every page loads without console errors; the archive shows the alerts' days",
      async () => {
        for (const path of PAGES) {
          await page.goto(url + path);
          await page.waitForSelector(READY[path], { timeout: 15_000 });
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
