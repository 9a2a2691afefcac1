import assert from "node:assert/strict";
import { Histogram, SHORT_SECONDS } from "../../../core/histogram.ts";
import { startTestApi } from "./fleet.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
const FLOAT = /^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;

/**
 * Checks text against the Prometheus text exposition format 0.0.4: HELP and
 * TYPE at most once per family and before its samples, a family's samples
 * together, valid names, escaped label values, float values, no duplicate
 * series, and a final newline. Returns the samples.
 */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  assert.ok(text.endsWith("\n"), "ends with a newline");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  const samples: Sample[] = [];
  let current = "";
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    const where = `line ${i + 1}: ${line}`;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment !== null) {
      const [, kind, name, rest] = comment;
      assert.match(name, METRIC, where);
      assert.ok(
        !closed.has(name) && !seen.has(`${name}{}`),
        `${where}: comes before the family's samples`,
      );
      if (kind === "TYPE") {
        assert.ok(!types.has(name), `${where}: one TYPE per family`);
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, where);
        types.set(name, rest);
      } else {
        assert.ok(!helps.has(name), `${where}: one HELP per family`);
        assert.ok(!/\\[^\\n]/.test(rest), `${where}: HELP escapes only \\ and newline`);
        helps.add(name);
      }
      if (current !== name && current !== "") closed.add(current);
      current = name;
      continue;
    }
    assert.ok(
      !line.startsWith("#") && line.trim() !== "",
      `${where}: no stray comments or blank lines`,
    );
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `${where}: name{labels} value`);
    const [, name, , labelText, valueText] = m;
    const family = familyOf(name, types);
    assert.ok(!closed.has(family), `${where}: samples of a family are together`);
    if (current !== family) {
      if (current !== "") closed.add(current);
      current = family;
    }
    assert.ok(types.has(family), `${where}: TYPE given before the samples`);
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== "") {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < labelText.length) {
        const l = LABEL.exec(labelText);
        assert.ok(l !== null, `${where}: label syntax`);
        assert.ok(!(l[1] in labels), `${where}: label ${l[1]} once`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
    }
    assert.match(valueText, FLOAT, where);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `${where}: series appears once`);
    seen.add(key);
    samples.push({ name, labels, value: Number(valueText.replace("Inf", "Infinity")) });
  }
  return { samples, types };
}

/** The family of a sample: a histogram's `_bucket`, `_sum` and `_count` series belong to it. */
function familyOf(name: string, types: Map<string, string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && types.get(base) === "histogram" ? base : name;
}

