/**
 * The log of one topic partition: a list of segments, appends that assign
 * offsets, reads by offset, lookups by timestamp, segment rolling and
 * retention, and wake-ups for Fetch requests waiting for data.
 *
 * An append assigns offsets at once and writes its batches later, in order,
 * off the JavaScript thread (so that partitions are written at the same
 * time). What consumers may see follows the written prefix only: the high
 * watermark and the transaction index move as each batch reaches the file,
 * so nothing a crash can lose is ever served.
 */
import { assignBaseOffset, type BatchInfo, firstOffsetAtOrAfter } from "../record_batch.ts";
import type { BatchCache } from "./batch_cache.ts";
import { parseSegmentFileName, Segment } from "./segment.ts";
import { TransactionIndex } from "./transaction_index.ts";

/** How a partition log stores and rolls its segments. */
export interface PartitionLogOptions {
  /** Folder of the partition's segment files; null keeps everything in memory. */
  dir: string | null;
  /** Roll to a new segment once the active one holds this many bytes. */
  segmentBytes: number;
  /** Roll to a new segment once the active one is this old (ms) and not empty. */
  segmentMs: number;
  /** Cache of recent batches (disk mode). */
  cache: BatchCache | null;
}

/** Retention limits applied by {@link PartitionLog.enforceRetention}; -1 disables one. */
export interface RetentionLimits {
  retentionBytes: number;
  retentionMs: number;
}

/** Append-only log of one partition. */
export class PartitionLog {
  readonly segments: Segment[];
  /** Open and aborted transactions, for read_committed fetches. */
  readonly transactions: TransactionIndex;
  #listeners = new Set<() => void>();
  /** Offset after the last record written (to the file on disk, at once in memory). */
  #highWatermark: number;
  /** The writes in order: the last one's completion; it never rejects. */
  #writes: Promise<void> = Promise.resolve();
  /** Why a write failed: the log takes no more appends. */
  #failure: unknown = null;
  #closed = false;

  private constructor(
    readonly options: PartitionLogOptions,
    segments: Segment[],
    transactions: TransactionIndex,
  ) {
    this.segments = segments;
    this.transactions = transactions;
    this.#highWatermark = this.logEndOffset;
  }

  /**
   * Opens a partition: recovers the segment files found in `options.dir`
   * (cutting a torn tail), or starts an empty log.
   */
  static open(options: PartitionLogOptions, now = Date.now()): PartitionLog {
    const segments: Segment[] = [];
    const transactions = new TransactionIndex();
    if (options.dir !== null) {
      Deno.mkdirSync(options.dir, { recursive: true });
      const bases: number[] = [];
      for (const entry of Deno.readDirSync(options.dir)) {
        const base = entry.isFile ? parseSegmentFileName(entry.name) : null;
        if (base !== null) bases.push(base);
      }
      bases.sort((a, b) => a - b);
      for (const base of bases) {
        const { segment, cut } = Segment.recover(
          `${options.dir}/${String(base).padStart(20, "0")}.log`,
          base,
          now,
          (info, offset) => transactions.observe(info, offset),
        );
        if (cut > 0) {
          console.error(JSON.stringify({
            component: "broker.log",
            event: "torn_tail_truncated",
            segment: segment.path,
            bytes: cut,
          }));
        }
        segments.push(segment);
      }
    }
    if (segments.length === 0) segments.push(Segment.create(options.dir, 0, now));
    return new PartitionLog(options, segments, transactions);
  }

  /** First offset still stored. */
  get logStartOffset(): number {
    return this.segments[0].baseOffset;
  }

  /** Offset the next appended record will get. */
  get logEndOffset(): number {
    return this.segments[this.segments.length - 1].nextOffset;
  }

  /**
   * Offset after the last record written: what consumers may read up to
   * (there is one replica, so written is replicated).
   */
  get highWatermark(): number {
    return this.#highWatermark;
  }

