/**
 * A Kafka topic and partition, the unit everything downstream of the source
 * keeps its counts, offsets and progress by, and a map keyed by it (no key
 * built as text and parsed back). Its text form `<topic>+<partition>` is the
 * one file names and status documents use; `+` cannot occur in a topic name.
 */

/** A topic and partition pair. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** `<topic>+<partition>`. */
export function formatTopicPartition(tp: TopicPartition): string {
  return `${tp.topic}+${tp.partition}`;
}

/** Parses `<topic>+<partition>`; null for other text. */
export function parseTopicPartition(text: string): TopicPartition | null {
  const m = /^(.+)\+(\d+)$/.exec(text);
  return m === null ? null : { topic: m[1], partition: Number(m[2]) };
}

/**
 * A map keyed by topic-partition: two pairs with the same topic and partition
 * are the same key, whatever objects they are. Iterates in insertion order.
 * Serialised to JSON as an object keyed by `<topic>+<partition>`.
 */
export class TopicPartitionMap<V> implements Iterable<[TopicPartition, V]> {
  /** Entries by a key only this class builds and never parses: the pair is kept beside it. */
  readonly #entries = new Map<string, { tp: TopicPartition; value: V }>();

  /** A map holding `entries`. */
  constructor(entries: Iterable<readonly [TopicPartition, V]> = []) {
    for (const [tp, value] of entries) this.set(tp, value);
  }

  /** Number of topic-partitions held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value of a topic-partition, or undefined. */
  get(tp: TopicPartition): V | undefined {
    return this.#entries.get(key(tp))?.value;
  }

  /** Whether the topic-partition is held. */
  has(tp: TopicPartition): boolean {
    return this.#entries.has(key(tp));
  }

  /** Sets the value of a topic-partition. */
  set(tp: TopicPartition, value: V): this {
    const k = key(tp);
    const entry = this.#entries.get(k);
    if (entry === undefined) {
      this.#entries.set(k, { tp: { topic: tp.topic, partition: tp.partition }, value });
    } else {
      entry.value = value;
    }
    return this;
  }

  /**
   * The value of a topic-partition, made by `make` and set when absent; `make`
   * gets a pair of its own (not `tp`, which may be a whole message).
   */
  getOrCreate(tp: TopicPartition, make: (tp: TopicPartition) => V): V {
    const k = key(tp);
    const entry = this.#entries.get(k);
    if (entry !== undefined) return entry.value;
    const own = { topic: tp.topic, partition: tp.partition };
    const value = make({ ...own });
    this.#entries.set(k, { tp: own, value });
    return value;
  }

  /** Removes a topic-partition; whether it was held. */
  delete(tp: TopicPartition): boolean {
    return this.#entries.delete(key(tp));
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
  }

  /** The topic-partitions, in insertion order. */
  *keys(): IterableIterator<TopicPartition> {
    for (const { tp } of this.#entries.values()) yield { ...tp };
  }

  /** The values, in insertion order of their keys. */
  *values(): IterableIterator<V> {
    for (const { value } of this.#entries.values()) yield value;
  }

  /** The entries, in insertion order. */
  *entries(): IterableIterator<[TopicPartition, V]> {
    for (const { tp, value } of this.#entries.values()) yield [{ ...tp }, value];
  }

  /** See {@link entries}. */
  [Symbol.iterator](): IterableIterator<[TopicPartition, V]> {
    return this.entries();
  }

  /** `{ "<topic>+<partition>": value, ... }`, the form status documents show. */
  toJSON(): Record<string, V> {
    const out: Record<string, V> = {};
    for (const { tp, value } of this.#entries.values()) out[formatTopicPartition(tp)] = value;
    return out;
  }
}

/** NUL cannot occur in a topic name, so the key is unambiguous. */
function key(tp: TopicPartition): string {
  return `${tp.topic}\0${tp.partition}`;
}
