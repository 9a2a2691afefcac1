/**
 * A bounded memory of recently appended batches shared by every partition of
 * an on-disk broker: Fetch serves them without touching the file, and the
 * oldest are dropped (first in, first out) once the byte budget is exceeded.
 */
import type { Segment } from "./segment.ts";

interface Entry {
  segment: Segment;
  index: number;
  size: number;
}

/** First-in-first-out cache of batch bytes, bounded in bytes. */
export class BatchCache {
  #entries: Entry[] = [];
  #head = 0;
  #bytes = 0;

  /** @param limit most bytes kept; 0 disables caching */
  constructor(readonly limit: number) {}

  /** Bytes currently cached. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records that `segment.batches[index]` holds `size` bytes, evicting the oldest entries over the limit. */
  add(segment: Segment, index: number, size: number): void {
    this.#entries.push({ segment, index, size });
    this.#bytes += size;
    while (this.#bytes > this.limit && this.#head < this.#entries.length) {
      const old = this.#entries[this.#head++];
      old.segment.evict(old.index);
      this.#bytes -= old.size;
    }
    if (this.#head > 4096 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
