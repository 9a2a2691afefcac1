// The explorer: cone search results (from the search box), latest alerts by class, and the
// most anomalous alerts; every objectId links to its object page.
import { getJson } from "./api.js";
import { el, fill } from "./dom.js";

const $ = (id) => document.getElementById(id);

function objectLink(id) {
  return el("a", { href: `/object.html?objectId=${encodeURIComponent(id)}` }, id);
}

function rowsTable(rows, columns) {
  if (rows.length === 0) return el("p", { class: "muted" }, "No alerts.");
  const cell = (r, c) =>
    c === "objectId"
      ? objectLink(r[c])
      : typeof r[c] === "number"
      ? String(+r[c].toFixed(5))
      : r[c] ?? "";
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", {}, cell(r, c)))))),
  );
}

async function cone() {
  const params = new URLSearchParams(location.search);
  if (!params.has("ra")) return;
  $("cone-panel").hidden = false;
  const radius = params.get("radius") ?? "10";
  $("cone-title").textContent = `Cone search: ${params.get("ra")} ${params.get("dec")}, ${radius}″`;
  try {
    const rows = await getJson(`/api/v1/conesearch?${params}`);
    fill(
      $("cone"),
      rowsTable(rows, ["objectId", "separation", "ra", "dec", "jd", "band", "mag", "class"]),
    );
  } catch (e) {
    $("cone-problem").hidden = false;
    $("cone-problem").textContent = e.message;
  }
}

async function latests() {
  const classes = await getJson("/api/v1/classes");
  if (classes.length === 0) return;
  fill(
    $("class"),
    classes.map((c) => el("option", { value: c.class }, `${c.class} (${c.alerts})`)),
  );
  const show = async () => {
    const rows = await getJson(
      `/api/v1/latests?${new URLSearchParams({ class: $("class").value, n: "50" })}`,
    );
    fill($("latests"), rowsTable(rows, ["objectId", "jd", "ra", "dec", "band", "mag", "class"]));
  };
  $("class").addEventListener("change", show);
  await show();
}

async function anomalous() {
  const answer = await getJson("/api/v1/anomaly?n=50");
  if (!Array.isArray(answer)) {
    fill($("anomalous"), el("p", { class: "muted" }, answer.note));
    return;
  }
  fill(
    $("anomalous"),
    rowsTable(answer, ["objectId", "anomaly_score", "jd", "band", "mag", "class"]),
  );
}

cone();
latests().catch((e) => fill($("latests"), el("p", { class: "muted" }, e.message)));
anomalous().catch((e) => fill($("anomalous"), el("p", { class: "muted" }, e.message)));
