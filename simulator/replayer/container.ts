/**
 * Avro object container files (the ZTF packet format): read the header and data
 * blocks of one, and write one block of already-encoded records behind a cached header.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";

const MAGIC = [0x4f, 0x62, 0x6a, 0x01];
const SYNC_SIZE = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One data block of a container: how many records and their concatenated Avro bodies. */
export interface ContainerBlock {
  /** Records in the block. */
  count: number;
  /** Uncompressed Avro binary bodies of the records, back to back. */
  data: Uint8Array;
}

/** A parsed container file. */
export interface Container {
  /** The writer schema exactly as embedded (`avro.schema`). */
  schemaText: string;
  /** Compression codec of the blocks (`null` or `deflate`). */
  codec: string;
  /** Sync marker separating blocks. */
  sync: Uint8Array;
  /** Data blocks, decompressed. */
  blocks: ContainerBlock[];
}

class Cursor {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly what: string) {}

  long(): number {
    let result = 0;
    let shift = 1;
    for (;;) {
      if (this.pos >= this.bytes.length) this.fail("a variable-length integer runs past the end");
      const byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) break;
      shift *= 128;
      if (shift > 2 ** 63) this.fail("a variable-length integer is longer than 10 bytes");
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  }

  take(length: number): Uint8Array {
    if (length < 0 || this.pos + length > this.bytes.length) {
      this.fail(`a ${length}-byte field runs past the end`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  fail(problem: string): never {
    throw new Error(
      `${this.what} is not a valid Avro container file: ${problem} at byte ${this.pos}`,
    );
  }
}

function readMeta(cursor: Cursor): Map<string, Uint8Array> {
  const meta = new Map<string, Uint8Array>();
  for (;;) {
    let count = cursor.long();
    if (count === 0) return meta;
    if (count < 0) {
      count = -count;
      cursor.long();
    }
    for (let i = 0; i < count; i++) {
      const key = decoder.decode(cursor.take(cursor.long()));
      meta.set(key, cursor.take(cursor.long()));
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Parses a container file. `what` names it in errors (for example its path).
 * Throws when the bytes are not a container or use a codec other than null/deflate.
 */
export function readContainer(bytes: Uint8Array, what: string): Container {
  const cursor = new Cursor(bytes, what);
  if (!sameBytes(cursor.take(Math.min(4, bytes.length)), Uint8Array.from(MAGIC))) {
    throw new Error(`${what} is not a valid Avro container file: expected magic "Obj\\x01"`);
  }
  const meta = readMeta(cursor);
  const schema = meta.get("avro.schema");
  if (!schema) cursor.fail("the header has no avro.schema entry");
  const codec = meta.has("avro.codec") ? decoder.decode(meta.get("avro.codec")) : "null";
  if (codec !== "null" && codec !== "deflate") {
    throw new Error(
      `${what} uses Avro codec "${codec}"; only "null" and "deflate" containers can be replayed`,
    );
  }
  const sync = cursor.take(SYNC_SIZE);
  const blocks: ContainerBlock[] = [];
  while (cursor.pos < bytes.length) {
    const count = cursor.long();
    const raw = cursor.take(cursor.long());
    if (!sameBytes(cursor.take(SYNC_SIZE), sync)) {
      cursor.fail("a block ends without the sync marker");
    }
    blocks.push({ count, data: codec === "deflate" ? inflateRawSync(raw) : raw });
  }
  return { schemaText: decoder.decode(schema), codec, sync, blocks };
}

function writeLong(out: number[], value: number): void {
  let n = value >= 0 ? value * 2 : -value * 2 - 1;
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function writeBytes(out: number[], bytes: Uint8Array): void {
  writeLong(out, bytes.length);
  for (const byte of bytes) out.push(byte);
}

/** Options of {@link ContainerWriter}. */
export interface ContainerWriterOptions {
  /** Sync marker; random when absent. */
  sync?: Uint8Array;
  /** Block codec, `null` (default) or `deflate`. */
  codec?: "null" | "deflate";
}

/** Writes one-block container files for a fixed schema, reusing the encoded header. */
export class ContainerWriter {
  readonly #header: Uint8Array;
  readonly #sync: Uint8Array;
  readonly #codec: "null" | "deflate";

  /** A writer for records of the schema given as JSON text. */
  constructor(schemaText: string, options: ContainerWriterOptions = {}) {
    this.#sync = options.sync ?? crypto.getRandomValues(new Uint8Array(SYNC_SIZE));
    this.#codec = options.codec ?? "null";
    const header: number[] = [...MAGIC];
    writeLong(header, 2);
    writeBytes(header, encoder.encode("avro.schema"));
    writeBytes(header, encoder.encode(schemaText));
    writeBytes(header, encoder.encode("avro.codec"));
    writeBytes(header, encoder.encode(this.#codec));
    writeLong(header, 0);
    header.push(...this.#sync);
    this.#header = Uint8Array.from(header);
  }

  /** A complete container holding the given Avro record bodies in one block. */
  encode(bodies: Uint8Array[]): Uint8Array {
    let size = 0;
    for (const body of bodies) size += body.length;
    let data: Uint8Array = new Uint8Array(size);
    let offset = 0;
    for (const body of bodies) {
      data.set(body, offset);
      offset += body.length;
    }
    if (this.#codec === "deflate") data = deflateRawSync(data);
    const prefix: number[] = [];
    writeLong(prefix, bodies.length);
    writeLong(prefix, data.length);
    const out = new Uint8Array(this.#header.length + prefix.length + data.length + SYNC_SIZE);
    out.set(this.#header, 0);
    out.set(prefix, this.#header.length);
    out.set(data, this.#header.length + prefix.length);
    out.set(this.#sync, out.length - SYNC_SIZE);
    return out;
  }
}
