// Building page elements without innerHTML, so values from the API are never parsed as markup.

/** Creates an element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== "style") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Replaces the children of `parent`. */
export function fill(parent, ...children) {
  parent.replaceChildren(
    ...children.flat().filter((c) => c !== null && c !== undefined && c !== false),
  );
}

/** A state badge: running, stopped, failed ... */
export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, "data-state": state }, state);
}

/** A figure card. */
export function card(label, value, sub) {
  return el(
    "div",
    { class: "card" },
    el("div", { class: "label" }, label),
    el("div", { class: "value" }, value),
    sub ? el("div", { class: "sub" }, sub) : null,
  );
}

/** A table with a header row; `rows` are arrays of cells (a cell is text, a Node or { text, num }). */
export function table(headers, rows) {
  const cell = (tag, c) => {
    if (c !== null && typeof c === "object" && !(c instanceof Node)) {
      return el(tag, { class: c.num ? "num" : undefined }, c.text);
    }
    return el(tag, {}, c);
  };
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, headers.map((h) => cell("th", h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => cell("td", c))))),
    ),
  );
}
