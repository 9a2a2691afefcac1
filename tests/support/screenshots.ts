/**
 * README screenshots (`docs/live.png`, `docs/object.png`) are taken by the
 * page tests, but written to `docs/` only when asked:
 * `FINK_SCREENSHOTS=1 deno test -A tests/web/`. Otherwise they go to a
 * temporary file, so that a test run leaves the checkout as it was.
 */
import { fileURLToPath } from "node:url";

/** Where a screenshot is written, and how to let it go once checked. */
export interface ScreenshotFile {
  path: string;
  /** Removes the temporary file; keeps the README's. */
  discard(): Promise<void>;
}

/** The file for the screenshot `docs/<name>`. */
export function screenshotFile(name: string): ScreenshotFile {
  if (Deno.env.get("FINK_SCREENSHOTS") === "1") {
    return {
      path: fileURLToPath(new URL(`../../docs/${name}`, import.meta.url)),
      discard: () => Promise.resolve(),
    };
  }
  const path = Deno.makeTempFileSync({ prefix: "fink-screenshot-", suffix: `-${name}` });
  return { path, discard: () => Deno.remove(path).catch(() => {}) };
}
