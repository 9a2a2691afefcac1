/**
 * A bounds-checked cursor over Avro binary data. Every read that would run
 * past `end` throws a {@link DecodeError}, so corrupt or truncated input never
 * reads garbage.
 */
import { DecodeError } from "./errors.ts";

const SHORT_STRING = 32;
const utf8 = new TextDecoder();

/** Reads Avro primitives from `buf[pos..end)`. */
export class Tap {
  /** The bytes being read. */
  buf: Uint8Array;
  /** A view on the same bytes, for floats. */
  view: DataView;
  /** Next byte to read. */
  pos: number;
  /** One past the last readable byte. */
  end: number;

  /** Creates a cursor over `buf[pos..end)`. */
  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    // A Node Buffer (kafkajs values, zlib output) slices without copying; use a plain view.
    this.buf = buf.constructor === Uint8Array
      ? buf
      : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
    this.end = end;
  }

  /** Throws the error for data that ends too early. */
  truncated(what: string): never {
    throw new DecodeError(
      `Avro data truncated: needed more bytes for ${what} at byte ${this.pos} of ${this.end}`,
    );
  }

  /** Reads a zig-zag varint as a JS number (exact up to 2^53; used for ints and lengths). */
  readLongNumber(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let n = 0;
    let mul = 1;
    let b: number;
    do {
      if (pos >= end) this.truncated("a varint");
      if (mul > 2 ** 63) throw new DecodeError(`Avro varint longer than 10 bytes at byte ${pos}`);
      b = buf[pos++];
      n += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    this.pos = pos;
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  /** Reads an Avro long exactly, as a bigint. */
  readLong(): bigint {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b: number;
    let shift = 0;
    do {
      if (pos >= end) this.truncated("a long");
      if (shift > 63) throw new DecodeError(`Avro long longer than 10 bytes at byte ${pos}`);
      b = buf[pos++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      shift += 7;
    } while (b & 0x80);
    this.pos = pos;
    return longFromWords(lo, hi);
  }

  /** Reads a 32-bit float (widened to a double). */
  readFloat(): number {
    if (this.pos + 4 > this.end) this.truncated("a float");
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads a 64-bit double. */
  readDouble(): number {
    if (this.pos + 8 > this.end) this.truncated("a double");
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Reads a boolean byte. */
  readBoolean(): boolean {
    if (this.pos >= this.end) this.truncated("a boolean");
    return this.buf[this.pos++] !== 0;
  }

  /** Reads a length prefix and checks the bytes it announces are there. */
  readLength(what: string): number {
    const len = this.readLongNumber();
    if (len < 0) {
      throw new DecodeError(`Avro ${what} has negative length ${len} at byte ${this.pos}`);
    }
    if (this.pos + len > this.end) this.truncated(`${what} of ${len} bytes`);
    return len;
  }

  /** Reads `bytes` (copied, so the result does not pin the message buffer). */
  readBytes(): Uint8Array {
    const len = this.readLength("bytes");
    const out = this.buf.slice(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Reads `size` raw bytes (Avro fixed), copied. */
  readFixed(size: number): Uint8Array {
    if (this.pos + size > this.end) this.truncated(`fixed of ${size} bytes`);
    const out = this.buf.slice(this.pos, this.pos + size);
    this.pos += size;
    return out;
  }

  /** Reads a UTF-8 string. */
  readString(): string {
    const len = this.readLength("string");
    const start = this.pos;
    this.pos += len;
    return decodeUtf8(this.buf, start, start + len);
  }
}

/** Decodes UTF-8; short ASCII strings skip TextDecoder, which dominates for tiny strings. */
function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT_STRING) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) return utf8.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(buf.subarray(start, end));
}

/** Turns zig-zag encoded 64-bit words (low, high) into the signed bigint they encode. */
function longFromWords(lo: number, hi: number): bigint {
  const sign = -(lo & 1);
  const slo = ((lo >>> 1) | (hi << 31)) ^ sign;
  const shi = (hi >>> 1) ^ sign;
  if (shi >= -0x200000 && shi < 0x200000) return BigInt(shi * 4294967296 + (slo >>> 0));
  return BigInt.asIntN(64, (BigInt(shi) << 32n) | BigInt(slo >>> 0));
}
