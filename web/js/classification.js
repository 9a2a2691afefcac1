// Classification: class counts per interval (stacked bars) and the recent classified alerts.
import { every, getJson } from "./api.js";
import { Chart, cssVar, palette } from "./charts.js";
import { el, fill, table } from "./dom.js";
import { count, dateTime } from "./format.js";

const TOP = 10;
const $ = (id) => document.getElementById(id);
const text = cssVar("--muted");
const grid = cssVar("--line");

const chart = new Chart($("classes-chart"), {
  type: "bar",
  data: { labels: [], datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: {
      x: {
        stacked: true,
        ticks: { color: text, maxRotation: 0, autoSkipPadding: 12 },
        grid: { color: grid },
      },
      y: { stacked: true, beginAtZero: true, ticks: { color: text }, grid: { color: grid } },
    },
    plugins: { legend: { position: "bottom", labels: { color: text, boxWidth: 12 } } },
  },
});
globalThis.finkClassification = { chart };

function render(doc) {
  const notice = $("notice");
  notice.hidden = doc.plugin !== null && doc.plugin.state === "running";
  notice.textContent = doc.plugin === null
    ? "No classify plugin is registered: put plugins/classify.ts in place and start it."
    : `The ${doc.plugin.name} plugin is ${doc.plugin.state}; counts resume when it runs.`;

  const top = doc.classes.slice(0, TOP);
  const rest = doc.classes.slice(TOP);
  chart.data.labels = doc.points.map((p) => dateTime(p.t));
  chart.data.datasets = [
    ...top.map((name, i) => ({
      label: name,
      data: doc.points.map((p) => p.counts[name] ?? 0),
      backgroundColor: palette(i),
    })),
    ...(rest.length === 0 ? [] : [{
      label: `other (${rest.length} classes)`,
      data: doc.points.map((p) => rest.reduce((n, name) => n + (p.counts[name] ?? 0), 0)),
      backgroundColor: grid,
    }]),
  ];
  chart.update("none");

  const total = Object.values(doc.totals).reduce((a, b) => a + b, 0);
  fill(
    $("totals"),
    total === 0
      ? el("p", { class: "muted" }, "No classified alerts in this range.")
      : scrollBox(table(
        ["Class", { text: "Alerts", num: true }, { text: "Share", num: true }],
        doc.classes.filter((c) => doc.totals[c]).map((c) => [
          c,
          { text: count(doc.totals[c]), num: true },
          { text: `${((100 * doc.totals[c]) / total).toFixed(1)} %`, num: true },
        ]),
      )),
  );

  const columns = recentColumns(doc.recent, doc.column);
  fill(
    $("recent"),
    doc.recent.length === 0 ? el("p", { class: "muted" }, "No classified alert yet.") : table(
      columns.map((c) => HEADERS[c] ?? c),
      doc.recent.map((row) =>
        columns.map((c) => row[c] === null || row[c] === undefined ? "" : String(row[c]))
      ),
    ),
  );
}

/** Keeps a long table to a box of its own height, scrolled. */
function scrollBox(node) {
  return el("div", { class: "scroll-box" }, node);
}

/** Astronomers name alerts by object (ZTF objectId, Rubin diaObjectId); the alert id is beside it. */
const HEADERS = { objectId: "Object", id: "Alert id" };

/** Object, alert id and the class first, then the other columns some recent row fills (8 in all). */
function recentColumns(rows, classColumn) {
  const filled = new Set();
  for (const row of rows) {
    for (const [key, value] of Object.entries(row)) {
      if (value !== null && value !== "") filled.add(key);
    }
  }
  const first = ["objectId", "id", classColumn];
  const rest = [...filled].filter((k) => !first.includes(k));
  return [...first, ...rest].slice(0, 8);
}

let span = Number($("range").value);
async function refresh() {
  const now = Date.now();
  render(await getJson(`/api/classification?from=${now - span}&to=${now}`));
}
$("range").addEventListener("change", () => {
  span = Number($("range").value);
  refresh().catch((e) => {
    $("offline").hidden = false;
    $("offline").textContent = `Cannot reach the API: ${e.message}`;
  });
});
every(10_000, refresh, $("offline"));
