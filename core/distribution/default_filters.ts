/**
 * The filters shipped on by default (`distribution.default_filters`), for ZTF
 * alerts and the `classify` and `anomaly` plugins. A configured or posted
 * filter with the same name replaces one of these.
 */
import type { FilterDefinition } from "./sql_filter.ts";

/** The built-in filters. */
export const DEFAULT_FILTERS: readonly FilterDefinition[] = [
  {
    name: "catalog_match",
    description: "Every alert that classify matched in a catalog (GCVS, SPICY, 3HSP, 4LAC, TNS)",
    where: `classify.gcvs_name IS NOT NULL OR classify.spicy_name IS NOT NULL ` +
      `OR classify."3hsp_name" IS NOT NULL OR classify."4lac_name" IS NOT NULL ` +
      `OR classify.tns_name IS NOT NULL`,
  },
  {
    name: "anomalies",
    description: "Alerts the anomaly plugin scores below -0.05 (the lower, the stranger)",
    where: "anomaly.anomaly_score < -0.05",
  },
  {
    name: "bright_transients",
    description: "Bright (mag < 18) new transients: a positive, real-bogus-clean detection " +
      "with little history, away from stars and known asteroids",
    where: "candidate.magpsf < 18 AND candidate.isdiffpos IN ('t', '1') " +
      "AND candidate.ndethist <= 2 AND candidate.rb >= 0.5 " +
      "AND (candidate.ssdistnr IS NULL OR candidate.ssdistnr < 0 OR candidate.ssdistnr > 12) " +
      "AND (candidate.sgscore1 IS NULL OR candidate.sgscore1 < 0.5 OR candidate.distpsnr1 > 1.5)",
  },
];
