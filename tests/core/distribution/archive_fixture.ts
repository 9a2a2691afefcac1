/**
 * A real archive with science results for the distribution tests: the real
 * process archives 50 real ZTF alerts of `../shared/data` in batches of 2 and runs the
 * `classify` plugin over them, once per test run (kept in a temporary folder).
 */
import { join } from "node:path";
import { sharedData } from "../../shared_data.ts";
import { fink, isolatedSettings, ROOT } from "../../support/fink_process.ts";

/** The shared ZTF alerts archived by the fixture. */
export const ALERTS = sharedData("ztf", "alerts", "fink-broker-local-20200101");

let built: Promise<string> | null = null;

/** Folder holding `archive/` and `science/` (classify) of the shared alerts. */
export function archiveFixture(): Promise<string> {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "fink_distribution_fixture_" });
    const settings = isolatedSettings(dir, { plugins: join(ROOT, "plugins") });
    const out = await fink([
      "start",
      "archive",
      `--source=files:${ALERTS}`,
      ...settings,
      "--set=plugins.stop_wait_s=120",
      // Small batches: many archived files, so many distribution transactions.
      "--set=batch.max_alerts=2",
    ], {});
    if (out.code !== 0) throw new Error(`archiving the fixture failed: ${out.stderr}`);
    return dir;
  })();
  return built;
}
