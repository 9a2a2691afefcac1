/**
 * A pool of pre-rendered, gzipped 63x63 FITS cutout triples (science, template,
 * difference). Rendering and compressing images is far slower than building an alert,
 * so the pool is made once per process and alerts pick the closest match.
 */
import { gzipSync } from "node:zlib";
import { encodeFitsImage } from "./fits.ts";
import { SeededRandom } from "./random.ts";

/** Side of a cutout in pixels, as in ZTF. */
export const CUTOUT_SIZE = 63;

/** Zero point used to turn magnitudes into image counts. */
const ZERO_POINT = 26;
const PSF_SIGMA = 1.05;
const SKY = 150;
const SCIENCE_NOISE = 9;
const TEMPLATE_NOISE = 3;
const LEVELS = [14, 15, 16, 17, 18, 19, 20, 21];
const VARIANTS = 2;
const POOL_SEED = 0x46494e4b;

/** What the stamp shows: a variable star, a transient on a host galaxy, a bare point source or an artifact. */
export type CutoutScene = "star" | "host" | "bare" | "artifact";

/** Gzipped FITS files of one alert's three stamps. */
export interface CutoutTriple {
  /** Science image (`cutoutScience`). */
  science: Uint8Array;
  /** Reference image (`cutoutTemplate`). */
  template: Uint8Array;
  /** Difference image (`cutoutDifference`). */
  difference: Uint8Array;
}

function flux(mag: number): number {
  return 10 ** (-0.4 * (mag - ZERO_POINT));
}

function addGaussian(
  image: Float32Array,
  total: number,
  shape: { x: number; y: number; sx: number; sy: number },
): void {
  const norm = total / (2 * Math.PI * shape.sx * shape.sy);
  for (let y = 0; y < CUTOUT_SIZE; y++) {
    const dy = (y - shape.y) / shape.sy;
    for (let x = 0; x < CUTOUT_SIZE; x++) {
      const dx = (x - shape.x) / shape.sx;
      image[y * CUTOUT_SIZE + x] += norm * Math.exp(-0.5 * (dx * dx + dy * dy));
    }
  }
}

function noiseImage(random: SeededRandom, level: number, sigma: number): Float32Array {
  const image = new Float32Array(CUTOUT_SIZE * CUTOUT_SIZE);
  for (let i = 0; i < image.length; i++) {
    image[i] = Math.round((level + sigma * random.normal()) * 16) / 16;
  }
  return image;
}

function gzipFits(image: Float32Array, kind: string): Uint8Array {
  const fits = encodeFitsImage(image, { width: CUTOUT_SIZE, height: CUTOUT_SIZE }, {
    ORIGIN: "Fink stream simulator",
    IMAGETYP: kind,
    BUNIT: "DN",
    MAGZP: ZERO_POINT,
    SEEING: 2.0,
  });
  return gzipSync(fits);
}

interface Layers {
  template: Float32Array;
  science: Float32Array;
  difference: Float32Array;
}

function renderScene(
  random: SeededRandom,
  scene: CutoutScene,
  mag: number,
  positive: boolean,
): Layers {
  const centre = (CUTOUT_SIZE - 1) / 2;
  const psf = { x: centre, y: centre, sx: PSF_SIGMA, sy: PSF_SIGMA };
  const template = noiseImage(random, SKY, TEMPLATE_NOISE);
  const science = noiseImage(random, SKY, SCIENCE_NOISE);
  const difference = noiseImage(random, 0, Math.hypot(SCIENCE_NOISE, TEMPLATE_NOISE));
  const change = flux(mag);
  if (scene === "star") {
    const reference = change * 1.5;
    addGaussian(template, reference, psf);
    addGaussian(science, positive ? reference + change : reference - change, psf);
    addGaussian(difference, positive ? change : -change, psf);
  } else if (scene === "host") {
    const galaxy = {
      x: centre + random.uniform(-4, 4),
      y: centre + random.uniform(-4, 4),
      sx: random.uniform(2.5, 5),
      sy: random.uniform(2, 4),
    };
    const galaxyFlux = flux(random.uniform(17.5, 19.5));
    addGaussian(template, galaxyFlux, galaxy);
    addGaussian(science, galaxyFlux, galaxy);
    addGaussian(science, change, psf);
    addGaussian(difference, change, psf);
  } else if (scene === "bare") {
    addGaussian(science, change, psf);
    addGaussian(difference, change, psf);
  } else {
    const streak = { x: centre, y: centre, sx: random.uniform(4, 8), sy: 0.45 };
    addGaussian(science, change, streak);
    addGaussian(difference, change, streak);
  }
  return { template, science, difference };
}

/** Pre-rendered cutouts indexed by scene, magnitude level, sign of the difference and variant. */
export class CutoutPool {
  readonly #triples = new Map<string, CutoutTriple[]>();

  /** Renders every combination; takes a fraction of a second. */
  constructor() {
    const random = new SeededRandom(POOL_SEED);
    const scenes: CutoutScene[] = ["star", "host", "bare", "artifact"];
    for (const scene of scenes) {
      for (const level of LEVELS) {
        for (const positive of scene === "star" ? [true, false] : [true]) {
          const variants: CutoutTriple[] = [];
          for (let v = 0; v < VARIANTS; v++) {
            const layers = renderScene(random, scene, level, positive);
            variants.push({
              science: gzipFits(layers.science, "science"),
              template: gzipFits(layers.template, "template"),
              difference: gzipFits(layers.difference, "difference"),
            });
          }
          this.#triples.set(`${scene}/${level}/${positive}`, variants);
        }
      }
    }
  }

  /** The triple closest to the given scene, difference magnitude and sign. */
  pick(
    scene: CutoutScene,
    mag: number,
    options: { positive: boolean; random: SeededRandom },
  ): CutoutTriple {
    const level = Math.min(LEVELS.at(-1)!, Math.max(LEVELS[0], Math.round(mag)));
    const positive = scene === "star" ? options.positive : true;
    return options.random.pick(this.#triples.get(`${scene}/${level}/${positive}`)!);
  }
}

let shared: CutoutPool | null = null;

/** The process-wide pool, rendered on first use. */
export function sharedCutoutPool(): CutoutPool {
  shared ??= new CutoutPool();
  return shared;
}
