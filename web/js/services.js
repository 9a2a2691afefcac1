// Services and plugins: state, permissions, counters, and start/stop with the control token.
import { every, getJson, postControl, savedToken, saveToken } from "./api.js";
import { el, fill, stateBadge, table } from "./dom.js";
import { count, rate } from "./format.js";

const $ = (id) => document.getElementById(id);
let pending = null;

function permissions(p) {
  if (!p) return "";
  const parts = Object.entries(p).filter(([, v]) => Array.isArray(v) && v.length > 0);
  if (parts.length === 0) return "none";
  return el(
    "span",
    {},
    parts.map(([k, v]) => el("div", {}, el("strong", {}, `${k}: `), v.join(", "))),
  );
}

function render(services) {
  fill(
    $("services"),
    table(
      [
        "Name",
        "State",
        "",
        "Kind",
        "Permissions",
        { text: "Batches", num: true },
        { text: "Rows", num: true },
        { text: "Errors", num: true },
        { text: "ms/batch", num: true },
        { text: "Restarts", num: true },
        "Last error",
      ],
      services.map((s) => {
        const d = s.details ?? {};
        const plugin = s.kind === "plugin";
        const running = s.state === "running" || s.state === "starting";
        return [
          el("span", { title: s.description }, s.name),
          stateBadge(plugin && d.state && s.state === "running" ? d.state : s.state),
          el(
            "button",
            {
              type: "button",
              "data-service": s.name,
              "data-action": running ? "stop" : "start",
              onclick: () => control(s.name, running ? "stop" : "start"),
            },
            running ? "Stop" : "Start",
          ),
          s.kind,
          plugin ? permissions(d.permissions) : "",
          { text: plugin ? count(d.batches) : "", num: true },
          { text: plugin ? count(d.rows) : "", num: true },
          { text: plugin ? count(d.errors) : "", num: true },
          {
            text: plugin && d.avgMsPerBatch !== null && d.avgMsPerBatch !== undefined
              ? rate(d.avgMsPerBatch)
              : "",
            num: true,
          },
          { text: plugin ? count(d.restarts) : "", num: true },
          s.error ?? d.lastError ?? "",
        ];
      }),
    ),
  );
}

/** Bin labels of a ranking: below the first edge, between edges, from the last one. */
function binLabels(edges) {
  if (edges.length === 0) return ["all"];
  return [
    `< ${edges[0]}`,
    ...edges.slice(1).map((e, i) => `${edges[i]} to ${e}`),
    `≥ ${edges.at(-1)}`,
  ];
}

// A plugin that ranks its rows (anomaly: lowest scores first) gets a panel: how many rows were
// ranked, their distribution and the most notable rows of the last hour.
function renderRankings(services) {
  const panels = [];
  for (const s of services) {
    const r = s.details?.summary?.ranking;
    if (!r) continue;
    const labels = binLabels(r.edges);
    panels.push(el(
      "section",
      { class: "panel", "data-ranking": s.name },
      el("h2", {}, `${s.name}: ${r.column}`),
      el("p", { class: "muted" }, `${count(r.counted)} ranked, ${count(r.nulls)} without a value`),
      table(labels, [r.counts.map((n) => ({ text: count(n), num: true }))]),
      el(
        "h3",
        {},
        `Most notable of the last hour (${r.order === "ascending" ? "lowest" : "highest"} first)`,
      ),
      table(
        ["Alert id", { text: r.column, num: true }],
        r.top.map((row) => [String(row.id), { text: String(row[r.column]), num: true }]),
      ),
    ));
  }
  fill($("rankings"), ...panels);
}

async function refresh() {
  const { services } = await getJson("/api/services");
  render(services);
  renderRankings(services);
}

function askToken(reason) {
  $("token-form").hidden = false;
  $("token-error").textContent = reason;
  $("token").focus();
}

async function control(name, action) {
  const token = savedToken();
  if (token === null) {
    pending = { name, action };
    askToken("");
    return;
  }
  $("message").textContent = `${action === "stop" ? "Stopping" : "Starting"} ${name}…`;
  let res;
  try {
    res = await postControl(`/api/services/${encodeURIComponent(name)}/${action}`, token);
  } catch (e) {
    $("message").textContent = `Cannot reach the API: ${e.message}`;
    return;
  }
  if (res.status === 401) {
    saveToken(null);
    pending = { name, action };
    askToken(res.body.error);
    $("message").textContent = "";
    return;
  }
  $("message").textContent = res.status === 200
    ? `${name} is ${res.body.state}`
    : `Cannot ${action} ${name}: ${res.body.error}`;
  await refresh().catch(() => {});
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  saveToken($("token").value.trim());
  $("token").value = "";
  $("token-form").hidden = true;
  const next = pending;
  pending = null;
  if (next !== null) control(next.name, next.action);
});

every(2000, refresh, $("offline"));
