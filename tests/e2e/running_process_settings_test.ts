/**
 * A process started as the README says classifies alerts without a warning in
 * its log, and a later `start` never silently drops settings it cannot apply.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fink, startFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

async function hasParquet(dir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".parquet")) return true;
      if (entry.isDirectory && await hasParquet(join(dir, entry.name))) return true;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return false;
}

Deno.test("start with settings the running process lacks is refused naming them; no warnings", async () => {
  const fp = await startFink({
    "simulator.observations": 2,
    "simulator.alerts_per_observation": 20,
  });
  try {
    const refused = await fink(
      ["start", "archive", "--set", "archive.root=/tmp/elsewhere", "--set", "kafka.topics=foo"],
      fp.env,
    );
    assert.equal(refused.code, 1, refused.stdout);
    assert.doesNotMatch(refused.stdout, /started/);
    assert.match(
      refused.stderr,
      /^error: start archive refused: .*kafka\.topics=\["foo"\] \(--set; it runs with \["ztf-sim"\]\).*archive\.root="\/tmp\/elsewhere" \(--set.*stop it first.*process\.state_dir/m,
    );
    assert.equal(refused.stderr.trim().split("\n").length, 1, "one line");

    const files = await fink(["start", "archive", "--source", "files:/tmp"], fp.env);
    assert.equal(files.code, 1, files.stdout);
    assert.match(
      files.stderr,
      /^error: start archive refused: --source files:\/tmp needs a process of its own/,
    );

    const same = await fink(["start", "classify"], fp.env);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /classify started in the running process/);

    await waitFor(
      "classify results",
      async () => await hasParquet(join(fp.dir, "science", "classify")) || undefined,
    );
    const lines = fp.log().split("\n");
    // Runtime warnings (TimeoutNegativeWarning...) anywhere; our own warnings while starting.
    assert.deepEqual(lines.filter((l) => /\w*Warning\b/.test(l)), []);
    const started = lines.findIndex((l) => /msg="service started" name=archive/.test(l));
    assert.ok(started > 0, "the archive started");
    assert.deepEqual(lines.slice(0, started).filter((l) => /level=warn/.test(l)), []);
  } finally {
    await fp.close();
  }
});
