/**
 * Framing of the pipe between the host and a plugin process: each frame is an
 * 8-byte header (JSON length, payload length, both u32 little-endian), a JSON
 * message and an optional binary payload (Arrow IPC bytes). Both ends use it.
 * Bigints in messages travel as decimal strings.
 */

const HEADER_BYTES = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One frame: a JSON message and its binary payload (empty when none). */
export interface Frame<T> {
  message: T;
  payload: Uint8Array;
}

/** Raised when a frame announces more bytes than the reader accepts. */
export class FrameTooLargeError extends Error {
  /** Bytes the frame announced. */
  readonly bytes: number;
  /** A frame of `bytes` bytes, more than `limit`. */
  constructor(bytes: number, limit: number) {
    super(`a frame of ${bytes} bytes exceeds the limit of ${limit} bytes`);
    this.name = "FrameTooLargeError";
    this.bytes = bytes;
  }
}

/** The bytes of one frame, ready to be written in one call. */
export function encodeFrame(message: unknown, payload?: Uint8Array): Uint8Array {
  const json = encoder.encode(
    JSON.stringify(message, (_key, value) => typeof value === "bigint" ? String(value) : value),
  );
  const size = payload?.byteLength ?? 0;
  const bytes = new Uint8Array(HEADER_BYTES + json.byteLength + size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, json.byteLength, true);
  view.setUint32(4, size, true);
  bytes.set(json, HEADER_BYTES);
  if (payload !== undefined) bytes.set(payload, HEADER_BYTES + json.byteLength);
  return bytes;
}

/** Options of {@link readFrames}. */
export interface ReadFramesOptions {
  /** Largest frame accepted, in bytes; a larger one raises {@link FrameTooLargeError}. */
  maxBytes?: number;
}

/**
 * The frames of a byte stream, in order; ends with the stream (a partial last frame is dropped).
 *
 * @throws FrameTooLargeError as soon as a header announces more than `maxBytes`
 */
export async function* readFrames<T>(
  stream: ReadableStream<Uint8Array>,
  options: ReadFramesOptions = {},
): AsyncGenerator<Frame<T>> {
  const maxBytes = options.maxBytes ?? 2 ** 32;
  let chunks: Uint8Array[] = [];
  let buffered = 0;
  let needed = HEADER_BYTES;
  let header: { json: number; payload: number } | undefined;
  const take = (count: number): Uint8Array => {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = chunks[0];
      const part = Math.min(chunk.byteLength, count - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.byteLength) chunks.shift();
      else chunks[0] = chunk.subarray(part);
    }
    buffered -= count;
    return out;
  };
  for await (const chunk of stream) {
    chunks.push(chunk);
    buffered += chunk.byteLength;
    while (buffered >= needed) {
      if (header === undefined) {
        const view = new DataView(take(HEADER_BYTES).buffer);
        header = { json: view.getUint32(0, true), payload: view.getUint32(4, true) };
        const total = header.json + header.payload;
        if (total > maxBytes) throw new FrameTooLargeError(total, maxBytes);
        needed = total;
        continue;
      }
      const json = take(header.json);
      const payload = take(header.payload);
      const message = JSON.parse(decoder.decode(json));
      header = undefined;
      needed = HEADER_BYTES;
      yield { message: message as T, payload };
    }
  }
  chunks = [];
}

/** Bytes as megabytes with one decimal, as reports word them. */
export function megabytes(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}
