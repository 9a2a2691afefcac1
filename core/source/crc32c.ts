/**
 * CRC-32C (Castagnoli), the checksum of Kafka record batches v2: with the
 * processor's CRC32 instruction through @node-rs/crc32 (a native addon,
 * several times faster; it is the largest cost of producing and receiving
 * alerts), else in software with the slicing-by-16 table method (sixteen bytes
 * per step; the tables are Int32Arrays so that V8 keeps every value a small
 * integer). Used by the embedded broker to check and write batches, and by
 * kafkajs through kafkajs_produce_fix.ts.
 */

import type { Buffer } from "node:buffer";

const POLY = 0x82f63b78;

function makeTables(): Int32Array[] {
  const tables = Array.from({ length: 16 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    tables[0][n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0][n];
    for (let t = 1; t < 16; t++) {
      c = tables[0][c & 0xff] ^ (c >>> 8);
      tables[t][n] = c;
    }
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15] = makeTables();

/** CRC-32C of `bytes` in software, as an unsigned 32-bit number. */
export function crc32cSoftware(bytes: Uint8Array): number {
  let crc = -1;
  let i = 0;
  const n = bytes.byteLength;
  const end16 = n - (n & 15);
  while (i < end16) {
    const a = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ crc;
    crc = T15[a & 0xff] ^ T14[(a >>> 8) & 0xff] ^ T13[(a >>> 16) & 0xff] ^ T12[a >>> 24] ^
      T11[bytes[i + 4]] ^ T10[bytes[i + 5]] ^ T9[bytes[i + 6]] ^ T8[bytes[i + 7]] ^
      T7[bytes[i + 8]] ^ T6[bytes[i + 9]] ^ T5[bytes[i + 10]] ^ T4[bytes[i + 11]] ^
      T3[bytes[i + 12]] ^ T2[bytes[i + 13]] ^ T1[bytes[i + 14]] ^ T0[bytes[i + 15]];
    i += 16;
  }
  while (i < n) crc = T0[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** The addon's CRC-32C, when it loads on this platform. */
const hardware = await import("@node-rs/crc32").then(
  (addon) => (bytes: Uint8Array) => addon.crc32c(bytes as Buffer) >>> 0,
  () => undefined,
);

/** CRC-32C of `bytes`, as an unsigned 32-bit number. */
export const crc32c: (bytes: Uint8Array) => number = hardware ?? crc32cSoftware;
