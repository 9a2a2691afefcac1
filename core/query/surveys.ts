/**
 * What the query engine needs to know of a survey's alerts, as SQL
 * expressions over one archived row: ZTF (`objectId`, `candid`,
 * `candidate.*`) and Rubin (`diaSource.diaObjectId`, `diaSourceId`,
 * `diaSource.*`). The survey of a topic is recognised from its columns.
 */

/** SQL expressions over one archived alert row (and its upper limits). */
export interface Survey {
  name: "ztf" | "rubin";
  /** The column that tells this survey's rows apart. */
  marker: string;
  /** The top-level columns the expressions below read (what the engine's index needs). */
  indexColumns: readonly string[];
  objectId: string;
  alertId: string;
  /** Julian Date (UTC) of the detection. */
  jd: string;
  ra: string;
  dec: string;
  band: string;
  mag: string;
  magerr: string;
  /** Limiting magnitude of the difference image, when known. */
  diffmaglim: string;
  isdiffpos: string;
  /** Reference (template) magnitude and error, for DC magnitudes. */
  magnr: string;
  sigmagnr: string;
  /** Cutout bytes by kind. */
  cutouts: Record<CutoutKind, string>;
  /**
   * A FROM-clause over the upper limits (non-detections) carried by alerts of
   * `files`, yielding objectId, jd, band, diffmaglim; null when the survey sends none.
   */
  upperLimits: string | null;
  /** The column the upper limits come from. */
  upperLimitsColumn: string | null;
}

/** The three cutouts of an alert. */
export type CutoutKind = "Science" | "Template" | "Difference";

/** Rubin fluxes are in nJy: AB magnitude = 31.4 − 2.5 log10(flux). */
const NJY_ZERO_POINT = 31.4;

export const ZTF: Survey = {
  name: "ztf",
  marker: "candidate",
  indexColumns: ["objectId", "candid", "candidate"],
  objectId: "objectId",
  alertId: "candid",
  jd: "candidate.jd",
  ra: "candidate.ra",
  dec: "candidate.dec",
  band: "(['g','r','i'])[candidate.fid]",
  mag: "candidate.magpsf::DOUBLE",
  magerr: "candidate.sigmapsf::DOUBLE",
  diffmaglim: "candidate.diffmaglim::DOUBLE",
  isdiffpos: "candidate.isdiffpos",
  magnr: "candidate.magnr::DOUBLE",
  sigmagnr: "candidate.sigmagnr::DOUBLE",
  cutouts: {
    Science: "cutoutScience.stampData",
    Template: "cutoutTemplate.stampData",
    Difference: "cutoutDifference.stampData",
  },
  upperLimits: `(select objectId, p.jd as jd, (['g','r','i'])[p.fid] as band,
      p.diffmaglim::DOUBLE as diffmaglim
    from (select objectId, unnest(prv_candidates) as p from alerts)
    where p.magpsf is null)`,
  upperLimitsColumn: "prv_candidates",
};

export const RUBIN: Survey = {
  name: "rubin",
  marker: "diaSource",
  indexColumns: ["diaSourceId", "diaSource"],
  objectId: "diaSource.diaObjectId::VARCHAR",
  alertId: "diaSourceId",
  jd: "(diaSource.midpointMjdTai + 2400000.5)",
  ra: "diaSource.ra",
  dec: "diaSource.dec",
  band: "diaSource.band",
  mag:
    `case when diaSource.psfFlux > 0 then ${NJY_ZERO_POINT} - 2.5 * log10(diaSource.psfFlux) end`,
  magerr:
    "case when diaSource.psfFlux > 0 then 1.0857 * diaSource.psfFluxErr / diaSource.psfFlux end",
  diffmaglim: "null::DOUBLE",
  isdiffpos: "case when diaSource.isNegative then 'f' else 't' end",
  magnr: "null::DOUBLE",
  sigmagnr: "null::DOUBLE",
  cutouts: {
    Science: "cutoutScience",
    Template: "cutoutTemplate",
    Difference: "cutoutDifference",
  },
  upperLimits: null,
  upperLimitsColumn: null,
};

/** Every survey the engine knows. */
export const SURVEYS: readonly Survey[] = [ZTF, RUBIN];

/** The survey whose rows have these top-level columns, or null. */
export function surveyOf(columns: readonly string[]): Survey | null {
  return SURVEYS.find((s) => columns.includes(s.marker)) ?? null;
}

/** The light-curve columns of a topic's rows, as a SELECT list over its alerts. */
export function lightCurveSelect(topic: string, s: Survey): string {
  return `'${topic.replaceAll("'", "''")}' as topic, ${s.objectId} as objectId,
    ${s.alertId}::VARCHAR as alertId, ${s.jd} as jd, ${s.ra} as ra, ${s.dec} as dec,
    ${s.band} as band, ${s.mag} as mag, ${s.magerr} as magerr, ${s.diffmaglim} as diffmaglim,
    ${s.isdiffpos} as isdiffpos, ${s.magnr} as magnr, ${s.sigmagnr} as sigmagnr, 'valid' as tag`;
}
