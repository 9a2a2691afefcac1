/**
 * Splits a TCP byte stream into Kafka request frames (4-byte big-endian size,
 * then the body). Every returned frame is owned by the caller (stored batches
 * are views of it).
 *
 * A frame's announced size is never allocated before it is reserved: a frame
 * that fits the connection's buffer is read there; a larger one first reserves
 * its size in the broker-wide {@link InflightBudget} (waiting while other
 * frames hold it) and is then read into one buffer of that size, which the
 * operating system backs page by page as bytes arrive. A peer that stops
 * sending inside a frame for `frameTimeoutMs` is cut off, so it cannot hold
 * the budget for ever.
 */
import type { InflightBudget } from "./inflight_budget.ts";

/** A frame the broker refuses or a peer that misbehaves; the connection must be closed. */
export class FrameSizeError extends Error {
  override name = "FrameSizeError";
}

/** Frames up to this size are read into the connection's own buffer, without the budget. */
export const SMALL_FRAME_BYTES = 64 * 1024 - 4;
const BUFFER_BYTES = 64 * 1024;

/** Limits a {@link FrameReader} obeys. */
export interface FrameLimits {
  maxFrameBytes: number;
  budget: InflightBudget;
  /** Longest silence (ms) allowed inside a frame. */
  frameTimeoutMs: number;
}

/** Reads whole frames from a connection. */
export class FrameReader {
  #buf = new Uint8Array(BUFFER_BYTES);
  #start = 0;
  #end = 0;
  readonly #closed = new AbortController();

  constructor(readonly conn: Deno.Conn, readonly limits: FrameLimits) {}

  /** Ends a wait for the budget (the connection is closing). */
  abort(): void {
    this.#closed.abort(new FrameSizeError("Connection closed while waiting for memory"));
  }

  /** Gives back the budget a frame returned by {@link next} holds; call once it is answered. */
  release(frame: Uint8Array): void {
    if (frame.byteLength > SMALL_FRAME_BYTES) this.limits.budget.release(frame.byteLength);
  }

  /** One read, cut off when the peer stays silent inside a frame past the timeout. */
  async #read(into: Uint8Array, inFrame: boolean): Promise<number | null> {
    if (!inFrame) return await this.conn.read(into);
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      try {
        this.conn.close();
      } catch {
        // Closed already: the read below ends anyway.
      }
    }, this.limits.frameTimeoutMs);
    try {
      return await this.conn.read(into);
    } catch (error) {
      if (stalled) {
        throw new FrameSizeError(
          `Peer sent nothing inside a frame for ${this.limits.frameTimeoutMs} ms`,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads into the buffer until it holds `n` bytes past the start; false at end of stream. */
  async #fill(n: number, inFrame: boolean): Promise<boolean> {
    if (this.#start + n > this.#buf.byteLength) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end - this.#start < n) {
      const read = await this.#read(this.#buf.subarray(this.#end), inFrame);
      if (read === null) return false;
      this.#end += read;
    }
    return true;
  }

  /**
   * The next frame body, or null when the peer closed the connection between
   * frames; throws {@link FrameSizeError} for a size out of range or a stalled
   * peer, and an error for a stream cut inside a frame. A frame larger than
   * {@link SMALL_FRAME_BYTES} holds budget until {@link release}.
   */
  async next(): Promise<Uint8Array | null> {
    if (!(await this.#fill(4, false))) {
      if (this.#end === this.#start) return null;
      throw new FrameSizeError("Connection closed inside a frame size prefix");
    }
    const b = this.#buf;
    const s = this.#start;
    const size = (b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3];
    const max = Math.min(this.limits.maxFrameBytes, this.limits.budget.limitBytes);
    if (size <= 0 || size > max) {
      throw new FrameSizeError(`Invalid frame size ${size}: expected 1 to ${max} bytes`);
    }
    this.#start += 4;
    if (size <= SMALL_FRAME_BYTES) {
      if (!(await this.#fill(size, true))) {
        throw new FrameSizeError(`Connection closed inside a ${size}-byte frame`);
      }
      const frame = this.#buf.slice(this.#start, this.#start + size);
      this.#start += size;
      return frame;
    }
    await this.limits.budget.acquire(size, this.#closed.signal);
    try {
      return await this.#readLarge(size);
    } catch (error) {
      this.limits.budget.release(size);
      throw error;
    }
  }

  async #readLarge(size: number): Promise<Uint8Array> {
    const buffered = Math.min(size, this.#end - this.#start);
    const frame = new Uint8Array(size);
    frame.set(this.#buf.subarray(this.#start, this.#start + buffered));
    this.#start += buffered;
    let at = buffered;
    while (at < size) {
      const read = await this.#read(frame.subarray(at), true);
      if (read === null) throw new FrameSizeError(`Connection closed inside a ${size}-byte frame`);
      at += read;
    }
    return frame;
  }
}
