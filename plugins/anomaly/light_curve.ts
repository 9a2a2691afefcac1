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
 * ZTF Science Data System Explanatory Supplement p. 107), written to `out[at]`; NaN when the
 * flux is not positive or the reference is missing.
 */
function dcMagnitude(
  points: PointColumns,
  i: number,
  out: { m: Float64Array; s: Float64Array; at: number },
): void {
  const magnr = points.magnr[i] < 0 ? NaN : points.magnr[i];
  const differenceFlux = 10 ** (-0.4 * points.magpsf[i]);
  const differenceSigma = (points.sigmapsf[i] / 1.0857) * differenceFlux;
  const refFlux = 10 ** (-0.4 * magnr);
  const refSigma = (points.sigmagnr[i] / 1.0857) * refFlux;
  const flux = points.positive[i] === 1 ? refFlux + differenceFlux : refFlux - differenceFlux;
  const sigma = Math.sqrt(differenceSigma ** 2 + refSigma ** 2);
  out.m[out.at] = -2.5 * Math.log10(flux);
  out.s[out.at] = sigma / flux * 1.0857;
}

/** Scratch space for the alert being built, grown as needed (alerts have tens of points). */
const scratch = {
  rows: new Int32Array(64),
  m: new Float64Array(64),
  s: new Float64Array(64),
  band: { t: new Float64Array(64), m: new Float64Array(64), sigma: new Float64Array(64) },
  at: 0,
};

function reserve(size: number): void {
  if (scratch.rows.length >= size) return;
  const n = 2 * size;
  scratch.rows = new Int32Array(n);
  scratch.m = new Float64Array(n);
  scratch.s = new Float64Array(n);
  scratch.band = { t: new Float64Array(n), m: new Float64Array(n), sigma: new Float64Array(n) };
}

/** Builds the g and r light curves of the alert whose points are rows `from` to `to` - 1. */
export function alertCurves(points: PointColumns, from: number, to: number): AlertCurves {
  const { jd, fid, magpsf, sigmapsf } = points;
  reserve(to - from);
  const { rows, m, s } = scratch;
  // Upper limits and NaN dropped; any point of any band behind a source turns the whole
  // curve into DC magnitudes.
  let kept = 0;
  let dc = false;
  for (let i = from; i < to; i++) {
    if (Number.isNaN(magpsf[i]) || Number.isNaN(sigmapsf[i])) continue;
    rows[kept++] = i;
    if (sourceBehind(points.distnr[i])) dc = true;
  }
  let n = 0;
  for (let k = 0; k < kept; k++) {
    const i = rows[k];
    if (dc) {
      scratch.at = n;
      dcMagnitude(points, i, scratch);
      if (Number.isNaN(m[n]) || Number.isNaN(s[n])) continue;
    } else {
      m[n] = magpsf[i];
      s[n] = sigmapsf[i];
    }
    rows[n++] = i;
  }
  // Sorted by jd, stably (an insertion sort: tens of points), so that of points with the same
  // jd the first in the alert (history first) is the one kept.
  for (let a = 1; a < n; a++) {
    const row = rows[a];
    const ma = m[a];
    const sa = s[a];
    let b = a - 1;
    for (; b >= 0 && jd[rows[b]] > jd[row]; b--) {
      rows[b + 1] = rows[b];
      m[b + 1] = m[b];
      s[b + 1] = s[b];
    }
    rows[b + 1] = row;
    m[b + 1] = ma;
    s[b + 1] = sa;
  }
  const band = (band: number): BandCurve | null => {
    let present = false;
    for (let i = from; i < to && !present; i++) present = fid[i] === band;
    if (!present) return null;
    const { t, m: mags, sigma } = scratch.band;
    let c = 0;
    for (let k = 0; k < n; k++) {
      const i = rows[k];
      if (fid[i] !== band || (c > 0 && t[c - 1] === jd[i])) continue;
      t[c] = jd[i];
      mags[c] = m[k];
      sigma[c] = s[k];
      c++;
    }
    return { t: t.slice(0, c), m: mags.slice(0, c), sigma: sigma.slice(0, c) };
  };
  return { g: band(1), r: band(2) };
}
