/**
 * `--source files:PATH` is a job: it ends once the archive and every stream
 * plugin have caught up, and prints what it did.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fink, isolatedSettings, ROOT } from "../support/fink_process.ts";
import { sharedData } from "../shared_data.ts";

async function parquetFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) found.push(...await parquetFiles(path));
      else if (entry.name.endsWith(".parquet")) found.push(path);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found;
}

Deno.test("files:rubin/alerts ends after classify has every result and prints a summary", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fink-files-job-" });
  try {
    const r = await fink([
      "start",
      "archive",
      "--source",
      `files:${sharedData("rubin/alerts")}`,
      ...isolatedSettings(dir, { plugins: join(ROOT, "plugins") }),
    ], {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: 71 alerts archived, 0 quarantined$/m);
    assert.match(r.stdout, /^ {2}classify: 71 results$/m);
    assert.ok((await parquetFiles(join(dir, "science", "classify"))).length > 0, "result files");
    assert.doesNotMatch(r.stderr, /Warning|level=warn/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
