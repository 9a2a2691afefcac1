/**
 * The archive's committed batches, held in memory for the distribution: the
 * archive hands over the Parquet bytes it has just written, and the
 * distribution takes them instead of reading the files back. Bounded in
 * bytes: beyond the bound the oldest are let go, and a file let go (or never
 * offered: after a restart, while the distribution is behind) is read from
 * the archive, so nothing depends on this but speed.
 */
import type { ArchivedBatch } from "../archive/consumers.ts";

/** Recently archived files' bytes by path, oldest first. */
export class RecentFiles {
  readonly #files = new Map<string, Uint8Array>();
  #bytes = 0;

  /** Holds at most `maxBytes` of files. */
  constructor(readonly maxBytes: number) {}

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps the bytes of the batch's files that came with them. */
  offer(batch: ArchivedBatch): void {
    for (const file of batch.files) {
      if (file.bytes === undefined || file.bytes.byteLength > this.maxBytes) continue;
      this.#drop(file.path);
      this.#files.set(file.path, file.bytes);
      this.#bytes += file.bytes.byteLength;
    }
    for (const path of this.#files.keys()) {
      if (this.#bytes <= this.maxBytes) break;
      this.#drop(path);
    }
  }

  /** The bytes of `path`, which are let go: a file is distributed once. */
  take(path: string): Uint8Array | undefined {
    const bytes = this.#files.get(path);
    this.#drop(path);
    return bytes;
  }

  /** Lets every file go. */
  clear(): void {
    this.#files.clear();
    this.#bytes = 0;
  }

  #drop(path: string): void {
    const bytes = this.#files.get(path);
    if (bytes === undefined) return;
    this.#files.delete(path);
    this.#bytes -= bytes.byteLength;
  }
}
