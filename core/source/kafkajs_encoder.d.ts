import type { Buffer } from "node:buffer";

/** The part of kafkajs's internal protocol Encoder that kafkajs_produce_fix.ts replaces. */
export default class Encoder {
  static nextPowerOfTwo(value: number): number;
  /** The buffer being written and the bytes written to it. */
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
  ensureAvailable(length: number): void;
  writeBufferInternal(buffer: Buffer): void;
  writeInt32(value: number): this;
  writeBytes(value: Buffer | string | null): this;
  writeEncoder(value: Encoder): this;
  writeEncoderArray(values: Encoder[]): this;
  size(): number;
}
