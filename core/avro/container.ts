/**
 * Avro Object Container File, one per Kafka message (ZTF): `Obj\x01`, a
 * metadata map holding `avro.schema` and `avro.codec`, a 16-byte sync marker,
 * then blocks of records (codec `null` or `deflate`). A message may hold
 * several records (fink-client multi-record files).
 */
import { Buffer } from "node:buffer";
import { inflateRawSync } from "node:zlib";
import { decodeFramed, type Decoder, type DecodeResult, type FramedMessage } from "./decoder.ts";
import { asDecodeError, DecodeError } from "./errors.ts";
import { readBlockCount } from "./record_reader.ts";
import { type ParsedSchema, parseSchema } from "./schema.ts";
import { Tap } from "./tap.ts";

const SYNC_SIZE = 16;
/** Recently seen header schemas: every ZTF message repeats the same ~23 KB of JSON. */
const recentSchemas: { bytes: Uint8Array; schema: ParsedSchema }[] = [];
const RECENT_SCHEMAS = 8;
/** A deflate block may not expand beyond this (a zip bomb is quarantined, not followed). */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** Whether `value` starts with the container magic `Obj\x01`. */
export function isContainer(value: Uint8Array): boolean {
  return value.length >= 4 && value[0] === 0x4f && value[1] === 0x62 && value[2] === 0x6a &&
    value[3] === 0x01;
}

/**
 * Splits a container into its schema and blocks (deflate blocks inflated).
 *
 * @throws DecodeError for a bad magic, header, codec, sync marker or truncation
 */
export function frameContainer(value: Uint8Array): FramedMessage {
  if (!isContainer(value)) {
    throw new DecodeError(
      `Expected an Avro container starting with "Obj\\x01", found ${
        value.length < 4
          ? `${value.length} bytes`
          : JSON.stringify(latin1.decode(value.subarray(0, 4)))
      }`,
    );
  }
  const tap = new Tap(value, 4);
  let schemaBytes: Uint8Array | undefined;
  let codec = "null";
  let sync: Uint8Array;
  try {
    for (let n = readBlockCount(tap); n > 0; n = readBlockCount(tap)) {
      for (let i = 0; i < n; i++) {
        const key = tap.readString();
        const len = tap.readLength(`metadata value "${key}"`);
        if (key === "avro.schema") schemaBytes = value.subarray(tap.pos, tap.pos + len);
        else if (key === "avro.codec") {
          codec = latin1.decode(value.subarray(tap.pos, tap.pos + len));
        }
        tap.pos += len;
      }
    }
    if (tap.pos + SYNC_SIZE > tap.end) tap.truncated("the container sync marker");
    sync = value.subarray(tap.pos, tap.pos + SYNC_SIZE);
    tap.pos += SYNC_SIZE;
  } catch (error) {
    throw asDecodeError(error, "Corrupt Avro container header");
  }
  if (schemaBytes === undefined) {
    throw new DecodeError('Avro container header has no "avro.schema" entry');
  }
  if (codec !== "null" && codec !== "deflate") {
    throw new DecodeError(`Unsupported Avro container codec "${codec}"; expected null or deflate`);
  }
  let schema: ParsedSchema;
  try {
    schema = headerSchema(schemaBytes);
  } catch (error) {
    throw asDecodeError(error, "Invalid schema in Avro container header");
  }
  const blocks = [];
  while (tap.pos < tap.end) {
    const index = blocks.length;
    let count: number;
    let size: number;
    try {
      count = tap.readLongNumber();
      size = tap.readLength(`container block ${index}`);
    } catch (error) {
      throw asDecodeError(error, `Truncated Avro container block ${index}`);
    }
    if (count < 0) {
      throw new DecodeError(`Avro container block ${index} has negative count ${count}`);
    }
    const start = tap.pos;
    tap.pos += size;
    if (tap.pos + SYNC_SIZE > tap.end) {
      throw new DecodeError(
        `Truncated Avro container: block ${index} has no sync marker after its ${size} bytes`,
      );
    }
    for (let i = 0; i < SYNC_SIZE; i++) {
      if (value[tap.pos + i] !== sync[i]) {
        throw new DecodeError(
          `Corrupt Avro container: sync marker after block ${index} does not match the header`,
        );
      }
    }
    tap.pos += SYNC_SIZE;
    if (codec === "null") {
      blocks.push({ bytes: value, start, end: start + size, count });
    } else {
      let inflated: Uint8Array;
      try {
        inflated = inflateRawSync(value.subarray(start, start + size), {
          maxOutputLength: MAX_INFLATED_BYTES,
        });
      } catch (error) {
        throw new DecodeError(
          `Corrupt deflate data in Avro container block ${index}: ${(error as Error).message}`,
        );
      }
      blocks.push({ bytes: inflated, start: 0, end: inflated.length, count });
    }
  }
  return { schema, blocks };
}

/** The schema of header bytes: a native byte compare with recent headers, else parse (cached by text). */
function headerSchema(bytes: Uint8Array): ParsedSchema {
  for (const recent of recentSchemas) {
    if (recent.bytes.length === bytes.length && Buffer.compare(recent.bytes, bytes) === 0) {
      return recent.schema;
    }
  }
  const schema = parseSchema(utf8.decode(bytes));
  recentSchemas.unshift({ bytes: bytes.slice(), schema });
  if (recentSchemas.length > RECENT_SCHEMAS) recentSchemas.pop();
  return schema;
}

/** Decodes Avro container messages (ZTF alerts). */
export class ContainerDecoder implements Decoder {
  /** Always `container`. */
  readonly kind = "container" as const;

  /** Splits a container message; see {@link frameContainer}. */
  frame(value: Uint8Array): Promise<FramedMessage> {
    return Promise.resolve().then(() => frameContainer(value));
  }

  /** Decodes every record of a container message. */
  decode(value: Uint8Array): Promise<DecodeResult> {
    return Promise.resolve().then(() => decodeFramed(frameContainer(value)));
  }
}
