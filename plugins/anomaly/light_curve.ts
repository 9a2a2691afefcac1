/**
 * A ZTF alert's light curve as Fink's anomaly module builds it (fink_science
 * ztf/ad_features/processor.py at 8.41.0): the alert's own candidate plus its
 * prv_candidates, upper limits and NaN dropped, converted to DC magnitudes when a
 * reference source lies under any point, sorted by jd, de-duplicated on (jd, fid),
 * split into bands g (fid 1) and r (fid 2).
 *
 * Points are read from flat columns (alert_points.ts), an alert's points being a range of
 * rows, so that a batch of thousands of alerts builds no object per point.
 */
import type { BandCurve } from "./features.ts";

/**
 * Photometric points as columns (candidate and prv_candidates fields), NaN where a field is
 * null (`magpsf` is null for an upper limit).
 */
export interface PointColumns {
  jd: Float64Array;
  fid: Float64Array;
  magpsf: Float64Array;
  sigmapsf: Float64Array;
  distnr: Float64Array;
  magnr: Float64Array;
  sigmagnr: Float64Array;
  /** 1 where `isdiffpos` says the difference is positive ("t" or "1"), else 0. */
  positive: Uint8Array;
}

/**
 * The g (fid 1) and r (fid 2) light curves of an alert: null when the band never appears in
 * the alert, empty when it has upper limits only (Fink then publishes all-NaN features).
 */
export interface AlertCurves {
  g: BandCurve | null;
  r: BandCurve | null;
}

/** fink_utils is_source_behind: a reference-catalog source within 1.5 pixels (NaN: none). */
function sourceBehind(distnr: number): boolean {
  return distnr >= 0 && distnr <= 1.5;
}

/**
 * DC magnitude and error of point `i` from its difference magnitude (fink_utils vect_dc_mag,
 * ZTF Science Data System Explanatory Supplement p. 107); NaN when the flux is not positive
 * or the reference is missing.
 */
export function dcMagnitude(points: PointColumns, i: number): [number, number] {
  const magnr = points.magnr[i] < 0 ? NaN : points.magnr[i];
  const differenceFlux = 10 ** (-0.4 * points.magpsf[i]);
  const differenceSigma = (points.sigmapsf[i] / 1.0857) * differenceFlux;
  const refFlux = 10 ** (-0.4 * magnr);
  const refSigma = (points.sigmagnr[i] / 1.0857) * refFlux;
  const flux = points.positive[i] === 1 ? refFlux + differenceFlux : refFlux - differenceFlux;
  const sigma = Math.sqrt(differenceSigma ** 2 + refSigma ** 2);
  return [-2.5 * Math.log10(flux), sigma / flux * 1.0857];
}

/** Builds the g and r light curves of the alert whose points are rows `from` to `to` - 1. */
export function alertCurves(points: PointColumns, from: number, to: number): AlertCurves {
  const { jd, fid, magpsf, sigmapsf } = points;
  const kept: number[] = [];
  // Any point of any band behind a source turns the whole curve into DC magnitudes.
  let dc = false;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(magpsf[i]) || Number.isNaN(sigmapsf[i])) continue;
    kept.push(i);
    if (sourceBehind(points.distnr[i])) dc = true;
  }
  const m = new Float64Array(to - from);
  const s = new Float64Array(to - from);
  const rows: number[] = [];
  for (const i of kept) {
    let [mi, si] = [magpsf[i], sigmapsf[i]];
    if (dc) {
      [mi, si] = dcMagnitude(points, i);
      if (Number.isNaN(mi) || Number.isNaN(si)) continue;
    }
    m[i - from] = mi;
    s[i - from] = si;
    rows.push(i);
  }
  // Stable on jd: of points with the same jd, the first in the alert (history first) is kept.
  rows.sort((a, b) => jd[a] - jd[b] || a - b);
  const band = (band: number): BandCurve | null => {
    let present = false;
    for (let i = from; i < to && !present; i++) present = fid[i] === band;
    if (!present) return null;
    const t: number[] = [];
    const mags: number[] = [];
    const sigma: number[] = [];
    for (const i of rows) {
      if (fid[i] !== band) continue;
      if (t.length > 0 && t[t.length - 1] === jd[i]) continue;
      t.push(jd[i]);
      mags.push(m[i - from]);
      sigma.push(s[i - from]);
    }
    return { t: Float64Array.from(t), m: Float64Array.from(mags), sigma: Float64Array.from(sigma) };
  };
  return { g: band(1), r: band(2) };
}
