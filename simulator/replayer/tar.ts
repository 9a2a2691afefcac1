/**
 * Streaming reader of tar archives (ustar, GNU long names, pax paths): yields regular
 * files one at a time so a large archive of alerts never sits in memory whole.
 */

/** A regular file inside an archive. */
export interface TarEntry {
  /** Path inside the archive. */
  name: string;
  /** File contents. */
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

/** Reads exact byte counts from a stream of chunks. */
class ByteQueue {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Exactly `length` bytes, or null at a clean end of stream; throws on a truncated one. */
  async read(length: number, what: string): Promise<Uint8Array | null> {
    while (this.#buffered < length) {
      const { done, value } = await this.#reader.read();
      if (done) {
        if (this.#buffered === 0) return null;
        throw new Error(
          `${what} is truncated: expected ${length} more bytes, found ${this.#buffered}`,
        );
      }
      this.#chunks.push(value);
      this.#buffered += value.length;
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, length - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#buffered -= length;
    return out;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

function text(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

function octal(header: Uint8Array, offset: number, length: number, what: string): number {
  if (header[offset] & 0x80) {
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + header[i];
    return value;
  }
  const digits = text(header, offset, length).trim();
  const value = digits === "" ? 0 : parseInt(digits, 8);
  if (!Number.isFinite(value) || !/^[0-7]*$/.test(digits)) {
    throw new Error(`${what} has a corrupt tar header: size field "${digits}" is not octal`);
  }
  return value;
}

function paxPath(data: Uint8Array): string | null {
  const records = decoder.decode(data);
  let pos = 0;
  while (pos < records.length) {
    const space = records.indexOf(" ", pos);
    const length = parseInt(records.slice(pos, space), 10);
    if (!(length > 0) || space < 0) return null;
    const record = records.slice(space + 1, pos + length - 1);
    if (record.startsWith("path=")) return record.slice(5);
    pos += length;
  }
  return null;
}

/**
 * Regular files of the tar archive in `stream`, in archive order. `what` names the
 * archive in errors. The stream is cancelled when the iteration ends, early or not.
 */
export async function* readTar(
  stream: ReadableStream<Uint8Array>,
  what: string,
): AsyncGenerator<TarEntry> {
  const queue = new ByteQueue(stream);
  let longName: string | null = null;
  try {
    for (;;) {
      const header = await queue.read(BLOCK, what);
      if (header === null || header.every((byte) => byte === 0)) return;
      const size = octal(header, 124, 12, what);
      const type = String.fromCharCode(header[156] || 0x30);
      const magic = text(header, 257, 6);
      const prefix = magic.startsWith("ustar") ? text(header, 345, 155) : "";
      const body = size > 0 ? await queue.read(Math.ceil(size / BLOCK) * BLOCK, what) : null;
      if (size > 0 && body === null) throw new Error(`${what} is truncated inside an entry`);
      const data = body ? body.subarray(0, size) : new Uint8Array(0);
      if (type === "L") {
        longName = text(data, 0, data.length);
        continue;
      }
      if (type === "x") {
        longName = paxPath(data) ?? longName;
        continue;
      }
      const name = longName ??
        (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
      longName = null;
      if (type === "0" || type === "7") yield { name, data };
    }
  } finally {
    // Also after the end-of-archive blocks: the zero padding behind them is never read.
    await queue.cancel();
  }
}
