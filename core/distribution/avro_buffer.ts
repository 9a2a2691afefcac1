/**
 * The primitives of Avro's binary encoding appended to one growable buffer:
 * zig-zag varints (from numbers, bigints or the two 32-bit halves of an
 * Arrow int64), little-endian floats and doubles, length-prefixed bytes and
 * strings. Many records go into one buffer, so a batch of messages crosses
 * from a Worker as one transferred ArrayBuffer.
 */

const text = new TextEncoder();

/** A growable buffer of Avro-encoded values; `at` is the end of what was written. */
export class AvroBuffer {
  #bytes: Uint8Array;
  #view: DataView;
  /** Bytes written so far. */
  at = 0;

  /** A buffer of `initialBytes` (it grows as needed), in `reuse` when that one is as large. */
  constructor(initialBytes = 64 * 1024, reuse?: ArrayBuffer) {
    this.#bytes = reuse !== undefined && reuse.byteLength >= initialBytes
      ? new Uint8Array(reuse)
      : new Uint8Array(initialBytes);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** What was written, as a view of the buffer (valid until the next write). */
  written(): Uint8Array {
    return this.#bytes.subarray(0, this.at);
  }

  /** One byte. */
  byte(b: number): void {
    this.#need(1);
    this.#bytes[this.at++] = b;
  }

  /** A zig-zag varint of an integer number (beyond 2^52 it goes through BigInt). */
  int(n: number): void {
    if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 52) {
      this.bigint(BigInt(Math.trunc(n)));
      return;
    }
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    this.#need(10);
    const bytes = this.#bytes;
    while (z >= 0x80) {
      bytes[this.at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    bytes[this.at++] = z;
  }

  /** A zig-zag varint of a 64-bit integer. */
  bigint(n: bigint): void {
    let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
    this.#need(10);
    while (z >= 0x80n) {
      this.#bytes[this.at++] = Number(z & 0x7fn) | 0x80;
      z >>= 7n;
    }
    this.#bytes[this.at++] = Number(z);
  }

  /** A zig-zag varint of the 64-bit integer whose high and low 32 bits are `hi` and `lo`. */
  long(hi: number, lo: number): void {
    const sign = hi >> 31;
    let zhi = ((hi << 1) | (lo >>> 31)) ^ sign;
    let zlo = (lo << 1) ^ sign;
    this.#need(10);
    const bytes = this.#bytes;
    while (zhi !== 0 || zlo >>> 0 >= 0x80) {
      bytes[this.at++] = (zlo & 0x7f) | 0x80;
      zlo = (zlo >>> 7) | (zhi << 25);
      zhi >>>= 7;
    }
    bytes[this.at++] = zlo;
  }

  /** A float, 4 bytes little-endian. */
  float(x: number): void {
    this.#need(4);
    this.#view.setFloat32(this.at, x, true);
    this.at += 4;
  }

  /** A double, 8 bytes little-endian. */
  double(x: number): void {
    this.#need(8);
    this.#view.setFloat64(this.at, x, true);
    this.at += 8;
  }

  /** Length-prefixed bytes. */
  bytes(b: Uint8Array): void {
    this.int(b.byteLength);
    this.#need(b.byteLength);
    this.#bytes.set(b, this.at);
    this.at += b.byteLength;
  }

  /** A length-prefixed UTF-8 string. */
  string(s: string): void {
    this.bytes(text.encode(s));
  }

  #need(n: number): void {
    if (this.at + n <= this.#bytes.byteLength) return;
    const bigger = new Uint8Array(Math.max(this.#bytes.byteLength * 2, this.at + n));
    bigger.set(this.#bytes.subarray(0, this.at));
    this.#bytes = bigger;
    this.#view = new DataView(bigger.buffer);
  }
}
