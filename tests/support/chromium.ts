/**
 * Headless Chromium for the browser tests: Debian's chromium driven by
 * playwright-core, with the flags this closed network needs, and a watcher
 * of what would show as errors in the console.
 */
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** The browser binary (FINK_CHROMIUM overrides). */
export const CHROMIUM = Deno.env.get("FINK_CHROMIUM") ?? "/usr/bin/chromium";

/** A browser with its own fresh profile. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
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
export function watchErrors(page: Page, errors: string[]): void {
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
