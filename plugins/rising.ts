/**
 * A filter plugin: ZTF alerts that rose fast. Passes an alert when it is at
 * least `rise_mag` magnitudes brighter than the object's latest earlier
 * detection in the same band, at most `window_days` before; with a positive
 * difference image, a real-bogus score of at least 0.55, and not classified
 * as a Solar System object by classify. The light-curve history it reads
 * (`prv_candidates`) is left out of the SQL filters' table, hence a plugin.
 * Its alerts go to topic `fink_rising_ztf`. Settings under [plugins.rising]:
 * `rise_mag` (default 0.5) and `window_days` (default 10).
 */
import { definePlugin, type PluginRow } from "../core/plugins/define.ts";

let riseMag = 0.5;
let windowDays = 10;

/** The fields the rule reads of a detection (the alert's own or an earlier one). */
interface Detection {
  jd: number;
  fid: number;
  magpsf: number | null;
}

/** The latest detection before `now` in its band and within the window, if any. */
function previous(now: Detection, history: Iterable<Detection | null> | null): Detection | null {
  let latest: Detection | null = null;
  for (const d of history ?? []) {
    if (d === null || d.fid !== now.fid || d.magpsf === null || d.magpsf === undefined) continue;
    if (d.jd >= now.jd || d.jd < now.jd - windowDays) continue;
    if (latest === null || d.jd > latest.jd) latest = d;
  }
  return latest;
}

export default definePlugin({
  name: "rising",
  kind: "filter",
  description: "ZTF alerts 0.5 mag brighter than their previous detection in the same band " +
    "within 10 days (positive, real-bogus >= 0.55, not a Solar System object)",
  columns: ["candid", "candidate", "prv_candidates"],
  science: ["classify"],
  setup(ctx) {
    riseMag = Number(ctx.config.rise_mag ?? riseMag);
    windowDays = Number(ctx.config.window_days ?? windowDays);
  },
  process(batch) {
    if (batch.getChild("candidate") === null) return [];
    const passed: PluginRow[] = [];
    for (const alert of batch) {
      const now = alert.candidate;
      if (now === null || now.magpsf === null || !["t", "1"].includes(now.isdiffpos)) continue;
      if (!(now.rb >= 0.55)) continue;
      const kind = alert.classify?.class ?? "";
      if (kind.startsWith("Solar System")) continue;
      const before = previous(now, alert.prv_candidates);
      if (before !== null && before.magpsf! - now.magpsf >= riseMag) {
        passed.push({ id: alert.candid });
      }
    }
    return passed;
  },
});
