/**
 * The golden per-alert values in `expected/alert-index/*.csv` (read by
 * fastavro from the shared alert files), for end-to-end comparisons.
 */
import { sharedData } from "../shared_data.ts";

/** One row of an alert-index CSV, by column name. */
export type IndexRow = Record<string, string>;

/** Reads one alert-index CSV (no quoted fields occur in these files). */
export async function readAlertIndex(name: string): Promise<IndexRow[]> {
  const text = await Deno.readTextFile(sharedData("expected/alert-index", name));
  const [header, ...lines] = text.trim().split("\n");
  const columns = header.split(",");
  return lines.map((line) => {
    const cells = line.split(",");
    return Object.fromEntries(columns.map((c, i) => [c, cells[i]]));
  });
}

/** UTC hour folder `YYYY/MM/dd/hh` of a Julian Date. */
export function jdHour(jd: number): string {
  const d = new Date((jd - 2440587.5) * 86_400_000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${
    two(d.getUTCHours())
  }`;
}

/** The ZTF alert folders with an index, and their index file. */
export const ZTF_FOLDERS: readonly [string, string][] = [
  ["ztf/alerts/fink-broker-local-20200101", "ztf_fink-broker-local-20200101.csv"],
  ["ztf/alerts/fink-broker-all-distribute-20231018", "ztf_fink-broker-all-distribute-20231018.csv"],
  ["ztf/alerts/fink-alert-simulator-v3.1-20181129", "ztf_fink-alert-simulator-v3.1-20181129.csv"],
  ["ztf/alerts/fink-client", "ztf_fink-client.csv"],
  ["ztf/alerts/ztf-avro-alert", "ztf_ztf-avro-alert.csv"],
  ["ztf/alerts/fink-alert-schemas", "ztf_fink-alert-schemas.csv"],
];
