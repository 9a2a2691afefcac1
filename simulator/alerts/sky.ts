/**
 * Plausible sky positions for synthetic objects: the part of the sky ZTF sees, with
 * optional concentration towards the galactic plane (stars) or the ecliptic (asteroids).
 */
import type { SeededRandom } from "./random.ts";

/** An equatorial J2000 position in degrees. */
export interface SkyPosition {
  /** Right ascension in [0, 360). */
  ra: number;
  /** Declination in [-90, 90]. */
  dec: number;
}

/** Southern limit of the simulated survey, like ZTF's from Palomar. */
export const MIN_DEC = -30;

const DEG = Math.PI / 180;
const OBLIQUITY = 23.4392911 * DEG;

/** Galactic to equatorial (J2000) rotation, rows of the transposed IAU matrix. */
const GALACTIC_TO_EQUATORIAL = [
  [-0.0548755604, 0.4941094279, -0.8676661490],
  [-0.8734370902, -0.4448296300, -0.1980763734],
  [-0.4838350155, 0.7469822445, 0.4559837762],
];

function toUnit(lon: number, lat: number): [number, number, number] {
  return [Math.cos(lat) * Math.cos(lon), Math.cos(lat) * Math.sin(lon), Math.sin(lat)];
}

function fromUnit(v: [number, number, number]): SkyPosition {
  const ra = Math.atan2(v[1], v[0]) / DEG;
  return {
    ra: (ra + 360) % 360,
    dec: Math.asin(Math.max(-1, Math.min(1, v[2]))) / DEG,
  };
}

function galacticToEquatorial(l: number, b: number): SkyPosition {
  const g = toUnit(l * DEG, b * DEG);
  const m = GALACTIC_TO_EQUATORIAL;
  return fromUnit([
    m[0][0] * g[0] + m[0][1] * g[1] + m[0][2] * g[2],
    m[1][0] * g[0] + m[1][1] * g[1] + m[1][2] * g[2],
    m[2][0] * g[0] + m[2][1] * g[1] + m[2][2] * g[2],
  ]);
}

function eclipticToEquatorial(lon: number, lat: number): SkyPosition {
  const e = toUnit(lon * DEG, lat * DEG);
  const c = Math.cos(OBLIQUITY);
  const s = Math.sin(OBLIQUITY);
  return fromUnit([e[0], c * e[1] - s * e[2], s * e[1] + c * e[2]]);
}

/** Where on the sky an object kind tends to be. */
export type SkyDistribution = "uniform" | "galactic" | "ecliptic";

function draw(random: SeededRandom, distribution: SkyDistribution): SkyPosition {
  if (distribution === "galactic") {
    return galacticToEquatorial(random.uniform(0, 360), 8 * random.normal());
  }
  if (distribution === "ecliptic") {
    return eclipticToEquatorial(random.uniform(0, 360), 6 * random.normal());
  }
  return {
    ra: random.uniform(0, 360),
    dec: Math.asin(random.uniform(Math.sin(MIN_DEC * DEG), 1)) / DEG,
  };
}

/** A random position north of {@link MIN_DEC} following the given distribution. */
export function randomPosition(
  random: SeededRandom,
  distribution: SkyDistribution,
): SkyPosition {
  for (;;) {
    const position = draw(random, distribution);
    if (position.dec >= MIN_DEC) return position;
  }
}

/** A position offset from `from` by small angles (degrees), kept inside valid ranges. */
export function offsetPosition(from: SkyPosition, dRa: number, dDec: number): SkyPosition {
  const dec = Math.max(-90, Math.min(90, from.dec + dDec));
  const ra = (from.ra + dRa / Math.max(Math.cos(dec * DEG), 1e-6) + 360) % 360;
  return { ra, dec };
}
