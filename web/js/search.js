// The search box of every page: an objectId opens its object page; a position (degrees or
// sexagesimal) and a radius in arcsec ("197.59 7.35 60") opens the cone search results.
import { el } from "./dom.js";

/** Where a search text leads, or null when it is neither an objectId nor a position. */
export function searchTarget(text) {
  const parts = text.trim().split(/[\s,]+/).filter((p) => p !== "");
  if (parts.length === 1) return `/object.html?objectId=${encodeURIComponent(parts[0])}`;
  let radius = "10";
  let coords = parts;
  if (parts.length === 3 || parts.length === 7) {
    radius = parts.at(-1);
    coords = parts.slice(0, -1);
  }
  if (coords.length !== 2 && coords.length !== 6) return null;
  const half = coords.length / 2;
  const ra = coords.slice(0, half).join(":");
  const dec = coords.slice(half).join(":");
  const q = new URLSearchParams({ ra, dec, radius });
  return `/explorer.html?${q}`;
}

function install() {
  if (!document.querySelector('link[href="/query.css"]')) {
    document.head.append(el("link", { rel: "stylesheet", href: "/query.css" }));
  }
  const header = document.querySelector("header.top");
  if (header === null || header.querySelector("form.search")) return;
  const input = el("input", {
    type: "search",
    name: "q",
    placeholder: "objectId, or ra dec radius″",
    "aria-label": "Search an objectId or a position",
  });
  const form = el(
    "form",
    { class: "search", role: "search" },
    input,
    el("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = searchTarget(input.value);
    if (target === null) {
      input.setCustomValidity("Type an objectId, or ra dec and a radius in arcsec");
      input.reportValidity();
      return;
    }
    location.href = target;
  });
  input.addEventListener("input", () => input.setCustomValidity(""));
  header.append(form);
  const nav = header.querySelector("nav");
  if (nav !== null && !nav.querySelector('a[href="/explorer.html"]')) {
    nav.append(el("a", { href: "/explorer.html" }, "Explorer"));
  }
}

install();
