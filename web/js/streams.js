// Streams: each filter's topic with alerts in, passed, published, rate and error, and its last alerts.
import { every, getJson } from "./api.js";
import { el, fill, table } from "./dom.js";
import { count, rate } from "./format.js";

const $ = (id) => document.getElementById(id);
const fixed = (n, digits) => (typeof n === "number" ? n.toFixed(digits) : "");

function render(doc) {
  $("summary").textContent = doc.lag === null || doc.lag === undefined
    ? "The distribution is not running: start it with `deno task start distribute`."
    : `Archived alerts not yet distributed: ${count(doc.lag)}` +
      (doc.error ? ` · last error: ${doc.error}` : "");
  fill(
    $("filters"),
    table(
      [
        "Filter",
        "Topic",
        "Rule",
        { text: "In", num: true },
        { text: "Passed", num: true },
        { text: "Published", num: true },
        { text: "Alerts/s", num: true },
        "Error",
      ],
      doc.streams.map((s) => [
        s.name,
        el("code", {}, s.topic),
        el("code", {}, s.where),
        { text: count(s.in), num: true },
        { text: count(s.passed), num: true },
        { text: count(s.published), num: true },
        { text: rate(s.rate), num: true },
        s.error ?? "",
      ]),
    ),
  );
  fill(
    $("recent"),
    ...doc.streams.map((s) =>
      el(
        "section",
        { class: "panel", "data-topic": s.topic },
        el("h2", {}, `Last alerts of ${s.topic}`),
        s.recent.length === 0 ? el("p", { class: "muted" }, "None published yet.") : table(
          ["objectId", "Alert id", { text: "RA", num: true }, { text: "Dec", num: true }, {
            text: "mag",
            num: true,
          }, "Class"],
          s.recent.map((a) => [
            a.objectId ?? "",
            a.id ?? "",
            { text: fixed(a.ra, 5), num: true },
            { text: fixed(a.dec, 5), num: true },
            { text: fixed(a.magpsf, 2), num: true },
            a.class ?? "",
          ]),
        ),
      )
    ),
  );
}

every(2000, async () => render(await getJson("/api/streams")), $("status"));
