/**
 * What the dashboard tests know of the pages: their paths, the element each
 * shows once its data arrived, and the live page's charts as the browser has them.
 */
import type { Page } from "playwright-core";

/** Every page of the dashboard. */
export const PAGES = ["/", "/live.html", "/classification.html", "/services.html", "/archive.html"];

/** An element each page shows once its data arrived. */
export const READY: Record<string, string> = {
  "/": "#services table",
  "/live.html": "#cards .card",
  "/classification.html": "#recent table",
  "/services.html": "#services table",
  "/archive.html": "#heatmap .cell",
};

/** Waits until live.html's chart has 3+ points and its latest incoming and archived rates are above 0. */
export async function ratesRise(page: Page, timeoutMs: number): Promise<void> {
  await page.waitForFunction(
    `(() => {
      const [incoming, archived] = globalThis.finkLive?.rates.data.datasets ?? [];
      return incoming !== undefined && incoming.data.length >= 3 &&
        incoming.data.at(-1).y > 0 && archived.data.at(-1).y > 0;
    })()`,
    undefined,
    { timeout: timeoutMs, polling: 100 },
  );
}

/** The labels of live.html's lag series. */
export function lagSeries(page: Page): Promise<string[]> {
  return page.evaluate<string[]>("finkLive.lag.data.datasets.map((d) => d.label)");
}
