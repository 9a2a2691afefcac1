// Overview: the process's figures from /api/status, refreshed every two seconds.
import { every, getJson } from "./api.js";
import { card, el, fill, stateBadge, table } from "./dom.js";
import { ago, bytes, count, duration, rate, rateWindow } from "./format.js";

const $ = (id) => document.getElementById(id);

function render(s) {
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

every(2000, async () => render(await getJson("/api/status")), $("offline"));
