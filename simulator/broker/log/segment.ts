/**
 * One segment of a partition log: record batches with increasing offsets from
 * `baseOffset`, held in memory or appended to `<baseOffset 20 digits>.log`,
 * with an in-memory index (batch offsets, file positions, sizes, timestamps)
 * rebuilt on start by scanning the file. A batch is indexed at once and
 * written later through a handle of its own (kept while the segment is the
 * active one), off the JavaScript thread, so that reads (which seek the
 * other handle) go on meanwhile; it stays in memory until written.
 */
import { join } from "node:path";
import { crc32c } from "../../../core/source/crc32c.ts";
import {
  BATCH_HEADER_SIZE,
  batchBaseOffset,
  type BatchInfo,
  readBatchHeader,
} from "../record_batch.ts";

/** Bytes read per step when scanning a segment file on start. */
const SCAN_CHUNK = 8 << 20;

/** File name of the segment starting at `baseOffset`. */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, "0")}.log`;
}

/** Base offset of a segment file name, or null when the name is not one. */
export function parseSegmentFileName(name: string): number | null {
  const m = /^(\d{20})\.log$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** A run of batches with consecutive offsets, stored in memory or in one file. */
export class Segment {
  /** Offset after the last record of this segment. */
  nextOffset: number;
  /** Bytes of all batches. */
  size = 0;
  /** Largest batch timestamp, -1 when none. */
  maxTimestamp = -1;
  /** Wall-clock time of the last append (or of opening), for age-based rolling and retention. */
  lastAppendAt: number;
  /** Base offset of each batch. */
  readonly offsets: number[] = [];
  /** Offset after each batch's last record. */
  readonly ends: number[] = [];
  /** File position of each batch. */
  readonly positions: number[] = [];
  /** Byte size of each batch. */
  readonly sizes: number[] = [];
  /** Largest record timestamp of each batch. */
  readonly timestamps: number[] = [];
  /** Batch bytes kept in memory: all of them in memory mode, recent ones (the cache) on disk. */
  readonly batches: (Uint8Array | null)[] = [];
  #file: Deno.FsFile | null;
  /** The handle {@link write} writes through, opened by the first write, closed by {@link seal}. */
  #writer: Deno.FsFile | null = null;
  /** Batches written to the file: a prefix of the index. */
  #written = 0;
  /** Batches the cache dropped before they were written: dropped once they are. */
  readonly #evictWhenWritten = new Set<number>();
  /** Appended to since the last flush began. */
  #dirty = false;
  /** Flushes begun and not finished. */
  #syncing = 0;

  private constructor(
    readonly baseOffset: number,
    readonly path: string | null,
    file: Deno.FsFile | null,
    readonly createdAt: number,
  ) {
    this.nextOffset = baseOffset;
    this.#file = file;
    this.lastAppendAt = createdAt;
  }

  /** A new empty segment, with its file created when `dir` is given. */
  static create(dir: string | null, baseOffset: number, now: number): Segment {
    if (dir === null) return new Segment(baseOffset, null, null, now);
    const path = join(dir, segmentFileName(baseOffset));
    const file = Deno.openSync(path, { read: true, write: true, create: true, truncate: true });
    return new Segment(baseOffset, path, file, now);
  }

  /**
   * Opens an existing segment file and indexes its batches; a torn or corrupt
   * tail (short batch, bad length, bad magic, bad CRC, offsets going back) is
   * cut off. `observe` sees every batch kept, with its base offset. Returns
   * the segment and the number of bytes cut.
   */
  static recover(
    path: string,
    baseOffset: number,
    now: number,
    observe: (info: BatchInfo, baseOffset: number) => void = () => {},
  ): { segment: Segment; cut: number } {
    const file = Deno.openSync(path, { read: true, write: true });
    const fileSize = file.statSync().size;
    const segment = new Segment(baseOffset, path, file, now);
    let chunk: Uint8Array = new Uint8Array(0);
    let chunkStart = 0;
    const load = (at: number, n: number): Uint8Array => {
      if (at < chunkStart || at + n > chunkStart + chunk.byteLength) {
        chunk = readAt(file, at, Math.min(Math.max(n, SCAN_CHUNK), fileSize - at));
        chunkStart = at;
      }
      return chunk.subarray(at - chunkStart, at - chunkStart + n);
    };
    let pos = 0;
    while (fileSize - pos >= BATCH_HEADER_SIZE) {
      const head = load(pos, BATCH_HEADER_SIZE);
      const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const size = 12 + view.getInt32(8);
      if (size < BATCH_HEADER_SIZE || pos + size > fileSize || view.getInt8(16) !== 2) break;
      const crc = view.getUint32(17);
      const bytes = load(pos, size);
      if (crc32c(bytes.subarray(21)) !== crc) break;
      const base = batchBaseOffset(bytes);
      if (base < segment.nextOffset) break;
      const info = readBatchHeader(bytes);
      segment.#index(info, base, pos, size);
      observe(info, base);
      pos += size;
    }
    const cut = fileSize - pos;
    if (cut > 0) file.truncateSync(pos);
    segment.#written = segment.count;
    return { segment, cut };
  }

  /** Number of batches. */
  get count(): number {
    return this.offsets.length;
  }

  #index(info: BatchInfo, baseOffset: number, position: number, size: number): number {
    this.offsets.push(baseOffset);
    this.ends.push(baseOffset + info.lastOffsetDelta + 1);
    this.positions.push(position);
    this.sizes.push(size);
    this.timestamps.push(info.maxTimestamp);
    this.batches.push(null);
    this.nextOffset = baseOffset + info.lastOffsetDelta + 1;
    this.size = position + size;
    if (info.maxTimestamp > this.maxTimestamp) this.maxTimestamp = info.maxTimestamp;
    return this.offsets.length - 1;
  }

  /**
   * Indexes a batch whose baseOffset was already assigned, keeping its bytes
   * in memory (the caller decides how long once it is written); returns its
   * index. On disk, {@link write} must then be called for it.
   */
  append(info: BatchInfo, baseOffset: number, now: number): number {
    const i = this.#index(info, baseOffset, this.size, info.bytes.byteLength);
    this.batches[i] = info.bytes;
    this.lastAppendAt = now;
    return i;
  }

  /**
   * Writes batch `i` at the end of the file, on another thread. The caller
   * writes the batches in index order, each once the one before it is written.
   */
  async write(i: number): Promise<void> {
    const bytes = this.batches[i]!;
    const writer = this.#openWriter(this.positions[i]);
    let at = 0;
    while (at < bytes.byteLength) at += await writer.write(bytes.subarray(at));
    this.#dirty = true;
    this.#written = i + 1;
    if (this.#evictWhenWritten.delete(i)) this.batches[i] = null;
  }

  /** Whether every batch indexed is in the file (always true in memory mode). */
  get fullyWritten(): boolean {
    return this.path === null || this.#written === this.count;
  }

  /**
   * Drops a cached batch (disk mode); it will be read from the file when
   * needed. A batch not yet written is dropped once it is.
   */
  evict(i: number): void {
    if (!this.#file) return;
    if (i < this.#written) this.batches[i] = null;
    else this.#evictWhenWritten.add(i);
  }

  /** Index of the batch holding `offset` (the last batch starting at or before it), -1 when none. */
  find(offset: number): number {
    let lo = 0;
    let hi = this.offsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid] <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return this.offsets.length > 0 ? 0 : -1;
    if (this.ends[found] <= offset) found++;
    return found >= this.offsets.length ? -1 : found;
  }

  /** Bytes of batches `from` to `to` (exclusive), from memory where cached, else from the file. */
  read(from: number, to: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = from;
    while (i < to) {
      const cached = this.batches[i];
      if (cached) {
        out.push(cached);
        i++;
        continue;
      }
      let j = i;
      while (j < to && !this.batches[j]) j++;
      const start = this.positions[i];
      const run = readAt(this.#open(), start, this.positions[j - 1] + this.sizes[j - 1] - start);
      for (let k = i; k < j; k++) {
        const at = this.positions[k] - start;
        out.push(run.subarray(at, at + this.sizes[k]));
      }
      i = j;
    }
    return out;
  }

  #open(): Deno.FsFile {
    if (!this.#file) throw new Error(`Segment ${this.baseOffset} has no file and no cached batch`);
    return this.#file;
  }

  #openWriter(position: number): Deno.FsFile {
    if (!this.#file) throw new Error(`Segment file ${this.path} is closed`);
    if (!this.#writer) {
      this.#writer = Deno.openSync(this.path!, { write: true });
      this.#writer.seekSync(position, Deno.SeekMode.Start);
    }
    return this.#writer;
  }

  /** Closes the write handle of a segment that takes no more batches (once they are written). */
  seal(): void {
    this.#writer?.close();
    this.#writer = null;
  }

  /**
   * Writes what was appended to stable storage (fdatasync) when anything was,
   * on a thread of its own: appends and reads go on meanwhile, and those made
   * after the flush began are left to the next one.
   */
  async flush(): Promise<void> {
    if (!this.#file || !this.#dirty) return;
    this.#dirty = false;
    this.#syncing++;
    try {
      await this.#file.syncData();
    } catch (error) {
      this.#dirty = true;
      throw error;
    } finally {
      this.#syncing--;
    }
  }

  /**
   * Syncs what was written (waiting for a flush under way too) and closes the
   * file; a batch not written by then is lost, as in a crash.
   */
  close(): void {
    this.seal();
    if (!this.#file) return;
    if (this.#dirty || this.#syncing > 0) this.#file.syncDataSync();
    this.#dirty = false;
    this.#file.close();
    this.#file = null;
  }

  /** Closes and removes the file. */
  delete(): void {
    this.seal();
    if (this.#file) {
      this.#file.close();
      this.#file = null;
    }
    this.batches.fill(null);
    if (this.path) Deno.removeSync(this.path);
  }
}

function readAt(file: Deno.FsFile, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  file.seekSync(position, Deno.SeekMode.Start);
  let at = 0;
  while (at < length) {
    const n = file.readSync(out.subarray(at));
    if (n === null || n === 0) {
      throw new Error(
        `Segment file ended early: expected ${length} bytes at ${position}, read ${at}`,
      );
    }
    at += n;
  }
  return out;
}
