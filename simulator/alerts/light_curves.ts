/**
 * Brightness models of the synthetic object kinds: a supernova-like rise and
 * decline, a periodic variable star, a moving asteroid and bogus detections.
 */
import type { SeededRandom } from "./random.ts";

/** Kinds of synthetic objects. */
export type ObjectKind = "supernova" | "variable" | "asteroid" | "bogus";

/** Brightest and faintest magnitudes a synthetic detection may have. */
export const MAG_RANGE = { bright: 14, faint: 21 } as const;

/** Parameters of one object's light curve; `magnitude()` evaluates it. */
export interface LightCurve {
  /** Magnitude in filter `fid` (1=g, 2=r, 3=i) at Julian date `jd`. */
  magnitude(jd: number, fid: number): number;
  /** Reference (template) magnitude of a source at the position, if there is one. */
  referenceMag: number | null;
}

function clampMag(mag: number): number {
  return Math.min(MAG_RANGE.faint, Math.max(MAG_RANGE.bright, mag));
}

/** A rise of ~`rise` days to a peak then a linear decline, redder as it fades. */
function supernova(random: SeededRandom, jd: number): LightCurve {
  const peakMag = random.uniform(16.5, 19.8);
  const rise = random.uniform(10, 20);
  const peakJd = jd + random.uniform(-40, rise);
  const decline = random.uniform(0.02, 0.05);
  return {
    referenceMag: random.next() < 0.7 ? random.uniform(19, 22) : null,
    magnitude(t: number, fid: number): number {
      const days = t - peakJd;
      const color = fid === 1 ? 0.01 * Math.max(0, days) - 0.1 : fid === 3 ? 0.15 : 0;
      const shape = days < 0 ? 3 * (days / rise) ** 2 : decline * days;
      return clampMag(peakMag + shape + color);
    },
  };
}

/** A sawtooth-like pulsation (fast rise, slow decline) around a mean magnitude. */
function variable(random: SeededRandom): LightCurve {
  const meanMag = random.uniform(14.5, 18.5);
  const amplitude = random.uniform(0.1, 1.2);
  const period = Math.exp(random.uniform(Math.log(0.2), Math.log(300)));
  const phase0 = random.next();
  return {
    referenceMag: meanMag + amplitude * 0.4,
    magnitude(t: number, fid: number): number {
      const phase = (((t / period + phase0) % 1) + 1) % 1;
      const wave = phase < 0.2 ? 0.5 - phase / 0.2 : -0.5 + (phase - 0.2) / 0.8;
      const color = fid === 1 ? 0.3 : fid === 3 ? -0.2 : 0;
      const gain = fid === 1 ? 1.25 : 1;
      return clampMag(meanMag + color + amplitude * gain * wave);
    },
  };
}

/** Nearly constant brightness at a few tenths of a magnitude scatter. */
function steady(random: SeededRandom, range: [number, number]): LightCurve {
  const mag = random.uniform(range[0], range[1]);
  return {
    referenceMag: null,
    magnitude: (_t: number, fid: number) => clampMag(mag + (fid === 1 ? 0.4 : 0)),
  };
}

/** A light curve for a new object of the given kind first seen near `jd`. */
export function makeLightCurve(kind: ObjectKind, random: SeededRandom, jd: number): LightCurve {
  switch (kind) {
    case "supernova":
      return supernova(random, jd);
    case "variable":
      return variable(random);
    case "asteroid":
      return steady(random, [17, 20.5]);
    case "bogus":
      return steady(random, [17.5, 20.8]);
  }
}
