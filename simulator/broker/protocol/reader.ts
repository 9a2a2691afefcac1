/**
 * Reads the primitive types of the Kafka wire protocol from one request body.
 *
 * Every read checks bounds first and throws {@link ProtocolError} on a short or
 * malformed buffer, so a hostile frame can never make the broker read past it.
 */

/** Thrown when a request does not follow the Kafka wire protocol. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** A cursor over one Kafka request or response body. */
export class Reader {
  #view: DataView;
  #offset: number;

  /** @param bytes the frame body, without the 4-byte size prefix */
  constructor(readonly bytes: Uint8Array, offset = 0) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = offset;
  }

  /** Current position in bytes from the start of the body. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.bytes.byteLength - this.#offset;
  }

  #need(n: number): number {
    if (n < 0 || this.#offset + n > this.bytes.byteLength) {
      throw new ProtocolError(
        `Truncated request: needed ${n} bytes at offset ${this.#offset}, found ${this.remaining}`,
      );
    }
    const at = this.#offset;
    this.#offset += n;
    return at;
  }

  int8(): number {
    return this.#view.getInt8(this.#need(1));
  }
  int16(): number {
    return this.#view.getInt16(this.#need(2));
  }
  int32(): number {
    return this.#view.getInt32(this.#need(4));
  }
  uint32(): number {
    return this.#view.getUint32(this.#need(4));
  }
  int64(): bigint {
    return this.#view.getBigInt64(this.#need(8));
  }
  boolean(): boolean {
    return this.int8() !== 0;
  }

  /** Unsigned LEB128 varint (as used by compact types and tagged fields). */
  uvarint(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.bytes[this.#need(1)];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
    throw new ProtocolError("Malformed unsigned varint: more than 5 bytes");
  }

  /** Zig-zag signed varint (as used in record batch v2). */
  varint(): number {
    const u = this.uvarint();
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zig-zag signed varlong (as used in record batch v2). */
  varlong(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.bytes[this.#need(1)];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (result >> 1n) ^ -(result & 1n);
      shift += 7n;
    }
    throw new ProtocolError("Malformed varlong: more than 10 bytes");
  }

  /** Raw bytes, returned as a view (no copy). */
  raw(n: number): Uint8Array {
    const at = this.#need(n);
    return this.bytes.subarray(at, at + n);
  }

  /** INT16-length string; null when the length is -1. */
  nullableString(): string | null {
    const len = this.int16();
    if (len === -1) return null;
    if (len < 0) throw new ProtocolError(`Invalid string length ${len}`);
    return decoder.decode(this.raw(len));
  }
  string(): string {
    const s = this.nullableString();
    if (s === null) throw new ProtocolError("Expected a string, found null");
    return s;
  }

  /** UNSIGNED_VARINT length+1 string (flexible versions); null when 0. */
  compactNullableString(): string | null {
    const len = this.uvarint() - 1;
    if (len === -1) return null;
    return decoder.decode(this.raw(len));
  }
  compactString(): string {
    const s = this.compactNullableString();
    if (s === null) throw new ProtocolError("Expected a compact string, found null");
    return s;
  }

  /** INT32-length bytes; null when the length is -1. */
  nullableBytes(): Uint8Array | null {
    const len = this.int32();
    if (len === -1) return null;
    if (len < 0) throw new ProtocolError(`Invalid bytes length ${len}`);
    return this.raw(len);
  }
  /** UNSIGNED_VARINT length+1 bytes (flexible versions); null when 0. */
  compactNullableBytes(): Uint8Array | null {
    const len = this.uvarint() - 1;
    if (len === -1) return null;
    return this.raw(len);
  }

  /** INT32-count array; a count of -1 reads as an empty array. */
  array<T>(item: (r: Reader) => T): T[] {
    return this.#items(this.int32(), item);
  }
  /** INT32-count array; null when the count is -1. */
  nullableArray<T>(item: (r: Reader) => T): T[] | null {
    const count = this.int32();
    return count === -1 ? null : this.#items(count, item);
  }
  /** UNSIGNED_VARINT count+1 array (flexible versions). */
  compactArray<T>(item: (r: Reader) => T): T[] {
    return this.#items(this.uvarint() - 1, item);
  }

  #items<T>(count: number, item: (r: Reader) => T): T[] {
    if (count === -1) return [];
    // Every item takes at least one byte, so a count above what is left is a lie.
    if (count < -1 || count > this.remaining) {
      throw new ProtocolError(`Invalid array length ${count} with ${this.remaining} bytes left`);
    }
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) out[i] = item(this);
    return out;
  }

  /** Skips a tagged-fields section (flexible versions); unknown tags are ignored. */
  taggedFields(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.raw(this.uvarint());
    }
  }
}

const decoder = new TextDecoder();
