/**
 * Test-side FITS reading: gunzips a cutout and parses its primary header and float32
 * image, independently of the writer, so tests check the bytes a consumer would see.
 */
import { gunzipSync } from "node:zlib";

/** A parsed single-HDU FITS image. */
export interface FitsImage {
  header: Map<string, string>;
  width: number;
  height: number;
  pixels: Float32Array;
  fileLength: number;
}

/** Parses gzipped FITS bytes; throws when the header or data are malformed. */
export function readGzippedFits(stamp: Uint8Array): FitsImage {
  const bytes = new Uint8Array(gunzipSync(stamp));
  if (bytes.length % 2880 !== 0) throw new Error(`FITS length ${bytes.length} is not blocked`);
  const header = new Map<string, string>();
  let offset = 0;
  let ended = false;
  while (!ended) {
    const card = new TextDecoder().decode(bytes.subarray(offset, offset + 80));
    offset += 80;
    const keyword = card.slice(0, 8).trim();
    if (keyword === "END") ended = true;
    else if (card.slice(8, 10) === "= ") header.set(keyword, card.slice(10).trim());
    if (offset >= bytes.length) throw new Error("FITS header has no END card");
  }
  const dataStart = Math.ceil(offset / 2880) * 2880;
  const width = Number(header.get("NAXIS1"));
  const height = Number(header.get("NAXIS2"));
  const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart);
  const pixels = new Float32Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = view.getFloat32(i * 4, false);
  return { header, width, height, pixels, fileLength: bytes.length };
}
