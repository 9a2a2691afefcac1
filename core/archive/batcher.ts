/**
 * Groups raw messages per topic-partition into batches bounded by count, bytes
 * and age, whichever comes first. A cut batch is handed at once to `prepare`
 * (the archive encodes it), so several batches of one partition can be
 * prepared side by side; `flush` then takes them one after the other, in
 * offset order (the archive writes and commits). Over all partitions, the
 * bytes held (filling, preparing and flushing) stay under `maxBufferedBytes`:
 * past it the fullest batch is cut early and `add` waits for a flush to
 * finish, which pauses the source, so a burst cannot exhaust memory.
 */
import type { SourceMessage } from "../source/source.ts";
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";

/** Limits and the callbacks of a {@link Batcher}; `P` is what `prepare` makes of a batch. */
export interface BatcherOptions<P> {
  maxMessages: number;
  maxBytes: number;
  /** A non-empty batch is flushed this long after its first message arrived. */
  maxMs: number;
  /** Bytes held over every partition, filling, preparing and flushing, before `add` waits. */
  maxBufferedBytes: number;
  /** Called for every message taken into a batch (re-deliveries are not). */
  onAccept?(message: SourceMessage): void;
  /** Called when {@link Batcher.forget} drops `count` accepted messages of a revoked partition. */
  onDrop?(tp: TopicPartition, count: number): void;
  /**
   * Starts on a batch as soon as it is cut, while earlier batches of its
   * partition may still prepare or flush; rejecting stops the batcher. The
   * batcher keeps only what this returns, so the messages can be freed once
   * it no longer needs them.
   */
  prepare(tp: TopicPartition, messages: SourceMessage[]): Promise<P>;
  /**
   * Writes one prepared batch durably; called per partition in offset order,
   * after the previous batch's flush. Rejecting stops the batcher (see `failed`).
   */
  flush(tp: TopicPartition, prepared: P): Promise<void>;
}

interface Pending {
  tp: TopicPartition;
  messages: SourceMessage[];
  bytes: number;
  /** Highest offset accepted, to drop re-deliveries after a rebalance. */
  last: bigint;
  /** Bumped by {@link Batcher.forget}: an `add` still waiting for room then takes nothing more. */
  epoch: number;
  timer: ReturnType<typeof setTimeout> | null;
  /** The flush chain of this partition. */
  flushing: Promise<void>;
}

/** Per-partition batching with size, byte and time bounds, prepared ahead and flushed in order. */
export class Batcher<P = unknown> {
  #pending = new TopicPartitionMap<Pending>();
  /** Bytes of cut batches (preparing or flushing) whose flush has not finished. */
  #flushingBytes = 0;
  /** Bytes of the batches filling, over every partition (the sum of their `bytes`). */
  #fillingBytes = 0;
  #roomWaiters: (() => void)[] = [];
  /** A waiter was let in and has not taken its message yet. */
  #admitted = false;
  #failure: Error | null = null;
  #closed = false;

  constructor(readonly options: BatcherOptions<P>) {}

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

  /** Bytes held: batches filling plus cut batches whose flush has not finished. */
  get heldBytes(): number {
    return this.#fillingBytes + this.#flushingBytes;
  }

  /**
   * Adds messages of one partition (in offset order) that are past `after`, the
   * partition's committed offset. Resolves when every message is taken; waits
   * meanwhile while the bytes held are at the bound.
   */
  async add(messages: SourceMessage[], after: bigint): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    if (messages.length === 0 || this.#closed) return;
    const p = this.#partition(messages[0]);
    const epoch = p.epoch;
    for (const m of messages) {
      if (m.offset <= after || m.offset <= p.last) continue;
      if (this.#overBound() || this.#roomWaiters.length > 0 || this.#admitted) {
        await this.#room();
        this.#admitted = false;
        if (this.#failure !== null) throw this.#failure;
        if (this.#closed) return;
        if (p.epoch !== epoch) {
          // Forgotten meanwhile: the partition was revoked or is being taken over again.
          this.#admitNext();
          return;
        }
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
    if (this.#failure !== null) throw this.#failure;
  }

  /** Flushes everything buffered and waits for every flush to finish. */
  async flushAll(): Promise<void> {
    for (const p of this.#pending.values()) this.#cut(p);
    await Promise.all([...this.#pending.values()].map((p) => p.flushing));
    if (this.#failure !== null) throw this.#failure;
  }

  /**
   * Drops what partitions hold while filling (revoked, or taken over again after a
   * rebalance, when their messages are read again); batches already cut go on.
   */
  forget(tps: TopicPartition[]): void {
    for (const tp of tps) {
      const p = this.#pending.get(tp);
      if (p === undefined) continue;
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
      this.#fillingBytes -= p.bytes;
      if (p.messages.length > 0) this.options.onDrop?.(p.tp, p.messages.length);
      p.messages = [];
      p.bytes = 0;
      p.last = -1n;
      p.epoch++;
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
    return this.#pending.getOrCreate(m, (tp) => ({
      tp,
      messages: [],
      bytes: 0,
      last: -1n,
      epoch: 0,
      timer: null,
      flushing: Promise.resolve(),
    }));
  }

  #overBound(): boolean {
    return this.heldBytes >= this.options.maxBufferedBytes;
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
   * is done. Over the bound with waiters, cuts the fullest filling batch when
   * filling batches hold at least half the bound; otherwise the cut batches
   * free enough as they finish (their end calls this again). Cutting on every
   * admission instead would flush batches of one message.
   */
  #admitNext(): void {
    if (this.#failure !== null || this.#closed) {
      for (const wake of this.#roomWaiters.splice(0)) wake();
    } else if (!this.#overBound()) {
      if (this.#admitted || this.#roomWaiters.length === 0) return;
      this.#admitted = true;
      this.#roomWaiters.shift()!();
    } else if (
      this.#roomWaiters.length > 0 && this.#fillingBytes * 2 >= this.options.maxBufferedBytes
    ) {
      let fullest: Pending | undefined;
      for (const p of this.#pending.values()) if (p.bytes > (fullest?.bytes ?? 0)) fullest = p;
      if (fullest !== undefined) this.#cut(fullest);
    }
  }

  /**
   * Starts preparing a batch. A method of its own so that no closure of
   * {@link #cut} captures the messages: the flush chain would keep them alive.
   */
  #prepare(tp: TopicPartition, batch: SourceMessage[]): Promise<P> {
    const prepared = Promise.resolve().then(() => this.options.prepare(tp, batch));
    // Awaited in the flush chain; this only keeps an early rejection from being unhandled.
    prepared.catch(() => {});
    return prepared;
  }

  /** Takes the partition's buffer as one batch, starts preparing it and chains its flush. */
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
    this.#fillingBytes -= bytes;
    this.#flushingBytes += bytes;
    const prepared = this.#prepare(p.tp, batch);
    p.flushing = p.flushing.then(async () => {
      try {
        const ready = await prepared;
        if (this.#failure === null) await this.options.flush(p.tp, ready);
      } catch (e) {
        // The first error is the cause; later batches may fail only because of it.
        this.#failure ??= e as Error;
      } finally {
        this.#flushingBytes -= bytes;
        this.#admitNext();
      }
    });
  }
}
