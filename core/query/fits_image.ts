/**
 * Cutouts as images: the primary HDU of a (gzipped) FITS cutout read into a
 * float array, and its display stretches (linear, log, asinh, zscale as in
 * IRAF/astropy: a line fitted to the sorted sample, with the usual contrast
 * 0.25), mapped to 8-bit grey levels.
 */
import { gunzipSync } from "node:zlib";

/** A 2-D image, row 0 at the bottom as FITS stores it. */
export interface FitsImage {
  width: number;
  height: number;
  /** Pixel values, NaN where blank. */
  data: Float64Array;
}

/** Display stretches of {@link toGrey}. */
export const STRETCHES = ["linear", "log", "asinh", "zscale"] as const;
/** A display stretch. */
export type Stretch = typeof STRETCHES[number];

const CARD = 80;
const BLOCK = 2880;

/**
 * Reads the primary image of FITS bytes, gunzipping them first when gzipped.
 *
 * @throws Error when the bytes are not a 2-D FITS image
 */
export function readFitsImage(bytes: Uint8Array): FitsImage {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? new Uint8Array(gunzipSync(bytes)) : bytes;
  const header = new Map<string, string>();
  let pos = 0;
  for (let end = false; !end; pos += CARD) {
    if (pos + CARD > raw.length) throw new Error("The cutout is not FITS: no END card found");
    const card = new TextDecoder().decode(raw.subarray(pos, pos + CARD));
    const key = card.slice(0, 8).trim();
    if (key === "END") end = true;
    else if (card[8] === "=") header.set(key, card.slice(10).split("/")[0].trim());
  }
  const dataStart = Math.ceil(pos / BLOCK) * BLOCK;
  const bitpix = Number(header.get("BITPIX"));
  const width = Number(header.get("NAXIS1"));
  const height = Number(header.get("NAXIS2"));
  if (header.get("NAXIS") !== "2" || !(width > 0 && height > 0)) {
    throw new Error("The cutout is not a 2-D FITS image (NAXIS must be 2)");
  }
  const bzero = Number(header.get("BZERO") ?? 0);
  const bscale = Number(header.get("BSCALE") ?? 1);
  const view = new DataView(raw.buffer, raw.byteOffset + dataStart);
  const size = Math.abs(bitpix) / 8;
  const read: Record<number, (o: number) => number> = {
    8: (o) => view.getUint8(o),
    16: (o) => view.getInt16(o),
    32: (o) => view.getInt32(o),
    [-32]: (o) => view.getFloat32(o),
    [-64]: (o) => view.getFloat64(o),
  };
  const get = read[bitpix];
  if (get === undefined) throw new Error(`The cutout's BITPIX ${bitpix} is not supported`);
  if (dataStart + width * height * size > raw.length) throw new Error("The FITS data is truncated");
  const data = new Float64Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = bzero + bscale * get(i * size);
  return { width, height, data };
}

/** The image as 8-bit grey levels, top row first (as images are shown), after a stretch. */
export function toGrey(image: FitsImage, stretch: Stretch): Uint8Array {
  const finite = image.data.filter(Number.isFinite);
  const [lo, hi] = stretch === "zscale" ? zscale(finite) : [min(finite), max(finite)];
  const span = hi > lo ? hi - lo : 1;
  const curve: (x: number) => number = stretch === "log"
    ? (x) => Math.log10(1 + 1000 * x) / 3
    : stretch === "asinh"
    ? (x) => Math.asinh(10 * x) / Math.asinh(10)
    : (x) => x;
  const out = new Uint8Array(image.width * image.height);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const v = image.data[y * image.width + x];
      const t = Number.isFinite(v) ? Math.min(1, Math.max(0, (v - lo) / span)) : 0;
      out[(image.height - 1 - y) * image.width + x] = Math.round(255 * curve(t));
    }
  }
  return out;
}

/** IRAF's zscale limits of the values: a line fitted to the sorted sample, scaled by 1/contrast. */
export function zscale(values: Float64Array, contrast = 0.25): [number, number] {
  if (values.length === 0) return [0, 1];
  const step = Math.max(1, Math.floor(values.length / 1000));
  const sample = Float64Array.from(
    { length: Math.ceil(values.length / step) },
    (_, i) => values[i * step],
  ).sort();
  const n = sample.length;
  const median = sample[Math.floor(n / 2)];
  if (n < 5) return [sample[0], sample[n - 1]];
  // Least squares of value against index, then the line's slope widened by 1/contrast.
  const mx = (n - 1) / 2;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - mx) * (sample[i] - median);
    sxx += (i - mx) ** 2;
  }
  const slope = sxy / sxx / contrast;
  const lo = Math.max(sample[0], median - (n / 2) * slope);
  const hi = Math.min(sample[n - 1], median + (n / 2) * slope);
  return hi > lo ? [lo, hi] : [sample[0], sample[n - 1]];
}

function min(v: Float64Array): number {
  let m = Infinity;
  for (const x of v) if (x < m) m = x;
  return m === Infinity ? 0 : m;
}

function max(v: Float64Array): number {
  let m = -Infinity;
  for (const x of v) if (x > m) m = x;
  return m === -Infinity ? 1 : m;
}
