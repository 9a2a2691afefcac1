// Number, size and time formatting shared by the pages.

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count with thousands separators; "–" when unknown. */
export function count(n) {
  return n === null || n === undefined ? "–" : integer.format(n);
}

/** A rate with one decimal. */
export function rate(n) {
  return n === null || n === undefined ? "–" : decimal.format(n);
}

/** What the in and out rates average over: "over 60 s" (both come from the same two samples). */
export function rateWindow(rates) {
  return rates?.windowSeconds > 0 ? `over ${integer.format(rates.windowSeconds)} s` : "";
}

/** A byte size in B, kB, MB, GB or TB. */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? integer.format(n) : decimal.format(n)} ${units[i]}`;
}

/** "12 s ago", "3 min ago", ... for an ISO time; "never" when null. */
export function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${decimal.format(s / 3600)} h ago`;
  return `${decimal.format(s / 86400)} d ago`;
}

/** A duration in seconds as "1 d 2 h", "3 h 4 min", "5 min 6 s". */
export function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

/** Local clock time of epoch ms, HH:MM:SS. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/** Local date and time of epoch ms, short. */
export function dateTime(ms) {
  return new Date(ms).toLocaleString(undefined, {
    hour12: false,
    dateStyle: "short",
    timeStyle: "short",
  });
}
