/**
 * Early classification from catalog matches and alert fields, after Fink
 * (fink-filters `ztf/classification.py` extract_fink_classification_ and
 * fink-science `asteroids/processor.py` roid_catcher), keeping only the parts
 * that need no machine learning and no remote service:
 *
 * 1. If any catalog matched, the class is the value reported by the first
 *    matching catalog in priority order (Fink likewise lets a SIMBAD match win
 *    over every other tag). Empty values are skipped.
 * 2. Otherwise the solar-system tags, from the alert itself:
 *    - ZTF "Solar System MPC" (Fink roid = 3): a known asteroid within 5″
 *      (0 ≤ ssdistnr < 5), closer than the nearest PS1 source
 *      (|distpsnr1| − ssdistnr > 0), with ndethist ≤ 5 and at most 5 detections
 *      in the alert history.
 *    - ZTF "Solar System candidate" (Fink roid = 2): PS1 counterpart unlikely a
 *      star (sgscore1 < 0.76), ndethist ≤ 2, no PS1 source within (0, 5)″, and —
 *      as Fink — not when there are exactly 2 detections in the history more than
 *      30 minutes apart, nor when ndethist = 2 with only this detection in the history.
 *    - Rubin "Solar System MPC": the alert carries an `ssSource` or its
 *      diaSource has a non-zero `ssObjectId` (Rubin associated it to a known
 *      solar-system object).
 * 3. Otherwise "Unknown". There is no "Fail": every catalog is local.
 *
 * Fink's ML tags (SN, Early SN Ia, Kilonova, Microlensing candidates, Ambiguous)
 * and the tracklet tag need model outputs this module does not have.
 */

/** Class when nothing matched and no rule fired. */
export const UNKNOWN = "Unknown";
/** Class of an alert associated with a known solar-system object (Fink roid = 3). */
export const SOLAR_SYSTEM_MPC = "Solar System MPC";
/** Class of an alert that looks like an unknown moving object (Fink roid = 2). */
export const SOLAR_SYSTEM_CANDIDATE = "Solar System candidate";

/** ZTF candidate fields the solar-system rules read; NaN for null. */
export interface ZtfAsteroidFields {
  /** Distance to the nearest known solar-system object in arcsec, -999 when none. */
  ssdistnr: number;
  /** Distance to the nearest PS1 source in arcsec. */
  distpsnr1: number;
  /** Star/galaxy score of the nearest PS1 source (1 = star). */
  sgscore1: number;
  /** Number of detections at this position since the survey began. */
  ndethist: number;
  /** Detections in the alert (previous candidates with a magnitude, plus this one); NaN when unknown. */
  nalerthist: number;
  /** Days between this alert and the previous entry of its history; NaN when unknown. */
  lastGapDays: number;
}

/** Fink's `roid` flag for a ZTF alert: 3 known asteroid, 2 candidate, 1 first detection, 0 otherwise. */
export function ztfRoidFlag(f: ZtfAsteroidFields): 0 | 1 | 2 | 3 {
  let flag: 0 | 1 | 2 | 3 = 0;
  if (f.ndethist === 1) flag = 1;
  if (f.sgscore1 < 0.76 && f.ndethist <= 2) flag = 2;
  if (f.distpsnr1 > 0 && f.distpsnr1 < 5) flag = 0;
  if (f.nalerthist === 2 && f.lastGapDays > 30 / (24 * 60)) flag = 0;
  // Without the history Fink's last check cannot be made, so ndethist = 2 stays unflagged.
  if (f.ndethist === 2 && !(f.nalerthist > 1)) flag = 0;
  const historyOk = Number.isNaN(f.nalerthist) || f.nalerthist <= 5;
  if (
    f.ssdistnr >= 0 && f.ssdistnr < 5 && Math.abs(f.distpsnr1) - f.ssdistnr > 0 &&
    f.ndethist <= 5 && historyOk
  ) {
    flag = 3;
  }
  return flag;
}

/** The solar-system class for a Fink roid flag, or null for flags 0 and 1. */
export function solarSystemClass(roid: number): string | null {
  return roid === 3 ? SOLAR_SYSTEM_MPC : roid === 2 ? SOLAR_SYSTEM_CANDIDATE : null;
}

/** Whether a Rubin alert is associated with a known solar-system object. */
export function rubinIsSolarSystem(
  ssObjectId: bigint | number | null | undefined,
  hasSsSource: boolean,
): boolean {
  return hasSsSource || (ssObjectId !== null && ssObjectId !== undefined && ssObjectId != 0);
}

/**
 * The class of one alert: the first non-empty catalog value in priority order,
 * else the solar-system class, else {@link UNKNOWN}.
 */
export function classify(
  catalogValues: readonly (string | null)[],
  solarSystem: string | null,
): string {
  for (const v of catalogValues) {
    if (v !== null && v !== "") return v;
  }
  return solarSystem ?? UNKNOWN;
}
