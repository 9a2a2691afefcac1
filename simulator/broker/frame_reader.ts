/**
 * Splits a TCP byte stream into Kafka request frames (4-byte big-endian size,
 * then the body). Large frames are read straight into their own buffer; every
 * returned frame is owned by the caller (stored batches are views of it).
 */

/** A frame size the broker refuses; the connection must be closed. */
export class FrameSizeError extends Error {
  override name = "FrameSizeError";
}

const BUFFER_BYTES = 64 * 1024;

/** Reads whole frames from a connection. */
export class FrameReader {
  #buf = new Uint8Array(BUFFER_BYTES);
  #start = 0;
  #end = 0;

  constructor(readonly conn: Deno.Conn, readonly maxFrameBytes: number) {}

  /** Reads into the buffer until it holds `n` bytes past the start; false at end of stream. */
  async #fill(n: number): Promise<boolean> {
    if (this.#start + n > this.#buf.byteLength) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end - this.#start < n) {
      const read = await this.conn.read(this.#buf.subarray(this.#end));
      if (read === null) return false;
      this.#end += read;
    }
    return true;
  }

  /**
   * The next frame body, or null when the peer closed the connection between
   * frames; throws {@link FrameSizeError} for a size out of range and an
   * error for a stream cut inside a frame.
   */
  async next(): Promise<Uint8Array | null> {
    if (!(await this.#fill(4))) {
      if (this.#end === this.#start) return null;
      throw new FrameSizeError("Connection closed inside a frame size prefix");
    }
    const b = this.#buf;
    const s = this.#start;
    const size = (b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3];
    if (size <= 0 || size > this.maxFrameBytes) {
      throw new FrameSizeError(
        `Invalid frame size ${size}: expected 1 to ${this.maxFrameBytes} bytes`,
      );
    }
    this.#start += 4;
    if (size <= BUFFER_BYTES - 4) {
      if (!(await this.#fill(size))) {
        throw new FrameSizeError(`Connection closed inside a ${size}-byte frame`);
      }
      const frame = this.#buf.slice(this.#start, this.#start + size);
      this.#start += size;
      return frame;
    }
    const frame = new Uint8Array(size);
    const buffered = Math.min(size, this.#end - this.#start);
    frame.set(this.#buf.subarray(this.#start, this.#start + buffered));
    this.#start += buffered;
    let at = buffered;
    while (at < size) {
      const read = await this.conn.read(frame.subarray(at));
      if (read === null) throw new FrameSizeError(`Connection closed inside a ${size}-byte frame`);
      at += read;
    }
    return frame;
  }
}
