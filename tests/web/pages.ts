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

/**
 * Elements sticking out of the card or panel holding them, and cards or panels sticking out
 * of the page's main column (by more than half a pixel), as "card label: element text"; elements inside
 * a scrolling box (a wide table) are checked through that box.
 */
export function overflowingElements(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const found = [];
    for (const box of document.querySelectorAll(".card, .panel")) {
      const outer = box.getBoundingClientRect();
      if (outer.width === 0 && outer.height === 0) continue; // hidden
      // The page's column: a card can stretch its own row, which then sticks out of the page.
      const holder = (box.closest("main") ?? document.body).getBoundingClientRect();
      if (outer.left < holder.left - 0.5 || outer.right > holder.right + 0.5) {
        const label = (box.querySelector(".label, h2")?.textContent ?? box.className).trim();
        found.push(label + ": the card sticks out of the page (" + Math.round(outer.width) + " px wide)");
      }
      for (const el of box.querySelectorAll("*")) {
        let scroller = el.parentElement;
        while (scroller !== box && !/(auto|scroll|hidden)/.test(getComputedStyle(scroller).overflowX)) {
          scroller = scroller.parentElement;
        }
        if (scroller !== box) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        // Text wider than its block sticks out without moving the block's box: scrollWidth shows it.
        const style = getComputedStyle(el);
        const spills = style.display === "block" && style.overflowX === "visible" &&
          el.scrollWidth > el.clientWidth + 1;
        if (spills || r.left < outer.left - 0.5 || r.right > outer.right + 0.5) {
          const label = (box.querySelector(".label, h2")?.textContent ?? box.className).trim();
          found.push(label + ": <" + el.tagName.toLowerCase() + "> " + (el.textContent ?? "").trim().slice(0, 80));
        }
      }
    }
    return found;
  })()`);
}
