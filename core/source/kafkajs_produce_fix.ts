/**
 * Makes kafkajs 2.2.4's produce path cheap for large messages (the
 * distribution sends alerts of about 50 kB with their schema as key), without
 * changing a byte on the wire. Profiled on 5,000 real alerts, kafkajs spent
 * its time in three places that this module replaces:
 *
 * - the record batch checksum: kafkajs computes CRC-32C one byte per step;
 *   ours (crc32c.ts) takes eight. kafkajs loads its checksum module lazily,
 *   at the first produce or fetch, so the replacement is put in the module
 *   cache before that;
 * - copies: every level of a produce request (record, record batch, batch
 *   wrapper, partition, topic, request, frame) is its own `Encoder` that
 *   copies the level below into a buffer grown by powers of two, so each
 *   message was copied and its memory freshly allocated about ten times. Here
 *   an `Encoder` keeps buffers of 2 kB or more by reference (a list of
 *   chunks) and joins them only when kafkajs asks for its `buffer`: once for
 *   the checksum of the records; the levels above only put headers before
 *   that, which go into room left in front of it, so a message is copied once;
 * - zero-filling: buffers grow with `allocUnsafe`, as every byte is written
 *   before it is read.
 *
 * Imported for its effect by every module that imports kafkajs; kafkajs is
 * pinned in deno.json, so what is replaced is what is described here.
 * {@link kafkajsProduceFixed} says whether the checksum replacement took
 * (it cannot once kafkajs has loaded its own).
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
// @ts-types="./kafkajs_encoder.d.ts"
import Encoder from "kafkajs/src/protocol/encoder.js";
import { crc32c } from "./crc32c.ts";

const require = createRequire(import.meta.url);
const CRC_MODULE = require.resolve("kafkajs/src/protocol/recordBatch/crc32C/index.js");

/** Buffers at least this large are kept by reference instead of copied. */
const BY_REFERENCE = 2048;

if (!(CRC_MODULE in require.cache)) {
  require.cache[CRC_MODULE] = {
    id: CRC_MODULE,
    filename: CRC_MODULE,
    loaded: true,
    exports: crc32c,
  } as unknown as (typeof require.cache)[string];
}

/** Whether kafkajs computes record batch checksums with {@link crc32c}. */
export function kafkajsProduceFixed(): boolean {
  return require(CRC_MODULE) === crc32c;
}

/** The fields a chunked encoder adds to kafkajs's `buf` (the tail being written) and `offset`. */
interface Chunked extends Encoder {
  chunks?: Buffer[];
  /** Bytes in `chunks`. */
  chunked?: number;
}

const proto = Encoder.prototype as Chunked;
const contiguous = Object.getOwnPropertyDescriptor(proto, "buffer")!.get!;

/** Moves what the tail holds to the chunks; the tail's free room stays the tail. */
function closeTail(e: Chunked): void {
  e.chunks ??= [];
  e.chunked ??= 0;
  if (e.offset === 0) return;
  e.chunks.push(e.buf.subarray(0, e.offset));
  e.chunked += e.offset;
  e.buf = e.buf.subarray(e.offset);
  e.offset = 0;
}

function append(e: Chunked, buffer: Buffer): void {
  closeTail(e);
  e.chunks!.push(buffer);
  e.chunked! += buffer.length;
}

/** Appends what `source` holds, by reference. */
function splice(target: Chunked, source: Chunked): void {
  if (source.chunks === undefined || source.chunks.length === 0) {
    target.writeBufferInternal(source.buf.subarray(0, source.offset));
    return;
  }
  for (const chunk of source.chunks) append(target, chunk);
  if (source.offset > 0) append(target, source.buf.subarray(0, source.offset));
}

proto.ensureAvailable = function (this: Chunked, length: number) {
  if (this.offset + length <= this.buf.length) return;
  const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length));
  this.buf.copy(grown, 0, 0, this.offset);
  this.buf = grown;
};

proto.writeBufferInternal = function (this: Chunked, buffer: Buffer) {
  if (buffer.length >= BY_REFERENCE) {
    append(this, buffer);
    return;
  }
  this.ensureAvailable(buffer.length);
  buffer.copy(this.buf, this.offset, 0);
  this.offset += buffer.length;
};

const writeBytes = proto.writeBytes;
// kafkajs makes room for the whole value in the tail first, which a value kept by reference
// does not need.
proto.writeBytes = function (this: Chunked, value: Buffer | string | null) {
  if (!Buffer.isBuffer(value) || value.length < BY_REFERENCE) return writeBytes.call(this, value);
  this.writeInt32(value.length);
  append(this, value);
  return this;
};

proto.writeEncoder = function (this: Chunked, value: Chunked) {
  if (value == null || !Buffer.isBuffer(value.buf)) {
    throw new Error("value should be an instance of Encoder");
  }
  splice(this, value);
  return this;
};

proto.writeEncoderArray = function (this: Chunked, values: Chunked[]) {
  if (!Array.isArray(values) || values.some((v) => v == null || !Buffer.isBuffer(v.buf))) {
    throw new Error("all values should be an instance of Encoder[]");
  }
  for (const value of values) splice(this, value);
  return this;
};

proto.size = function (this: Chunked) {
  return (this.chunked ?? 0) + this.offset;
};

/**
 * Free bytes at the start of the buffers joined here. A join leaves room in
 * front, so that the levels above, which only put a few header bytes before
 * it (batch wrapper, partition, topic, request, frame), write them there
 * instead of copying the whole again.
 */
const room = new WeakMap<ArrayBufferLike, number>();
/** Room left in front of a join: more than every header a produce request puts before it. */
const HEADROOM = 4096;

/** The chunks as one buffer, by writing what precedes the last one into the room before it. */
function prepend(chunks: Buffer[], tail: Buffer): Buffer | undefined {
  const last = chunks[chunks.length - 1];
  const free = room.get(last.buffer);
  if (tail.length > 0 || free === undefined || last.byteOffset !== free) return undefined;
  let before = 0;
  for (let i = 0; i < chunks.length - 1; i++) before += chunks[i].length;
  if (before > free) return undefined;
  let at = free - before;
  const whole = Buffer.from(last.buffer, at, before + last.length);
  for (let i = 0; i < chunks.length - 1; i++) {
    whole.set(chunks[i], at - whole.byteOffset);
    at += chunks[i].length;
  }
  room.set(last.buffer, free - before);
  return whole;
}

function join(chunks: Buffer[], tail: Buffer, size: number): Buffer {
  const joined = Buffer.allocUnsafe(HEADROOM + size);
  room.set(joined.buffer, joined.byteOffset + HEADROOM);
  const out = Buffer.from(joined.buffer, joined.byteOffset + HEADROOM, size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  out.set(tail, at);
  return out;
}

Object.defineProperty(proto, "buffer", {
  get(this: Chunked): Buffer {
    if (this.chunks === undefined || this.chunks.length === 0) return contiguous.call(this);
    const tail = this.buf.subarray(0, this.offset);
    const whole = prepend(this.chunks, tail) ??
      join(this.chunks, tail, this.chunked! + this.offset);
    // Asked again (a retried request), it is not joined twice.
    this.chunks = [whole];
    this.chunked = whole.length;
    this.buf = Buffer.allocUnsafe(64);
    this.offset = 0;
    return whole;
  },
});
