/**
 * Groups raw messages per topic-partition into batches bounded by count, bytes
 * and age, whichever comes first, and hands each full batch to `flush`. Flushes
 * of one partition run one after the other, in offset order. While one batch
 * flushes the next may fill; `add` waits beyond that, which pauses the source.
 * Over all partitions, the bytes held (filling and flushing) stay under
 * `maxBufferedBytes`: past it the fullest batch is cut early and `add` waits
 * for a flush to finish, so a burst on many partitions cannot exhaust memory.
 */
import type { SourceMessage, TopicPartition } from "../source/source.ts";

/** Limits and the flush callback of a {@link Batcher}. */
export interface BatcherOptions {
  maxMessages: number;
  maxBytes: number;
  /** A non-empty batch is flushed this long after its first message arrived. */
  maxMs: number;
  /** Bytes held over every partition, filling and flushing, before `add` waits. Default unbounded. */
  maxBufferedBytes?: number;
  /** Called for every message taken into a batch (re-deliveries are not). */
  onAccept?(message: SourceMessage): void;
  /** Writes one batch durably; rejecting stops the batcher (see `failed`). */
  flush(tp: TopicPartition, messages: SourceMessage[]): Promise<void>;
}

interface Pending {
  tp: TopicPartition;
  messages: SourceMessage[];
  bytes: number;
  /** Highest offset accepted, to drop re-deliveries after a rebalance. */
  last: bigint;
  timer: ReturnType<typeof setTimeout> | null;
  /** The flush chain of this partition. */
  flushing: Promise<void>;
  /** The chain before the newest batch: one batch may flush while the next fills. */
  gate: Promise<void>;
}

/** Per-partition batching with size, byte and time bounds. */
export class Batcher {
  #pending = new Map<string, Pending>();
  /** Bytes of cut batches whose flush has not finished. */
  #flushingBytes = 0;
  /** Bytes of the batches filling, over every partition (the sum of their `bytes`). */
  #fillingBytes = 0;
  #roomWaiters: (() => void)[] = [];
  /** A waiter was let in and has not taken its message yet. */
  #admitted = false;
  #failure: Error | null = null;
  #closed = false;

  constructor(readonly options: BatcherOptions) {}

  /** The error that stopped the batcher, if any. */
  get failed(): Error | null {
    return this.#failure;
  }

  /** Messages buffered and not yet flushed, over every partition. */
  get buffered(): { messages: number; bytes: number } {
    let messages = 0;
    for (const p of this.#pending.values()) messages += p.messages.length;
    return { messages, bytes: this.#fillingBytes };
  }

  /** Bytes held: batches filling plus batches whose flush has not finished. */
  get heldBytes(): number {
    return this.#fillingBytes + this.#flushingBytes;
  }

  /**
   * Adds messages of one partition (in offset order) that are past `after`, the
   * partition's committed offset. Resolves when the caller may send more.
   */
  async add(messages: SourceMessage[], after: bigint): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    if (messages.length === 0 || this.#closed) return;
    const p = this.#partition(messages[0]);
    for (const m of messages) {
      if (m.offset <= after || m.offset <= p.last) continue;
      if (this.#overBound() || this.#roomWaiters.length > 0 || this.#admitted) {
        await this.#room();
        this.#admitted = false;
        if (this.#failure !== null) throw this.#failure;
        if (this.#closed) return;
      }
      p.messages.push(m);
      p.bytes += m.value.byteLength;
      this.#fillingBytes += m.value.byteLength;
      this.options.onAccept?.(m);
      p.last = m.offset;
      if (p.messages.length >= this.options.maxMessages || p.bytes >= this.options.maxBytes) {
        this.#cut(p);
      }
      this.#admitNext();
    }
    if (p.messages.length > 0 && p.timer === null) {
      p.timer = setTimeout(() => this.#cut(p), this.options.maxMs);
    }
    await p.gate;
    if (this.#failure !== null) throw this.#failure;
  }

  /** Flushes everything buffered and waits for every flush to finish. */
  async flushAll(): Promise<void> {
    for (const p of this.#pending.values()) this.#cut(p);
    await Promise.all([...this.#pending.values()].map((p) => p.flushing));
    if (this.#failure !== null) throw this.#failure;
  }

  /** Drops the buffers of partitions this process no longer owns. */
  forget(tps: TopicPartition[]): void {
    for (const tp of tps) {
      const p = this.#pending.get(`${tp.topic}\0${tp.partition}`);
      if (p === undefined) continue;
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
      this.#fillingBytes -= p.bytes;
      p.messages = [];
      p.bytes = 0;
      p.last = -1n;
    }
    this.#admitNext();
  }

  /** Flushes what is buffered, then refuses new messages. */
  async close(): Promise<void> {
    await this.flushAll().catch(() => {});
    this.#closed = true;
    this.#admitNext();
    for (const p of this.#pending.values()) if (p.timer !== null) clearTimeout(p.timer);
  }

  #partition(m: SourceMessage): Pending {
    const k = `${m.topic}\0${m.partition}`;
    let p = this.#pending.get(k);
    if (p === undefined) {
      p = {
        tp: { topic: m.topic, partition: m.partition },
        messages: [],
        bytes: 0,
        last: -1n,
        timer: null,
        flushing: Promise.resolve(),
        gate: Promise.resolve(),
      };
      this.#pending.set(k, p);
    }
    return p;
  }

  #overBound(): boolean {
    return this.heldBytes >= (this.options.maxBufferedBytes ?? Infinity);
  }

  /**
   * Waits for room under the bound, in arrival order: one waiter is let in at a
   * time, and lets the next in once its message is taken (see {@link #admitNext}).
   */
  async #room(): Promise<void> {
    const admitted = new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    this.#admitNext();
    await admitted;
  }

  /**
   * Lets the longest waiter in when there is room, or everyone when the batcher
   * is done. Over the bound with waiters, cuts the fullest filling batch unless
   * flushes already free enough: their end calls this again.
   */
  #admitNext(): void {
    if (this.#failure !== null || this.#closed) {
      for (const wake of this.#roomWaiters.splice(0)) wake();
    } else if (!this.#overBound()) {
      if (this.#admitted || this.#roomWaiters.length === 0) return;
      this.#admitted = true;
      this.#roomWaiters.shift()!();
    } else if (
      this.#roomWaiters.length > 0 && this.#flushingBytes < this.options.maxBufferedBytes!
    ) {
      let fullest: Pending | undefined;
      for (const p of this.#pending.values()) if (p.bytes > (fullest?.bytes ?? 0)) fullest = p;
      if (fullest !== undefined) this.#cut(fullest);
    }
  }

  /** Takes the partition's buffer as one batch and chains its flush. */
  #cut(p: Pending): void {
    if (p.timer !== null) {
      clearTimeout(p.timer);
      p.timer = null;
    }
    if (p.messages.length === 0 || this.#failure !== null) return;
    const batch = p.messages;
    const bytes = p.bytes;
    p.messages = [];
    p.bytes = 0;
    p.gate = p.flushing;
    this.#fillingBytes -= bytes;
    this.#flushingBytes += bytes;
    p.flushing = p.flushing.then(async () => {
      try {
        if (this.#failure === null) await this.options.flush(p.tp, batch);
      } catch (e) {
        this.#failure = e as Error;
      } finally {
        this.#flushingBytes -= bytes;
        this.#admitNext();
      }
    });
  }
}
