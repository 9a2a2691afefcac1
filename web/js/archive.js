// Archive: alerts (or files, bytes) per hour folder as a heat map, and the topic-partitions.
import { every, getJson } from "./api.js";
import { card, el, fill, table } from "./dom.js";
import { ago, bytes, count } from "./format.js";

const DAYS_SHOWN = 31;
const $ = (id) => document.getElementById(id);
let last = null;

/** "2024/05/01/03" or "year=2024/month=05/day=01/hour=03" → { day: "2024-05-01", hour: 3 }. */
function parseHour(path) {
  const m = /(\d{4})\D+(\d{1,2})\D+(\d{1,2})\D+(\d{1,2})/.exec(path);
  if (m === null) return null;
  const p = (s) => s.padStart(2, "0");
  return { day: `${m[1]}-${p(m[2])}-${p(m[3])}`, hour: Number(m[4]) };
}

/** Value per topic, day and hour for the chosen metric. */
function cells(doc, metric) {
  const source = metric === "alerts" ? doc.hours : doc.index?.hours ?? [];
  const out = new Map();
  for (const h of source) {
    const at = parseHour(h.hour);
    if (at === null) continue;
    const key = `${h.topic}\u0000${at.day}`;
    const row = out.get(key) ?? { topic: h.topic, day: at.day, values: new Array(24).fill(0) };
    row.values[at.hour] += h[metric] ?? 0;
    out.set(key, row);
  }
  return [...out.values()].sort((a, b) =>
    a.topic.localeCompare(b.topic) || a.day.localeCompare(b.day)
  );
}

function renderHeatmap(doc, metric) {
  const rows = cells(doc, metric);
  const byTopic = new Map();
  for (const r of rows) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
  const shown = [...byTopic.values()].flatMap((rs) => rs.slice(-DAYS_SHOWN));
  const max = Math.max(0, ...shown.flatMap((r) => r.values));
  const format = metric === "bytes" ? bytes : count;
  const grid = $("heatmap");
  grid.style.gridTemplateColumns = "max-content repeat(24, minmax(14px, 1fr))";
  if (shown.length === 0) {
    grid.style.gridTemplateColumns = "1fr";
    fill(
      grid,
      el(
        "p",
        { class: "muted" },
        metric === "alerts"
          ? "Nothing archived since the archive started."
          : "No listing of the storage.",
      ),
    );
    $("max").textContent = "";
    return;
  }
  const head = [el("div", { class: "head" }, "UTC")];
  for (let h = 0; h < 24; h++) {
    head.push(el("div", { class: "head" }, h % 3 === 0 ? String(h).padStart(2, "0") : ""));
  }
  const body = shown.flatMap((r) => [
    el("div", { class: "day" }, byTopic.size > 1 ? `${r.topic} ${r.day}` : r.day),
    ...r.values.map((v, h) => {
      // Log scale: busy hours do not wash out the quiet ones.
      const level = v === 0 || max === 0 ? 0 : 0.15 + 0.85 * (Math.log1p(v) / Math.log1p(max));
      return el("div", {
        class: "cell",
        title: `${r.topic} ${r.day} ${String(h).padStart(2, "0")}:00 UTC: ${format(v)}`,
        "data-value": v,
        style: v === 0 ? undefined : `background: rgba(47, 111, 222, ${level.toFixed(3)})`,
      });
    }),
  ]);
  fill(grid, head, body);
  $("max").textContent = `max ${format(max)} per hour`;
}

function render(doc) {
  last = doc;
  $("location").textContent = doc.storage ?? "";
  $("index-error").hidden = doc.indexError === null;
  $("index-error").textContent = doc.indexError ?? "";
  const index = doc.index;
  fill(
    $("cards"),
    card("Archived", count(doc.totals.archived), "alerts since start"),
    card(
      "Quarantined",
      count(doc.totals.quarantined),
      index ? `${count(index.quarantine.files)} files kept` : "",
    ),
    card("Files written", count(doc.totals.files), bytes(doc.totals.bytes)),
    card(
      "Hour folders",
      count(index ? index.hours.length : doc.hours.length),
      index ? "in storage" : "this run",
    ),
    card(
      "Storage used",
      index ? bytes(index.used.bytes) : "–",
      index ? `listed ${ago(index.listedAt)}` : "",
    ),
    card("Last commit", ago(doc.lastCommit?.at)),
  );
  renderHeatmap(doc, $("metric").value);
  fill(
    $("partitions"),
    doc.partitions.length === 0 ? el("p", { class: "muted" }, "No partition assigned yet.") : table(
      [
        "Topic",
        "Partition",
        { text: "Received", num: true },
        { text: "Archived", num: true },
        { text: "Quarantined", num: true },
        { text: "Bytes in", num: true },
        { text: "Committed", num: true },
        { text: "Lag", num: true },
      ],
      doc.partitions.map((p) => [
        p.topic,
        p.partition,
        { text: count(p.received), num: true },
        { text: count(p.archived), num: true },
        { text: count(p.quarantined), num: true },
        { text: bytes(p.bytesIn), num: true },
        { text: p.committedOffset ?? "–", num: true },
        { text: count(p.lag), num: true },
      ]),
    ),
  );
}

$("metric").addEventListener("change", () => {
  if (last !== null) renderHeatmap(last, $("metric").value);
});
every(10_000, async () => render(await getJson("/api/archive")), $("offline"));
