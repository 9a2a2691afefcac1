// Overview: the process's figures from /api/status, refreshed every two seconds, and, while
// this node's archive is in a consumer group, the group as Kafka describes it (/api/group:
// every node's member), every five.
import { every, getJson } from "./api.js";
import { card, el, fill, stateBadge, table } from "./dom.js";
import { ago, bytes, count, duration, rate, rateWindow } from "./format.js";

const $ = (id) => document.getElementById(id);
/** Whether the last status said this node is a member of a consumer group. */
let inGroup = false;

function render(s) {
  inGroup = s.group !== null;
  $("process").textContent = `Fink ${s.process.version} · pid ${s.process.pid} · up ${
    duration(s.process.uptimeSeconds)
  }`;
  const problems = [...s.problems];
  const archive = s.services.find((x) => x.name === "archive");
  if (archive?.state === "failed") {
    problems.unshift(`The archive stopped: ${archive.error}; start it again once fixed`);
  }
  if (archive?.state === "running" && !s.connected) {
    problems.unshift("The archive's source is not connected");
  }
  $("problems").hidden = problems.length === 0;
  $("problems").textContent = problems.join(" · ");

  const used = s.storage.used
    ? `${bytes(s.storage.used.bytes)} in storage`
    : s.storage.location ?? "";
  fill(
    $("cards"),
    card("In", `${rate(s.rates.inPerSecond)} /s`, `${rate(s.rates.mbInPerSecond)} MB/s`),
    card(
      "Archived",
      `${rate(s.rates.outPerSecond)} /s`,
      `archived or quarantined, ${rateWindow(s.rates)}`,
    ),
    card("Received", count(s.totals.received), `${count(s.totals.inFlight)} in flight`),
    card("Archived", count(s.totals.archived), `${count(s.totals.files)} files`),
    card("Quarantined", count(s.totals.quarantined)),
    card("Lag", count(s.lag.total), `${s.lag.partitions.length} partitions`),
    card("Written", bytes(s.storage.bytesWritten), used),
    card(
      "Last commit",
      ago(s.lastCommit?.at),
      s.lastCommit ? `${s.lastCommit.topic}[${s.lastCommit.partition}]` : "",
    ),
  );

  fill(
    $("services"),
    table(
      ["Name", "Kind", "State", "Description", "Error"],
      s.services.map((
        x,
      ) => [x.name, x.kind, stateBadge(x.details?.state ?? x.state), x.description, x.error ?? ""]),
    ),
  );
  fill(
    $("partitions"),
    s.partitions.length === 0 ? el("p", { class: "muted" }, "No partition assigned yet.") : table(
      ["Topic", "Partition", { text: "Received", num: true }, { text: "Archived", num: true }, {
        text: "Committed",
        num: true,
      }, { text: "Lag", num: true }],
      s.partitions.map((p) => [
        p.topic,
        p.partition,
        { text: count(p.received), num: true },
        { text: count(p.archived), num: true },
        { text: p.committedOffset ?? "–", num: true },
        { text: count(p.lag), num: true },
      ]),
    ),
  );
  const errors = s.errors.slice(-10).reverse();
  fill(
    $("errors"),
    errors.length === 0
      ? el("li", { class: "muted" }, "No errors.")
      : errors.map((e) =>
        el("li", {}, el("strong", {}, e.service), " ", e.at ? `(${ago(e.at)}) ` : "", e.message)
      ),
  );
}

/** Partitions as `topic[0,3,5]`, one entry per topic. */
function partitionList(partitions) {
  const byTopic = new Map();
  for (const p of partitions) byTopic.set(p.topic, [...byTopic.get(p.topic) ?? [], p.partition]);
  return [...byTopic].map(([topic, numbers]) => `${topic}[${numbers.join(",")}]`).join(" ") || "–";
}

async function renderGroup() {
  $("group-panel").hidden = !inGroup;
  if (!inGroup) return;
  const res = await fetch("/api/group", { headers: { accept: "application/json" } });
  const g = await res.json();
  if (!res.ok) {
    $("group-state").textContent = "";
    fill($("group"), el("p", { class: "muted" }, g.error));
    return;
  }
  $("group-state").textContent = `${g.group} · ${g.state} · ${g.members.length} member${
    g.members.length === 1 ? "" : "s"
  }`;
  const rows = g.members.map((m) => [
    el("span", {}, m.clientId, m.self ? el("span", { class: "badge" }, " this node") : null),
    el("code", {}, m.memberId.slice(-12)),
    m.clientHost,
    partitionList(m.partitions),
    { text: count(m.lag), num: true },
  ]);
  if (g.unassigned.length > 0) {
    rows.push([
      el("em", {}, "no member"),
      "",
      "",
      partitionList(g.unassigned),
      { text: count(g.unassigned.reduce((n, p) => n + p.lag, 0)), num: true },
    ]);
  }
  fill(
    $("group"),
    rows.length === 0
      ? el("p", { class: "muted" }, "The group has no member.")
      : table(["Client", "Member", "Host", "Partitions", { text: "Lag", num: true }], rows),
  );
}

every(2000, async () => render(await getJson("/api/status")), $("offline"));
every(5000, renderGroup);
