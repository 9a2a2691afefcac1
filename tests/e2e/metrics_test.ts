/**
 * The metrics of a real process (`main.ts start archive --simulator` with the
 * project's plugins) as an operator reads them: `promtool check metrics` (the
 * Prometheus linter, Debian's `prometheus` package) passes on `/api/metrics`,
 * and at a steady simulator rate the incoming and archived rates every page
 * shows agree.
 */
import assert from "node:assert/strict";
import { getJson, startFink } from "../support/fink_process.ts";
import { waitFor } from "../support/wait.ts";

/** Runs `promtool check metrics` over `text`; returns its exit code and what it printed. */
async function promtool(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("promtool finds nothing to fix in a live process's metrics", async () => {
  const bad = await promtool(
    "# HELP fink_x_milliseconds x\n# TYPE fink_x_milliseconds gauge\nfink_x_milliseconds 1\n",
  );
  assert.notEqual(bad.code, 0, "promtool reports a non-base unit");
  assert.match(bad.output, /base unit/);

  // Bursts of 20 alerts every second, archived up to a second later (batch.max_ms): rates over a
  // few seconds swing between in and out; over the recorder's window they agree.
  const fp = await startFink({
    "simulator.alerts_per_observation": 20,
    "simulator.interval_s": 1,
  });
  try {
    const url = fp.state.url;
    // Histograms carry observations once the archive committed and a plugin returned a batch.
    const text = await waitFor("archived alerts and a plugin's batch in the metrics", async () => {
      const t = await (await fetch(`${url}/api/metrics`)).text();
      return /^fink_archive_latency_seconds_count [1-9]/m.test(t) &&
          /^fink_plugin_batch_duration_seconds_count\{[^}]*\} [1-9]/m.test(t) &&
          /^fink_http_request_duration_seconds_count\{[^}]*route="\/api\/metrics"/m.test(t)
        ? t
        : undefined;
    }, { timeoutMs: 60_000 }).catch((e) => {
      throw new Error(`${e.message}\n${fp.log().slice(-3000)}`);
    });
    const checked = await promtool(text);
    assert.equal(checked.code, 0, `promtool check metrics:\n${checked.output}\n${text}`);
    assert.equal(checked.output.trim(), "", "no lint finding");

    // In and out over the same window from the same two counter samples: they differ only by
    // the alerts buffered at the window's ends, a small part of a 45 s window's alerts.
    const status = await waitFor("a 45 s rate window of a steady stream", async () => {
      const s = await getJson(`${url}/api/status`);
      return s.rates.windowSeconds >= 45 && s.totals.archived > 0 ? s : undefined;
    }, { timeoutMs: 120_000 });
    const { inPerSecond, outPerSecond } = status.rates;
    assert.ok(inPerSecond > 5, `in ${inPerSecond} /s`);
    assert.ok(
      Math.abs(inPerSecond - outPerSecond) <= 0.1 * inPerSecond,
      `in ${inPerSecond} /s and out ${outPerSecond} /s differ by more than 10 %`,
    );
  } finally {
    await fp.close();
  }
});
