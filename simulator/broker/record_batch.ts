/**
 * Record batch v2 framing: splits a Produce request's record set into batches,
 * validates each (size, magic, CRC-32C), and reads the header fields the log
 * needs. Batches are kept as views of the request bytes, never copied.
 */
import { crc32c } from "../../core/source/crc32c.ts";
import { Reader } from "./protocol/reader.ts";

/** Bytes before a batch's CRC-covered part: baseOffset(8) length(4) epoch(4) magic(1) crc(4). */
const CRC_START = 21;
/** Smallest possible batch v2: the 61-byte header with no records. */
export const BATCH_HEADER_SIZE = 61;

/** The header fields of one record batch v2 that the log uses. */
export interface BatchInfo {
  /** The whole batch, from baseOffset to its last byte (a view). */
  bytes: Uint8Array;
  lastOffsetDelta: number;
  recordCount: number;
  maxTimestamp: number;
  /** Compression codec (attributes & 7); 0 when uncompressed. */
  codec: number;
  /** Part of a transaction (attributes bit 4). */
  transactional: boolean;
  /** A transaction marker (attributes bit 5). */
  control: boolean;
  /** The idempotent producer's id, -1 for a plain producer. */
  producerId: bigint;
  producerEpoch: number;
  /** Sequence number of the batch's first record, -1 for a plain producer. */
  baseSequence: number;
}

/** Attribute bit of a batch written inside a transaction. */
const TRANSACTIONAL_FLAG = 0x10;
/** Attribute bit of a batch holding a transaction marker. */
const CONTROL_FLAG = 0x20;

/** Why a record set was refused, with the Kafka error it maps to. */
export class BatchError extends Error {
  override name = "BatchError";
  constructor(readonly code: "corrupt" | "too_large", message: string) {
    super(message);
  }
}

/**
 * Splits `records` into validated batches; throws {@link BatchError} naming
 * the first bad batch.
 */
export function splitBatches(records: Uint8Array, maxBatchBytes: number): BatchInfo[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const out: BatchInfo[] = [];
  let at = 0;
  while (at < records.byteLength) {
    if (records.byteLength - at < BATCH_HEADER_SIZE) {
      throw new BatchError(
        "corrupt",
        `Truncated record batch: expected at least ${BATCH_HEADER_SIZE} bytes, found ${
          records.byteLength - at
        }`,
      );
    }
    const size = 12 + view.getInt32(at + 8);
    if (size < BATCH_HEADER_SIZE || at + size > records.byteLength) {
      throw new BatchError(
        "corrupt",
        `Invalid record batch length ${
          size - 12
        } at byte ${at} of a ${records.byteLength}-byte record set`,
      );
    }
    if (size > maxBatchBytes) {
      throw new BatchError(
        "too_large",
        `Record batch of ${size} bytes exceeds the limit of ${maxBatchBytes} bytes`,
      );
    }
    const magic = view.getInt8(at + 16);
    if (magic !== 2) {
      throw new BatchError("corrupt", `Unsupported record batch magic ${magic}: expected 2`);
    }
    const bytes = records.subarray(at, at + size);
    const expected = view.getUint32(at + 17);
    const actual = crc32c(bytes.subarray(CRC_START));
    if (expected !== actual) {
      throw new BatchError(
        "corrupt",
        `Record batch CRC mismatch: header says ${expected.toString(16)}, content gives ${
          actual.toString(16)
        }`,
      );
    }
    const info = readBatchHeader(bytes);
    if (info.lastOffsetDelta < 0 || info.recordCount < 0) {
      throw new BatchError(
        "corrupt",
        `Invalid record batch: lastOffsetDelta ${info.lastOffsetDelta}, record count ${info.recordCount}`,
      );
    }
    out.push(info);
    at += size;
  }
  return out;
}

