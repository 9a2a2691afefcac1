// Live: incoming vs archived alerts per second and the lag, from /api/live (one event a second).
import { getJson } from "./api.js";
import { cssVar, palette, timeLineChart } from "./charts.js";
import { card, fill } from "./dom.js";
import { count, rate, rateWindow } from "./format.js";

const WINDOW_MS = 5 * 60_000;
const $ = (id) => document.getElementById(id);

const inSeries = {
  label: "in (received)",
  data: [],
  borderColor: cssVar("--in"),
  backgroundColor: cssVar("--in"),
};
const outSeries = {
  label: "out (archived)",
  data: [],
  borderColor: cssVar("--out"),
  backgroundColor: cssVar("--out"),
};
const rates = timeLineChart($("rates-chart"), [inSeries, outSeries], { yTitle: "alerts/s" });
const lagTotal = {
  label: "total",
  data: [],
  borderColor: cssVar("--muted"),
  backgroundColor: cssVar("--muted"),
};
const lag = timeLineChart($("lag-chart"), [lagTotal], { yTitle: "messages" });
const lagSeries = new Map();

// Exposed for the browser tests and for poking at the charts from the console.
globalThis.finkLive = { rates, lag };

function lagDataset(key) {
  let ds = lagSeries.get(key);
  if (ds === undefined) {
    const color = palette(lagSeries.size);
    ds = { label: key, data: [], borderColor: color, backgroundColor: color };
    lagSeries.set(key, ds);
    lag.data.datasets.push(ds);
  }
  return ds;
}

function trim(now) {
  for (const ds of [inSeries, outSeries, lagTotal, ...lagSeries.values()]) {
    while (ds.data.length > 0 && ds.data[0].x < now - WINDOW_MS) ds.data.shift();
  }
  for (const chart of [rates, lag]) {
    chart.options.scales.x.min = now - WINDOW_MS;
    chart.options.scales.x.max = now;
  }
}

function onSnapshot(s) {
  // The first event repeats the newest sample, which the history (per whole second) may already hold.
  const last = inSeries.data.at(-1);
  if (last === undefined || last.x < Math.floor(s.t / 1000) * 1000) {
    inSeries.data.push({ x: s.t, y: s.rates.inPerSecond });
    outSeries.data.push({ x: s.t, y: s.rates.outPerSecond });
    if (s.lag.total !== null) lagTotal.data.push({ x: s.t, y: s.lag.total });
  }
  for (const p of s.lag.partitions) {
    if (p.lag !== null) lagDataset(`${p.topic}[${p.partition}]`).data.push({ x: s.t, y: p.lag });
  }
  trim(s.t);
  rates.update("none");
  lag.update("none");
  fill(
    $("cards"),
    card("In", `${rate(s.rates.inPerSecond)} /s`, `${rate(s.rates.mbInPerSecond)} MB/s`),
    card("Archived", `${rate(s.rates.outPerSecond)} /s`, rateWindow(s.rates)),
    card("Received", count(s.totals.received)),
    card("Archived total", count(s.totals.archived), `${count(s.totals.quarantined)} quarantined`),
    card("Lag", count(s.lag.total)),
  );
}

function connected(on, text) {
  $("live-dot").className = `dot ${on ? "on" : "off"}`;
  $("live-state").textContent = text;
}

async function backfill() {
  const now = Date.now();
  try {
    const history = await getJson(`/api/history?from=${now - WINDOW_MS}&to=${now}&step=1`);
    for (const p of history.points) {
      inSeries.data.push({ x: p.t, y: p.in });
      outSeries.data.push({ x: p.t, y: p.out });
      if (p.lag !== null) lagTotal.data.push({ x: p.t, y: p.lag });
    }
  } catch {
    // No history yet: the live events fill the chart.
  }
}

await backfill();
const source = new EventSource("/api/live");
source.addEventListener("snapshot", (e) => {
  connected(true, "live");
  onSnapshot(JSON.parse(e.data));
});
source.addEventListener("open", () => connected(true, "live"));
source.addEventListener("error", () => connected(false, "reconnecting…"));
