/**
 * Writes the primitive types of the Kafka wire protocol into a growable buffer.
 *
 * Large payloads (record batches) are appended as references, not copied, and
 * are only joined when the frame is sent: see {@link Writer.chunks}.
 */
export class Writer {
  #chunks: Uint8Array[] = [];
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  #size = 0;

  /** Total bytes written so far. */
  get length(): number {
    return this.#size + this.#len;
  }

  #ensure(n: number): number {
    if (this.#len + n > this.#buf.byteLength) {
      const next = new Uint8Array(Math.max(this.#buf.byteLength * 2, this.#len + n));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.#len;
    this.#len += n;
    return at;
  }

  int8(v: number): this {
    const at = this.#ensure(1);
    this.#view.setInt8(at, v);
    return this;
  }
  int16(v: number): this {
    const at = this.#ensure(2);
    this.#view.setInt16(at, v);
    return this;
  }
  int32(v: number): this {
    const at = this.#ensure(4);
    this.#view.setInt32(at, v);
    return this;
  }
  uint32(v: number): this {
    const at = this.#ensure(4);
    this.#view.setUint32(at, v);
    return this;
  }
  int64(v: bigint | number): this {
    const at = this.#ensure(8);
    this.#view.setBigInt64(at, BigInt(v));
    return this;
  }
  boolean(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  uvarint(v: number): this {
    let value = v >>> 0;
    while (value >= 0x80) {
      this.#byte((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    return this.#byte(value);
  }
  varint(v: number): this {
    return this.uvarint((v << 1) ^ (v >> 31));
  }
  varlong(v: bigint): this {
    let value = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    while (value >= 0x80n) {
      this.#byte(Number(value & 0x7fn) | 0x80);
      value >>= 7n;
    }
    return this.#byte(Number(value));
  }

  // #ensure may replace #buf, so it must run before #buf is read.
  #byte(b: number): this {
    const at = this.#ensure(1);
    this.#buf[at] = b;
    return this;
  }

  /** Appends bytes; payloads of 4 KiB or more are kept by reference. */
  raw(bytes: Uint8Array): this {
    if (bytes.byteLength >= 4096) {
      this.#flush();
      this.#chunks.push(bytes);
      this.#size += bytes.byteLength;
    } else {
      const at = this.#ensure(bytes.byteLength);
      this.#buf.set(bytes, at);
    }
    return this;
  }

  nullableString(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = encoder.encode(s);
    return this.int16(b.byteLength).raw(b);
  }
  string(s: string): this {
    return this.nullableString(s);
  }
  compactNullableString(s: string | null): this {
    if (s === null) return this.uvarint(0);
    const b = encoder.encode(s);
    return this.uvarint(b.byteLength + 1).raw(b);
  }
  compactString(s: string): this {
    return this.compactNullableString(s);
  }
  nullableBytes(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    return this.int32(b.byteLength).raw(b);
  }
  compactNullableBytes(b: Uint8Array | null): this {
    if (b === null) return this.uvarint(0);
    return this.uvarint(b.byteLength + 1).raw(b);
  }

  array<T>(items: readonly T[] | null, write: (w: this, item: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const item of items) write(this, item);
    return this;
  }
  compactArray<T>(items: readonly T[] | null, write: (w: this, item: T) => void): this {
    if (items === null) return this.uvarint(0);
    this.uvarint(items.length + 1);
    for (const item of items) write(this, item);
    return this;
  }

  /** Writes an empty tagged-fields section. */
  emptyTaggedFields(): this {
    return this.uvarint(0);
  }

  #flush(): void {
    if (this.#len > 0) {
      this.#chunks.push(this.#buf.slice(0, this.#len));
      this.#size += this.#len;
      this.#len = 0;
    }
  }

  /** The written bytes as a list of chunks, in order, ready for a vectored write. */
  chunks(): Uint8Array[] {
    this.#flush();
    return this.#chunks;
  }

  /** The written bytes joined into one buffer. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks()) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}

const encoder = new TextEncoder();
