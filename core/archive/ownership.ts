/**
 * Which topic-partitions this process works on, for everything downstream of
 * the archive (stream plugins, distribution). A process whose archive consumes
 * Kafka works on the partitions its consumer group assigned it, as the ledger
 * took them over; once its archive stopped, on the last ones it had, so that
 * its plugins finish what was archived, until another node takes them over and
 * fences them off (their commits then fail and they leave those partitions
 * alone). A process without an archive (`start distribute` over an existing
 * archive, a plugin run alone) works on every partition of the archive.
 */
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";

/** What this process owns now; see the module documentation. */
export class Ownership {
  /** Null: every partition (no archive in this process). */
  #owned: TopicPartition[] | null = null;
  #committed = new TopicPartitionMap<bigint>();
  #listeners = new Set<() => void>();

  /** The partitions owned now; null for every partition of the archive. */
  owned(): TopicPartition[] | null {
    return this.#owned === null ? null : [...this.#owned];
  }

  /** Whether `tp` is owned now. */
  owns(tp: TopicPartition): boolean {
    return this.#owned === null ||
      this.#owned.some((o) => o.topic === tp.topic && o.partition === tp.partition);
  }

  /**
   * The archive will consume Kafka here: nothing is owned until its first
   * assignment (so that nothing here competes with the nodes already running).
   */
  expectAssignment(): void {
    if (this.#owned === null) this.#set([]);
  }

  /**
   * The archive's assignment, once its ledger took the partitions over, with the
   * committed offset the takeover found on each (every record before it completed,
   * so every file up to there is in place).
   */
  assign(tps: TopicPartition[], committed = new TopicPartitionMap<bigint>()): void {
    this.#committed = committed;
    this.#set(tps);
  }

  /** The archive committed a batch and its files are in place (before it is handed on). */
  archived(batch: TopicPartition & { endOffset: bigint }): void {
    const known = this.#committed.get(batch);
    if (this.owns(batch) && (known === undefined || known < batch.endOffset)) {
      this.#committed.set(batch, batch.endOffset);
    }
  }

  /**
   * The last committed offset of an owned partition whose files are in place, as this
   * process's archive knows it (its takeover's, then each batch it committed). The ledger
   * may be ahead by a batch whose files are still being renamed: a reader listing files up
   * to the ledger's offset would miss them. Undefined when no archive here took it over.
   */
  inPlace(tp: TopicPartition): bigint | undefined {
    return this.owns(tp) ? this.#committed.get(tp) : undefined;
  }

  /** Calls `listener` after every change; returns the way to stop. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(tps: TopicPartition[]): void {
    this.#owned = [...tps];
    for (const listener of this.#listeners) listener();
  }
}
