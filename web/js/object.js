// The object page: light curve per band (error bars, upper limits, DC magnitudes), the three
// cutouts of the latest alert (zscale PNGs from the API), classification and the alerts table.
import { getJson } from "./api.js";
import { Chart, cssVar, palette } from "./charts.js";
import { el, fill } from "./dom.js";

const $ = (id) => document.getElementById(id);
const objectId = new URLSearchParams(location.search).get("objectId");
const BAND_COLORS = {
  g: "#2ca02c",
  r: "#d62728",
  i: "#8c564b",
  u: "#9467bd",
  z: "#7f7f7f",
  y: "#e377c2",
};

/** DC magnitude and error from a difference magnitude and the reference's (ZTF's recipe). */
export function dcMag(row) {
  if (row.mag === null || row.magnr === null) return null;
  const ref = 10 ** (-0.4 * row.magnr);
  const sign = row.isdiffpos === "t" || row.isdiffpos === "1" ? 1 : -1;
  const flux = ref + sign * 10 ** (-0.4 * row.mag);
  if (!(flux > 0)) return null;
  const err = Math.hypot(ref * (row.sigmagnr ?? 0), 10 ** (-0.4 * row.mag) * (row.magerr ?? 0)) /
    flux;
  return { mag: -2.5 * Math.log10(flux), err };
}

/** Draws each point's vertical error bar (chart.js has none built in). */
const errorBars = {
  id: "errorBars",
  afterDatasetsDraw(chart) {
    const { ctx, scales: { y } } = chart;
    ctx.save();
    chart.data.datasets.forEach((dataset, i) => {
      if (dataset.upperLimits || !chart.isDatasetVisible(i)) return;
      const meta = chart.getDatasetMeta(i);
      ctx.strokeStyle = dataset.borderColor;
      dataset.data.forEach((p, j) => {
        if (!(p.err > 0)) return;
        const x = meta.data[j].x;
        ctx.beginPath();
        ctx.moveTo(x, y.getPixelForValue(p.y - p.err));
        ctx.lineTo(x, y.getPixelForValue(p.y + p.err));
        ctx.stroke();
      });
    });
    ctx.restore();
  },
};

function datasets(rows, dc) {
  const bands = [...new Set(rows.map((r) => r.band ?? "?"))].sort();
  const out = [];
  bands.forEach((band, k) => {
    const color = BAND_COLORS[band] ?? palette(k);
    const detections = [];
    const limits = [];
    for (const r of rows.filter((row) => (row.band ?? "?") === band)) {
      if (r.tag === "upperlim") {
        if (r.diffmaglim !== null) limits.push({ x: r.jd - 2400000.5, y: r.diffmaglim });
        continue;
      }
      const value = dc ? dcMag(r) : r.mag === null ? null : { mag: r.mag, err: r.magerr };
      if (value !== null) detections.push({ x: r.jd - 2400000.5, y: value.mag, err: value.err });
    }
    out.push({
      label: `${band} detections`,
      data: detections,
      borderColor: color,
      backgroundColor: color,
      pointRadius: 4,
      showLine: false,
    });
    out.push({
      label: `${band} upper limits`,
      data: limits,
      upperLimits: true,
      borderColor: color,
      backgroundColor: "transparent",
      pointStyle: "triangle",
      rotation: 180,
      pointRadius: 5,
      showLine: false,
    });
  });
  return out;
}

function lightCurve(rows) {
  const text = cssVar("--muted");
  const grid = cssVar("--line");
  const chart = new Chart($("lightcurve"), {
    type: "scatter",
    data: { datasets: datasets(rows, false) },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: {
          title: { display: true, text: "MJD", color: text },
          ticks: { color: text },
          grid: { color: grid },
        },
        y: {
          reverse: true,
          title: { display: true, text: "magnitude", color: text },
          ticks: { color: text },
          grid: { color: grid },
        },
      },
      plugins: { legend: { labels: { color: text } } },
    },
    plugins: [errorBars],
  });
  $("dc").addEventListener("change", () => {
    chart.data.datasets = datasets(rows, $("dc").checked);
    chart.update();
  });
  return chart;
}

function cutouts(latest) {
  fill(
    $("cutouts"),
    ["Science", "Template", "Difference"].map((kind) =>
      el(
        "figure",
        {},
        el("img", {
          src: `/api/v1/cutouts?${new URLSearchParams({
            candid: latest.alertId,
            kind,
            stretch: "zscale",
          })}`,
          alt: `${kind} cutout`,
          "data-kind": kind,
        }),
        el("figcaption", {}, kind),
      )
    ),
  );
}

function facts(rows, latest) {
  const detections = rows.filter((r) => r.tag !== "upperlim");
  const classes = [...new Set(detections.map((r) => r.class).filter((c) => c))];
  const scores = detections.map((r) => r.anomaly_score).filter((s) =>
    s !== null && s !== undefined
  );
  const pairs = [
    ["survey topic", latest.topic],
    ["position", `${latest.ra.toFixed(6)} ${latest.dec >= 0 ? "+" : ""}${latest.dec.toFixed(6)}`],
    ["classification", classes.length > 0 ? classes.join(", ") : "none yet"],
    ["anomaly score", scores.length > 0 ? Math.min(...scores).toFixed(4) : "none yet"],
    ["alerts", String(detections.length)],
    ["upper limits", String(rows.length - detections.length)],
  ];
  fill(
    $("facts"),
    pairs.flatMap(([k, v]) => [el("span", { class: "muted" }, k), el("span", {}, v)]),
  );
}

function table(rows) {
  const columns = [
    "jd",
    "band",
    "mag",
    "magerr",
    "diffmaglim",
    "isdiffpos",
    "tag",
    "alertId",
    "class",
  ];
  const cell = (v) => typeof v === "number" ? String(+v.toFixed(5)) : v ?? "";
  fill(
    $("alerts"),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", {}, cell(r[c])))))),
    ),
  );
}

async function main() {
  if (!objectId) {
    $("problem").hidden = false;
    $("problem").textContent =
      "Give an objectId: object.html?objectId=ZTF…, or use the search box.";
    return;
  }
  $("title").textContent = objectId;
  document.title = `Fink · ${objectId}`;
  try {
    const rows = await getJson(
      `/api/v1/objects?${new URLSearchParams({ objectId, withupperlim: "true" })}`,
    );
    const detections = rows.filter((r) => r.tag !== "upperlim");
    if (detections.length === 0) {
      $("problem").hidden = false;
      $("problem").textContent = `No alert of ${objectId} is in the archive.`;
      return;
    }
    const latest = detections.at(-1);
    $("summary").textContent = `${detections.length} alert${
      detections.length === 1 ? "" : "s"
    } · latest JD ${latest.jd.toFixed(5)}`;
    const chart = lightCurve(rows);
    cutouts(latest);
    facts(rows, latest);
    table(rows);
    globalThis.finkObject = { chart, rows };
  } catch (e) {
    $("problem").hidden = false;
    $("problem").textContent = e.message;
  }
}

main();
