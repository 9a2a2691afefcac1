/**
 * Record batch v2 framing: splits a Produce request's record set into batches,
 * validates each (size, magic, CRC-32C), and reads the header fields the log
 * needs. Batches are kept as views of the request bytes, never copied.
 */
import { crc32c } from "./crc32c.ts";
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
}

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
  return {
    bytes,
    codec: view.getInt16(21) & 7,
    lastOffsetDelta: view.getInt32(23),
    maxTimestamp: Number(view.getBigInt64(35)),
    recordCount: view.getInt32(57),
  };
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