  /** Bytes stored in all segments. */
  get size(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  /**
   * Appends validated batches: rewrites each baseOffset in place and queues
   * their writes, which move the high watermark and wake waiting fetches
   * ({@link settled} tells when they are done). Returns the offset given to
   * the first batch; throws once a write has failed.
   */
  append(batches: BatchInfo[], now = Date.now()): number {
    if (this.#failure !== null) throw this.#failedError();
    const first = this.logEndOffset;
    for (const batch of batches) {
      let active = this.segments[this.segments.length - 1];
      if (
        active.count > 0 &&
        (active.size + batch.bytes.byteLength > this.options.segmentBytes ||
          now - active.createdAt >= this.options.segmentMs)
      ) {
        const rolled = active;
        this.#queue(rolled, () => rolled.seal());
        active = Segment.create(this.options.dir, active.nextOffset, now);
        this.segments.push(active);
      }
      const offset = active.nextOffset;
      assignBaseOffset(batch.bytes, offset);
      const i = active.append(batch, offset, now);
      this.options.cache?.add(active, i, batch.bytes.byteLength);
      this.#persist(active, i, batch);
    }
    return first;
  }

  /** Writes batch `i` of `segment` after those queued before it, then makes it visible. */
  #persist(segment: Segment, i: number, batch: BatchInfo): void {
    const visible = () => {
      this.transactions.observe(batch, segment.offsets[i]);
      this.#highWatermark = segment.ends[i];
      this.#wake();
    };
    if (this.options.dir === null) return visible();
    this.#queue(segment, () => segment.write(i).then(visible));
  }

  /** Runs `step` on `segment`'s file after the steps queued before it, unless one failed. */
  #queue(segment: Segment, step: () => Promise<void> | void): void {
    this.#writes = this.#writes
      .then(() => this.#failure === null ? step() : undefined)
      .catch((error) => {
        this.#failure ??= error;
        if (this.#closed) return;
        console.error(JSON.stringify({
          component: "broker.log",
          event: "write_failed",
          segment: segment.path,
          error: String(error),
        }));
      });
  }

  /** Resolves once every batch appended so far is written; rejects if a write failed. */
  async settled(): Promise<void> {
    await this.#writes;
    if (this.#failure !== null) throw this.#failedError();
  }

  #failedError(): Error {
    return new Error(
      `Partition log ${this.options.dir} failed to write (${this.#failure}): ` +
        "restart the broker, which cuts what was not written",
      { cause: this.#failure },
    );
  }

  /**
   * Whole batches from the one holding `offset` on, up to `maxBytes`, none
   * starting at or after `endOffset` (the last stable offset of a
   * read_committed fetch); the first batch is returned even when larger if
   * `minOne` is set (KIP-74).
   */
  read(offset: number, maxBytes: number, minOne: boolean, endOffset = Infinity): Uint8Array[] {
    let s = this.#segmentFor(offset);
    if (s < 0) return [];
    let i = this.segments[s].find(offset);
    const out: Uint8Array[] = [];
    let bytes = 0;
    while (s < this.segments.length) {
      const segment = this.segments[s];
      if (i < 0 || i >= segment.count) {
        s++;
        i = 0;
        continue;
      }
      let j = i;
      while (j < segment.count && segment.offsets[j] < endOffset) {
        const size = segment.sizes[j];
        if (bytes + size > maxBytes && !(minOne && out.length === 0 && j === i)) break;
        bytes += size;
        j++;
      }
      if (j > i) out.push(...segment.read(i, j));
      if (j < segment.count || segment.nextOffset >= endOffset) break;
      s++;
      i = 0;
    }
    return out;
  }

  #segmentFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Offset of the first record with a timestamp at or after `timestamp`, null when none. */
  offsetForTimestamp(timestamp: number): number | null {
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestamp) continue;
      for (let i = 0; i < segment.count; i++) {
        if (segment.timestamps[i] < timestamp) continue;
        const offset = firstOffsetAtOrAfter(segment.read(i, i + 1)[0], timestamp);
        if (offset !== null) return offset;
      }
    }
    return null;
  }

  /**
   * Deletes whole old segments (never the active one) beyond the size limit or
   * whose newest record is older than the age limit; the log start offset
   * moves to the first segment kept. Returns the number of segments deleted.
   */
  enforceRetention(limits: RetentionLimits, now = Date.now()): number {
    let deleted = 0;
    let total = this.size;
    while (this.segments.length > 1) {
      const oldest = this.segments[0];
      if (!oldest.fullyWritten) break;
      const newest = oldest.maxTimestamp >= 0 ? oldest.maxTimestamp : oldest.lastAppendAt;
      const tooBig = limits.retentionBytes >= 0 && total - oldest.size >= limits.retentionBytes;
      const tooOld = limits.retentionMs >= 0 && now - newest > limits.retentionMs;
      if (!tooBig && !tooOld) break;
      this.segments.shift();
      oldest.delete();
      total -= oldest.size;
      deleted++;
    }
    if (deleted > 0) this.transactions.dropBefore(this.logStartOffset);
    return deleted;
  }

  /** Calls `listener` when the high watermark next moves; returns a function that cancels it. */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #wake(): void {
    if (this.#listeners.size === 0) return;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) l();
  }

  /** Syncs every segment written since the last flush (see {@link Segment.flush}). */
  async flush(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.flush()));
  }

  /**
   * Flushes and closes all files, and wakes waiting fetches so they answer
   * now; batches not yet written are lost (await {@link settled} first).
   */
  close(): void {
    this.#closed = true;
    for (const s of this.segments) s.close();
    this.#wake();
  }

  /** Closes and deletes every segment file and the folder. */
  destroy(): void {
    this.#closed = true;
    for (const s of this.segments) s.delete();
    if (this.options.dir !== null) Deno.removeSync(this.options.dir, { recursive: true });
    this.#wake();
  }
}
