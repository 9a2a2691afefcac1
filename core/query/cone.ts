/**
 * Cone geometry: the ranges of `healpix_nest_10` pixels a cone may touch (a
 * superset, from HEALPix's inclusive disc query at a coarser order), and the
 * exact angular separation the engine filters on.
 */
import { ang2vec, order2nside, query_disc_inclusive_nest } from "@hscmap/healpix";
import { SKY_PIXEL_ORDER } from "../archive/sky_pixel.ts";

const DEG = Math.PI / 180;
/**
 * Ranges beyond this are merged by querying at a coarser order: each range is one branch of
 * the engine's query (a fixed cost), each pixel outside the cone rows read for nothing.
 */
const MAX_RANGES = 24;

/** Inclusive ranges of order-10 NESTED pixels covering a cone. */
export function coneRanges(raDeg: number, decDeg: number, radiusDeg: number): [number, number][] {
  const v = ang2vec((90 - decDeg) * DEG, raDeg * DEG);
  // Start at the order whose pixels are about a quarter of the cone's radius (the pixels cover
  // about twice the cone's area), then coarsen until the ranges are few.
  let order = Math.min(SKY_PIXEL_ORDER, Math.max(0, Math.floor(Math.log2(60 / radiusDeg)) + 2));
  for (;; order--) {
    const pixels: number[] = [];
    query_disc_inclusive_nest(order2nside(order), v, radiusDeg * DEG, (p) => pixels.push(p));
    const ranges = merge(pixels.sort((a, b) => a - b), 2 * (SKY_PIXEL_ORDER - order));
    if (ranges.length <= MAX_RANGES || order === 0) return ranges;
  }
}

function merge(pixels: number[], shift: number): [number, number][] {
  const scale = 2 ** shift;
  const ranges: [number, number][] = [];
  for (const p of pixels) {
    const lo = p * scale;
    const hi = (p + 1) * scale - 1;
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last[1] + 1 >= lo) last[1] = Math.max(last[1], hi);
    else ranges.push([lo, hi]);
  }
  return ranges;
}

/** SQL for the separation in degrees between (`ra`,`dec`) and ($ra, $dec), haversine. */
export function separationSql(ra: string, dec: string): string {
  return `degrees(2 * asin(sqrt(
    power(sin(radians(${dec} - $dec) / 2), 2) +
    cos(radians(${dec})) * cos(radians($dec)) * power(sin(radians(${ra} - $ra) / 2), 2))))`;
}

/** Haversine separation in degrees (the same formula, for callers outside SQL). */
export function separationDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const s = Math.sin(((dec1 - dec2) * DEG) / 2) ** 2 +
    Math.cos(dec1 * DEG) * Math.cos(dec2 * DEG) * Math.sin(((ra1 - ra2) * DEG) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(s)))) / DEG;
}
