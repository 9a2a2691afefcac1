/**
 * A ZTF alert's light curve as Fink's anomaly module builds it (fink_science
 * ztf/ad_features/processor.py at 8.41.0): the alert's own candidate plus its
 * prv_candidates, upper limits and NaN dropped, converted to DC magnitudes when a
 * reference source lies under any point, sorted by jd, de-duplicated on (jd, fid),
 * split into bands g (fid 1) and r (fid 2).
 */
import type { BandCurve } from "./features.ts";

/** One photometric point of a ZTF alert (candidate or prv_candidate fields). */
export interface Point {
  jd: number;
  fid: number;
  /** null for an upper limit. */
  magpsf: number | null;
  sigmapsf: number | null;
  distnr: number | null;
  magnr: number | null;
  sigmagnr: number | null;
  isdiffpos: string | null;
}

/**
 * The g (fid 1) and r (fid 2) light curves of an alert: null when the band never appears in
 * the alert, empty when it has upper limits only (Fink then publishes all-NaN features).
 */
export interface AlertCurves {
  g: BandCurve | null;
  r: BandCurve | null;
}

/** fink_utils is_source_behind: a reference-catalog source within 1.5 pixels. */
function sourceBehind(distnr: number | null): boolean {
  return distnr !== null && distnr >= 0 && distnr <= 1.5;
}

/**
 * DC magnitude and error from a difference magnitude (fink_utils vect_dc_mag, ZTF Science
 * Data System Explanatory Supplement p. 107); NaN when the flux is not positive or the
 * reference is missing.
 */
export function dcMagnitude(p: Point): [number, number] {
  const magnr = p.magnr === null || p.magnr < 0 ? NaN : p.magnr;
  const sigmagnr = p.sigmagnr ?? NaN;
  const magpsf = p.magpsf ?? NaN;
  const sigmapsf = p.sigmapsf ?? NaN;
  const differenceFlux = 10 ** (-0.4 * magpsf);
  const differenceSigma = (sigmapsf / 1.0857) * differenceFlux;
  const refFlux = 10 ** (-0.4 * magnr);
  const refSigma = (sigmagnr / 1.0857) * refFlux;
  const positive = p.isdiffpos === "t" || p.isdiffpos === "1";
  const flux = positive ? refFlux + differenceFlux : refFlux - differenceFlux;
  const sigma = Math.sqrt(differenceSigma ** 2 + refSigma ** 2);
  return [-2.5 * Math.log10(flux), sigma / flux * 1.0857];
}

const valid = (x: number | null): x is number => x !== null && !Number.isNaN(x);

/** Builds the g and r light curves of one alert from its points (history and candidate). */
export function alertCurves(points: readonly Point[]): AlertCurves {
  const kept = points.filter((p) => valid(p.magpsf) && valid(p.sigmapsf));
  // Any point of any band behind a source turns the whole curve into DC magnitudes.
  const dc = kept.some((p) => sourceBehind(p.distnr));
  const rows: { jd: number; fid: number; m: number; s: number }[] = [];
  for (const p of kept) {
    let m = p.magpsf as number;
    let s = p.sigmapsf as number;
    if (dc) {
      [m, s] = dcMagnitude(p);
      if (Number.isNaN(m) || Number.isNaN(s)) continue;
    }
    rows.push({ jd: p.jd, fid: p.fid, m, s });
  }
  rows.sort((a, b) => a.jd - b.jd);
  const band = (fid: number): BandCurve | null => {
    const t: number[] = [];
    const m: number[] = [];
    const sigma: number[] = [];
    for (const row of rows) {
      if (row.fid !== fid) continue;
      if (t.length > 0 && t[t.length - 1] === row.jd) continue;
      t.push(row.jd);
      m.push(row.m);
      sigma.push(row.s);
    }
    if (t.length === 0 && !points.some((p) => p.fid === fid)) return null;
    return { t: Float64Array.from(t), m: Float64Array.from(m), sigma: Float64Array.from(sigma) };
  };
  return { g: band(1), r: band(2) };
}
