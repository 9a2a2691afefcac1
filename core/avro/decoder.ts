/**
 * The contract shared by the three message decoders (container, Confluent,
 * schemaless): split a Kafka message into its writer schema and the Avro
 * binary record blocks (`frame`), or fully decode it into JS records (`decode`).
 * The archive's column decoder consumes `frame`; plugins, tests and the
 * explorer use `decode`.
 */
import { DecodeError } from "./errors.ts";
import { compileReader } from "./record_reader.ts";
import type { ParsedSchema } from "./schema.ts";
import { Tap } from "./tap.ts";

/** Which wire format a decoder reads. */
export type DecoderKind = "container" | "confluent" | "schemaless";

/** `count` Avro-binary records laid out back to back in `bytes[start..end)`. */
export interface RecordBlock {
  bytes: Uint8Array;
  start: number;
  end: number;
  count: number;
}

/** A message split into its writer schema and record blocks. */
export interface FramedMessage {
  schema: ParsedSchema;
  blocks: RecordBlock[];
}

/**
 * A record decoded against its writer schema: its fields are the schema's,
 * known only at run time (ZTF, Rubin and every later schema version).
 */
export type AvroRecord = Record<string, unknown>;

/** A fully decoded message. */
export interface DecodeResult {
  /** The records, in message order (a container may hold several). */
  records: AvroRecord[];
  /** Stable schema key, equal to `schema.key`; group rows by it. */
  schemaKey: string;
  /** The parsed writer schema. */
  schema: ParsedSchema;
}

/** Decodes Kafka message values of one wire format. */
export interface Decoder {
  /** The wire format this decoder reads (`auto` picks per message). */
  readonly kind: DecoderKind | "auto";
  /**
   * Splits a message into schema and record blocks without decoding records.
   *
   * @throws DecodeError naming what is wrong with the message
   */
  frame(value: Uint8Array): Promise<FramedMessage>;
  /**
   * Decodes every record of a message.
   *
   * @throws DecodeError naming what is wrong with the message
   */
  decode(value: Uint8Array): Promise<DecodeResult>;
}

/** Decodes the records of a framed message, checking each block is consumed exactly. */
export function decodeFramed(framed: FramedMessage): DecodeResult {
  const read = compileReader(framed.schema.type);
  const records: AvroRecord[] = [];
  for (const block of framed.blocks) {
    const tap = new Tap(block.bytes, block.start, block.end);
    for (let i = 0; i < block.count; i++) records.push(read(tap) as AvroRecord);
    checkConsumed(tap, block.count);
  }
  return { records, schemaKey: framed.schema.key, schema: framed.schema };
}

/** Throws unless a block's records used exactly its bytes (else the schema does not fit the data). */
export function checkConsumed(tap: Tap, count: number): void {
  if (tap.pos !== tap.end) {
    throw new DecodeError(
      `Avro data has ${tap.end - tap.pos} unread bytes after ${count} record(s); ` +
        "the writer schema does not match the data or the data is corrupt",
    );
  }
}
