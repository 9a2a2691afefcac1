/**
 * The transactions of one partition, as its batches show them: which
 * producers have a transaction open (and from which offset), and which
 * transactions were aborted, from their first offset to their marker. Fed
 * with every batch appended or recovered, so it is rebuilt from the files.
 */
import { type BatchInfo, markerCommits } from "../record_batch.ts";

/** An aborted transaction of one producer, as Fetch lists it. */
export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: number;
  /** Offset of the abort marker. */
  lastOffset: number;
}

/** Open and aborted transactions of one partition. */
export class TransactionIndex {
  readonly #open = new Map<bigint, number>();
  /** Ordered by marker offset, since markers are appended in order. */
  readonly #aborted: AbortedTransaction[] = [];

  /** Takes note of one batch written at `baseOffset`. */
  observe(info: BatchInfo, baseOffset: number): void {
    if (!info.transactional || info.producerId < 0n) return;
    const first = this.#open.get(info.producerId);
    if (!info.control) {
      if (first === undefined) this.#open.set(info.producerId, baseOffset);
      return;
    }
    if (first === undefined) return;
    this.#open.delete(info.producerId);
    if (!markerCommits(info.bytes)) {
      this.#aborted.push({
        producerId: info.producerId,
        firstOffset: first,
        lastOffset: baseOffset,
      });
    }
  }

  /** Producers with a transaction open in this partition. */
  openProducers(): bigint[] {
    return [...this.#open.keys()];
  }

  /** The first offset of the oldest open transaction, or `logEndOffset` when none is open. */
  lastStableOffset(logEndOffset: number): number {
    let lso = logEndOffset;
    for (const first of this.#open.values()) if (first < lso) lso = first;
    return lso;
  }

  /** Aborted transactions overlapping offsets [from, to), ordered by first offset. */
  abortedBetween(from: number, to: number): AbortedTransaction[] {
    let lo = 0;
    let hi = this.#aborted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#aborted[mid].lastOffset < from) lo = mid + 1;
      else hi = mid;
    }
    const out: AbortedTransaction[] = [];
    for (let i = lo; i < this.#aborted.length; i++) {
      if (this.#aborted[i].firstOffset < to) out.push(this.#aborted[i]);
    }
    return out.sort((a, b) => a.firstOffset - b.firstOffset);
  }

  /** Forgets aborted transactions that ended before `logStartOffset` (deleted by retention). */
  dropBefore(logStartOffset: number): void {
    let n = 0;
    while (n < this.#aborted.length && this.#aborted[n].lastOffset < logStartOffset) n++;
    if (n > 0) this.#aborted.splice(0, n);
  }
}
