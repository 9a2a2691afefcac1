/**
 * The figures in the Prometheus text exposition format (version 0.0.4): one
 * `# HELP` and one `# TYPE` line per metric family, then its samples. Units are
 * Prometheus' base units (seconds, bytes), counters end in `_total`, and
 * latencies are histograms (`_bucket{le}`, `_sum`, `_count`) so
 * `histogram_quantile` aggregates them; rates are left to `rate()`.
 * docs/metrics.md lists every metric.
 */
import type { HistogramSnapshot } from "../histogram.ts";
import type { Figures } from "../metrics/figures.ts";

/** Content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Labels of one series. */
export type Labels = Record<string, string | number>;

/** One labelled histogram of a family. */
export interface LabelledHistogram {
  labels: Labels;
  histogram: HistogramSnapshot;
}

/** Process facts exported besides the figures. */
export interface ProcessFacts {
  version: string;
  startedAt: Date;
  /** Duration of the API's requests, per method, route and status code. */
  requests?: LabelledHistogram[];
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: { labels: Labels; value: number }[];
  histograms: LabelledHistogram[];
}

/** Renders the figures as Prometheus text. */
export function prometheusText(figures: Figures, facts: ProcessFacts): string {
  const families: Family[] = [];
  const family = (name: string, type: Family["type"], help: string): Family["samples"] => {
    const f: Family = { name, help, type, samples: [], histograms: [] };
    families.push(f);
    return f.samples;
  };
  const histograms = (name: string, help: string): LabelledHistogram[] => {
    const f: Family = { name, help, type: "histogram", samples: [], histograms: [] };
    families.push(f);
    return f.histograms;
  };

  family("fink_build_info", "gauge", "Version of the running build (always 1)")
    .push({ labels: { version: facts.version }, value: 1 });
  family("fink_uptime_seconds", "gauge", "Seconds since the process started")
    .push({ labels: {}, value: Math.max(0, (figures.t - facts.startedAt.getTime()) / 1000) });
  const up = family("fink_service_up", "gauge", "1 when the service runs, else 0");
  for (const s of figures.services) {
    up.push({ labels: { service: s.name, kind: s.kind }, value: s.state === "running" ? 1 : 0 });
  }

  const perPartition: [string, keyof Figures["partitions"][number], string][] = [
    ["fink_alerts_received_total", "received", "Alerts received from the source"],
    ["fink_alerts_decoded_total", "decoded", "Alerts decoded"],
    ["fink_alerts_archived_total", "archived", "Alerts durably archived as Parquet"],
    [
      "fink_alerts_quarantined_total",
      "quarantined",
      "Alerts that could not be decoded, kept apart",
    ],
    ["fink_received_bytes_total", "bytesIn", "Bytes of alerts received"],
  ];
  for (const [name, field, help] of perPartition) {
    const samples = family(name, "counter", `${help}, per topic-partition`);
    for (const p of figures.partitions) {
      samples.push({
        labels: { topic: p.topic, partition: p.partition },
        value: p[field] as number,
      });
    }
  }
  const lag = family("fink_lag", "gauge", "Messages the broker holds past the committed offset");
  for (const p of figures.partitions) {
    if (p.lag !== null) {
      lag.push({ labels: { topic: p.topic, partition: p.partition }, value: p.lag });
    }
  }

  family("fink_alerts_buffered", "gauge", "Alerts received and still filling a batch")
    .push({ labels: {}, value: figures.totals.buffered });
  family(
    "fink_alerts_in_flight",
    "gauge",
    "Alerts received and not yet archived or quarantined (filling, encoding, writing)",
  ).push({ labels: {}, value: figures.totals.inFlight });
  family("fink_storage_failing", "gauge", "1 while the archive retries a failing storage")
    .push({ labels: {}, value: figures.storageProblem === null ? 0 : 1 });
  family("fink_archive_files_total", "counter", "Parquet files written since the archive started")
    .push({ labels: {}, value: figures.totals.files });
  family("fink_archive_bytes_total", "counter", "Parquet bytes written since the archive started")
    .push({ labels: {}, value: figures.totals.bytes });
  if (figures.lastCommit !== null) {
    const at = Date.parse(figures.lastCommit.at);
    if (Number.isFinite(at)) {
      family("fink_last_commit_timestamp_seconds", "gauge", "Time of the last durable commit")
        .push({ labels: {}, value: at / 1000 });
    }
  }
  const delivery = histograms(
    "fink_archive_latency_seconds",
    "Seconds from an alert's broker timestamp (when it was produced) to its durable commit",
  );
  if (figures.deliverySeconds !== null) {
    delivery.push({ labels: {}, histogram: figures.deliverySeconds });
  }

  const plugin: [string, keyof Figures["plugins"][number], string][] = [
    ["fink_plugin_batches_total", "batches", "Batches a plugin processed"],
    ["fink_plugin_rows_total", "rows", "Result rows a plugin returned"],
    ["fink_plugin_errors_total", "errors", "Batches a plugin failed on"],
    ["fink_plugin_restarts_total", "restarts", "Times a plugin's sandbox was restarted"],
  ];
  for (const [name, field, help] of plugin) {
    const samples = family(name, "counter", help);
    for (const p of figures.plugins) {
      const value = p[field];
      if (typeof value === "number") samples.push({ labels: { plugin: p.name }, value });
    }
  }
  const batches = histograms(
    "fink_plugin_batch_duration_seconds",
    "Seconds a plugin took over a batch, from handing it over to its rows coming back",
  );
  for (const p of figures.plugins) {
    if (p.batchSeconds !== null) {
      batches.push({ labels: { plugin: p.name }, histogram: p.batchSeconds });
    }
  }
  if (figures.classes !== null) {
    const samples = family(
      "fink_classified_total",
      "counter",
      "Alerts per class since the classifier started",
    );
    for (const [name, count] of Object.entries(figures.classes.counts)) {
      samples.push({ labels: { plugin: figures.classes.plugin, class: name }, value: count });
    }
  }

  histograms("fink_http_request_duration_seconds", "Seconds the API took to answer a request")
    .push(...facts.requests ?? []);

  return families.map(render).join("");
}

function render(f: Family): string {
  let text = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  for (const s of f.samples) text += `${f.name}${labelText(s.labels)} ${valueText(s.value)}\n`;
  for (const { labels, histogram } of f.histograms) {
    let cumulative = 0;
    for (const [i, bound] of histogram.bounds.entries()) {
      cumulative += histogram.counts[i];
      const le = labelText({ ...labels, le: valueText(bound) });
      text += `${f.name}_bucket${le} ${cumulative}\n`;
    }
    text += `${f.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${histogram.count}\n`;
    text += `${f.name}_sum${labelText(labels)} ${valueText(histogram.sum)}\n`;
    text += `${f.name}_count${labelText(labels)} ${histogram.count}\n`;
  }
  return text;
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function valueText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
