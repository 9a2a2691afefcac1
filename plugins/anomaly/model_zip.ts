/**
 * Reads a Fink anomaly model zip (fink_science/data/models/anomaly_detection/*.zip): one ONNX
 * model per ZTF band, named `forest_g_<model>.onnx` and `forest_r_<model>.onnx`. Only the zip
 * features such archives use are read: stored or deflated entries, no encryption, no zip64.
 */

/** The two ONNX models of a Fink model zip, as bytes. */
export interface FinkModelFiles {
  /** `forest_g_*.onnx`. */
  forestG: Uint8Array;
  /** `forest_r_*.onnx`. */
  forestR: Uint8Array;
  /** Entry names found in the zip. */
  entries: string[];
}

/** A file that is not a readable Fink model zip; the message names the path and what is wrong. */
export class ModelZipError extends Error {
  override name = "ModelZipError";
}

interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function centralDirectory(bytes: Uint8Array, where: string): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new ModelZipError(`${where} is not a zip archive (no end of central directory)`);
  }
  const count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const entries: Entry[] = [];
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== CENTRAL) {
      throw new ModelZipError(`${where} has a damaged zip central directory at entry ${i}`);
    }
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    entries.push({
      name: decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength)),
      method: view.getUint16(offset + 10, true),
      compressedSize: view.getUint32(offset + 20, true),
      localOffset: view.getUint32(offset + 42, true),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

async function extract(bytes: Uint8Array, entry: Entry, where: string): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL) {
    throw new ModelZipError(`${where}: entry ${entry.name} has no local header`);
  }
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return data.slice();
  if (entry.method !== 8) {
    throw new ModelZipError(
      `${where}: entry ${entry.name} uses zip method ${entry.method}; re-zip it with deflate`,
    );
  }
  const stream = new Blob([data.slice()]).stream().pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Reads the two ONNX models out of a Fink model zip held in memory.
 *
 * @param where the file's path, for error messages
 * @throws ModelZipError when the bytes are not a zip or lack exactly one model per band
 */
export async function readModelZip(bytes: Uint8Array, where: string): Promise<FinkModelFiles> {
  const entries = centralDirectory(bytes, where);
  const pick = async (band: "g" | "r") => {
    const pattern = new RegExp(`(^|/)forest_${band}[^/]*\\.onnx$`);
    const matches = entries.filter((e) => pattern.test(e.name));
    if (matches.length !== 1) {
      throw new ModelZipError(
        `${where} is not a Fink anomaly model zip: expected one forest_${band}_*.onnx, found ` +
          `${matches.length} among ${entries.map((e) => e.name).join(", ") || "no entries"}`,
      );
    }
    return await extract(bytes, matches[0], where);
  };
  return {
    forestG: await pick("g"),
    forestR: await pick("r"),
    entries: entries.map((e) => e.name),
  };
}