Deno.test("metrics are valid Prometheus text carrying the archive's and plugins' counts", async () => {
  const api = await startTestApi();
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    api.archive.feed(124);
    const res = await fetch(`${api.url}/api/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const { samples, types } = parseExposition(await res.text());
    const sum = (name: string) =>
      samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
    const stats = api.archive.stats;

    assert.equal(types.get("fink_alerts_received_total"), "counter");
    assert.equal(types.get("fink_lag"), "gauge");
    assert.equal(types.get("fink_archive_latency_seconds"), "histogram");
    assert.equal(types.get("fink_plugin_batch_duration_seconds"), "histogram");
    assert.equal(types.get("fink_http_request_duration_seconds"), "histogram");
    assert.ok(
      ![...types.keys()].some((name) => /milliseconds|megabytes|^fink_rate_/.test(name)),
      `base units and no pre-computed rates: ${[...types.keys()]}`,
    );
    const batches = samples.filter((s) =>
      s.name.startsWith("fink_plugin_batch_duration_seconds") && s.labels.plugin === "classify"
    );
    const buckets = batches.filter((s) => s.name.endsWith("_bucket"));
    assert.equal(buckets.at(-1)?.labels.le, "+Inf");
    assert.ok(
      buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1].value),
      "buckets are cumulative",
    );
    assert.equal(
      batches.find((s) => s.name.endsWith("_count"))?.value,
      samples.find((s) => s.name === "fink_plugin_batches_total")?.value,
    );
    assert.equal(buckets.at(-1)?.value, batches.find((s) => s.name.endsWith("_count"))?.value);
    assert.equal(sum("fink_alerts_received_total"), stats.total("received"));
    assert.equal(sum("fink_alerts_archived_total"), stats.total("archived"));
    assert.equal(sum("fink_alerts_quarantined_total"), 2);
    assert.deepEqual(
      samples.filter((s) => s.name === "fink_alerts_received_total").map((s) => s.labels),
      [{ topic: "ztf-sim", partition: "0" }, { topic: "ztf-sim", partition: "1" }],
    );
    for (const p of stats.partitions.values()) {
      const lag = samples.find((s) =>
        s.name === "fink_lag" && s.labels.partition === String(p.partition) &&
        s.labels.topic === p.topic
      );
      assert.equal(lag?.value, p.lag);
    }
    assert.equal(
      samples.find((s) => s.name === "fink_plugin_batches_total")?.labels.plugin,
      "classify",
    );
    assert.equal(sum("fink_plugin_rows_total"), 122);
    assert.equal(
      samples.find((s) => s.name === "fink_service_up" && s.labels.service === "archive")?.value,
      1,
    );
    assert.equal(
      samples.find((s) => s.name === "fink_service_up" && s.labels.service === "simulator")?.value,
      0,
    );
    const classes = samples.filter((s) => s.name === "fink_classified_total");
    assert.equal(classes.reduce((n, s) => n + s.value, 0), 122);
    assert.ok(
      classes.some((s) => s.labels.class === "Candidate_CV*"),
      "classes with * survive escaping",
    );
    assert.ok(classes.some((s) => s.labels.class === "Radio(cm)"));
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("label values with quotes, backslashes and newlines are escaped", async () => {
  const api = await startTestApi();
  try {
    const name = 'odd"name\\with\nnewline';
    api.registerPlugin({
      name,
      kind: "plugin",
      description: "hostile name",
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      details: () => ({
        name,
        state: "running",
        permissions: {},
        batches: 3,
        rows: 7,
        errors: 0,
        lastError: null,
        avgMsPerBatch: null,
        batchSeconds: new Histogram(SHORT_SECONDS).snapshot(),
        restarts: 0,
        summary: { name, counts: {}, recent: [] },
      }),
    });
    await api.manager.start('odd"name\\with\nnewline');
    const { samples } = parseExposition(await (await fetch(`${api.url}/api/metrics`)).text());
    const batches = samples.find((s) =>
      s.name === "fink_plugin_batches_total" && s.labels.plugin !== "classify"
    );
    assert.equal(batches?.labels.plugin, 'odd"name\\with\nnewline');
    assert.equal(batches?.value, 3);
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});

Deno.test("the validator refuses malformed exposition text", () => {
  const bad = [
    "fink_x 1\n",
    '# TYPE fink_x counter\nfink_x{a="1} 1\n',
    "# TYPE fink_x counter\nfink_x one\n",
    "# TYPE fink_x counter\n# TYPE fink_x gauge\nfink_x 1\n",
    "# TYPE fink_x counter\nfink_x 1\nfink_x 2\n",
    "# TYPE fink_x counter\nfink_x 1",
  ];
  for (const text of bad) assert.throws(() => parseExposition(text), text);
});

Deno.test("docs/metrics.md lists every metric and the Grafana dashboard's queries parse and use them", async () => {
  const api = await startTestApi();
  const docs = await Deno.readTextFile(new URL("../../../docs/metrics.md", import.meta.url));
  const dashboard = JSON.parse(
    await Deno.readTextFile(new URL("../../../docs/grafana-dashboard.json", import.meta.url)),
  );
  try {
    await api.manager.start("archive");
    await api.manager.start("classify");
    api.archive.feed(30);
    const { types } = parseExposition(await (await fetch(`${api.url}/api/metrics`)).text());
    const documented = new Set([...docs.matchAll(/^\| `(fink_\w+)` +\| (\w+)/gm)].map((m) => m[1]));
    assert.deepEqual([...types.keys()].filter((name) => !documented.has(name)), []);
    // The distribution's families appear only while `distribute` runs, which this API has not.
    const distribution = /^fink_(filter|distribution)_/;
    assert.deepEqual(
      [...documented].filter((name) => !types.has(name) && !distribution.test(name)),
      [],
    );

    const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) =>
      p.targets.map((t) => t.expr)
    );
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/fink_\w+/g)) {
        const family = name.replace(/_(bucket|sum|count)$/, "");
        assert.ok(types.has(name) || types.get(family) === "histogram", `${name} in ${expr}`);
      }
    }
    // promtool parses each query as a recording rule, Grafana's variables given values.
    const rules = {
      groups: [{
        name: "dashboard",
        rules: exprs.map((expr, i) => ({
          record: `dashboard:query_${i}`,
          expr: expr.replaceAll("$__rate_interval", "5m").replaceAll("$job", ".*"),
        })),
      }],
    };
    const file = await Deno.makeTempFile({ suffix: ".json" });
    try {
      // JSON is YAML: promtool reads it as a rule file.
      await Deno.writeTextFile(file, JSON.stringify(rules));
      const { code, stdout, stderr } = await new Deno.Command("promtool", {
        args: ["check", "rules", file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, output);
    } finally {
      await Deno.remove(file);
    }
  } finally {
    await api.close();
    await Deno.remove(api.dir, { recursive: true });
  }
});
