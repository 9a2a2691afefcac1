/** Minimal FITS writer for the 2-D float32 (BITPIX -32) images carried in alert cutouts. */

const BLOCK = 2880;
const CARD = 80;

/** A header keyword value: strings are quoted, booleans become T/F. */
export type FitsValue = string | number | boolean;

function formatValue(value: FitsValue): string {
  if (typeof value === "boolean") return (value ? "T" : "F").padStart(20);
  if (typeof value === "number") {
    const text = Number.isInteger(value) ? String(value) : value.toPrecision(10).toUpperCase();
    return text.padStart(20);
  }
  return `'${value.replaceAll("'", "''").padEnd(8)}'`.padEnd(20);
}

function card(keyword: string, value: FitsValue): string {
  const text = `${keyword.padEnd(8)}= ${formatValue(value)}`;
  if (text.length > CARD) {
    throw new Error(`FITS card ${keyword} is ${text.length} characters; the limit is ${CARD}`);
  }
  return text.padEnd(CARD);
}

/**
 * A complete single-HDU FITS file for a row-major float32 image (first row = bottom,
 * as FITS stores it). `extra` keywords follow the mandatory ones in insertion order.
 */
export function encodeFitsImage(
  pixels: Float32Array,
  size: { width: number; height: number },
  extra: Record<string, FitsValue> = {},
): Uint8Array {
  if (pixels.length !== size.width * size.height) {
    throw new Error(
      `FITS image needs ${size.width}x${size.height}=${
        size.width * size.height
      } pixels; found ${pixels.length}`,
    );
  }
  const cards = [
    card("SIMPLE", true),
    card("BITPIX", -32),
    card("NAXIS", 2),
    card("NAXIS1", size.width),
    card("NAXIS2", size.height),
    ...Object.entries(extra).map(([keyword, value]) => card(keyword, value)),
    "END".padEnd(CARD),
  ];
  const headerLength = Math.ceil((cards.length * CARD) / BLOCK) * BLOCK;
  const dataLength = Math.ceil((pixels.length * 4) / BLOCK) * BLOCK;
  const out = new Uint8Array(headerLength + dataLength);
  out.fill(0x20, 0, headerLength);
  new TextEncoder().encodeInto(cards.join(""), out);
  const view = new DataView(out.buffer, headerLength);
  for (let i = 0; i < pixels.length; i++) view.setFloat32(i * 4, pixels[i], false);
  return out;
}
