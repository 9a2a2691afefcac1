// chart.js (loaded by the page from /vendor/chart.umd.js) with the dashboard's look.
import { clock } from "./format.js";

/** The global Chart of the UMD bundle. */
export const Chart = globalThis.Chart;

/** A CSS custom property of the page (colors follow light and dark themes). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Distinct colors for many series (classes, partitions). */
export function palette(i) {
  const hue = (i * 137.508) % 360;
  return `hsl(${hue.toFixed(0)} 65% 50%)`;
}

/** A line chart over time (x in epoch ms) with the given datasets; options: yTitle, tickMs. */
export function timeLineChart(canvas, datasets, options = {}) {
  const text = cssVar("--muted");
  const grid = cssVar("--line");
  return new Chart(canvas, {
    type: "line",
    data: { datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0.2 } },
      scales: {
        x: {
          type: "linear",
          ticks: { color: text, maxRotation: 0, autoSkipPadding: 16, callback: (v) => clock(v) },
          grid: { color: grid },
          // Ticks on whole minutes (or options.tickMs) rather than wherever the window starts.
          afterBuildTicks: (axis) => {
            const step = options.tickMs ?? 60_000;
            const first = Math.ceil(axis.min / step) * step;
            const ticks = [];
            for (let v = first; v <= axis.max; v += step) ticks.push({ value: v });
            axis.ticks = ticks;
          },
        },
        y: {
          beginAtZero: true,
          title: { display: Boolean(options.yTitle), text: options.yTitle ?? "", color: text },
          ticks: { color: text },
          grid: { color: grid },
        },
      },
      plugins: {
        legend: { labels: { color: text, boxWidth: 12 } },
        tooltip: {
          callbacks: { title: (items) => (items.length ? clock(items[0].parsed.x) : "") },
        },
      },
    },
  });
}