/** Reads the header fields of one complete batch (no validation). */
export function readBatchHeader(bytes: Uint8Array): BatchInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const attributes = view.getInt16(21);
  return {
    bytes,
    codec: attributes & 7,
    transactional: (attributes & TRANSACTIONAL_FLAG) !== 0,
    control: (attributes & CONTROL_FLAG) !== 0,
    lastOffsetDelta: view.getInt32(23),
    maxTimestamp: Number(view.getBigInt64(35)),
    producerId: view.getBigInt64(43),
    producerEpoch: view.getInt16(51),
    baseSequence: view.getInt32(53),
    recordCount: view.getInt32(57),
  };
}

/** What a transaction marker says, with who wrote the transaction. */
export interface TransactionMarker {
  producerId: bigint;
  producerEpoch: number;
  commit: boolean;
  timestamp: number;
}

/**
 * A control batch of one record ending a transaction (KIP-98): key = version 0
 * and type (0 abort, 1 commit), value = version 0 and coordinator epoch 0.
 */
export function controlBatch(marker: TransactionMarker): BatchInfo {
  const record = [
    0, // attributes
    0, // timestamp delta (varint 0)
    0, // offset delta
    8, // key length 4 as a zigzag varint
    0,
    0,
    0,
    marker.commit ? 1 : 0,
    12, // value length 6
    0,
    0,
    0,
    0,
    0,
    0,
    0, // no headers
  ];
  const bytes = new Uint8Array(BATCH_HEADER_SIZE + 1 + record.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(8, bytes.byteLength - 12);
  view.setInt8(16, 2);
  view.setInt16(21, TRANSACTIONAL_FLAG | CONTROL_FLAG);
  view.setInt32(23, 0);
  view.setBigInt64(27, BigInt(marker.timestamp));
  view.setBigInt64(35, BigInt(marker.timestamp));
  view.setBigInt64(43, marker.producerId);
  view.setInt16(51, marker.producerEpoch);
  view.setInt32(53, -1);
  view.setInt32(57, 1);
  bytes[BATCH_HEADER_SIZE] = record.length * 2; // record length as a zigzag varint
  bytes.set(record, BATCH_HEADER_SIZE + 1);
  view.setUint32(17, crc32c(bytes.subarray(CRC_START)));
  return readBatchHeader(bytes);
}

/** Rewrites a batch's baseOffset and partition leader epoch in place (both outside the CRC). */
export function assignBaseOffset(bytes: Uint8Array, baseOffset: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setBigInt64(0, BigInt(baseOffset));
  view.setInt32(12, 0);
}

/** The baseOffset written in a batch. */
export function batchBaseOffset(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(0));
}

/**
 * Offset of the first record of an uncompressed batch whose timestamp is at
 * least `timestamp`, or null when none is; compressed batches answer their base
 * offset since their records cannot be read without decompressing.
 */
export function firstOffsetAtOrAfter(bytes: Uint8Array, timestamp: number): number | null {
  const header = readBatchHeader(bytes);
  const baseOffset = batchBaseOffset(bytes);
  if (header.maxTimestamp < timestamp) return null;
  if (header.codec !== 0) return baseOffset;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const baseTimestamp = Number(view.getBigInt64(27));
  const r = new Reader(bytes, BATCH_HEADER_SIZE);
  for (let i = 0; i < header.recordCount; i++) {
    const length = r.varint();
    const end = r.offset + length;
    r.int8();
    const timestampDelta = Number(r.varlong());
    const offsetDelta = r.varint();
    if (baseTimestamp + timestampDelta >= timestamp) return baseOffset + offsetDelta;
    r.raw(end - r.offset);
  }
  return baseOffset;
}

/** Whether a control batch commits its transaction (key type 1) rather than aborting it (0). */
export function markerCommits(bytes: Uint8Array): boolean {
  const r = new Reader(bytes, BATCH_HEADER_SIZE);
  r.varint();
  r.int8();
  r.varlong();
  r.varint();
  if (r.varint() < 4) return false;
  r.int16();
  return r.int16() === 1;
}
