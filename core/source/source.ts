/**
 * Where alerts come from. Two kinds: a Kafka consumer group (`kafka.ts`) and a
 * folder of Avro files replayed as if it were one partition (`files.ts`).
 * Batching, decoding and archiving happen downstream; a source only delivers
 * raw messages in offset order per topic-partition and records commits.
 */
import type { TopicPartition } from "./topic_partition.ts";

/** One raw message as it came from the source. */
export interface SourceMessage {
  topic: string;
  partition: number;
  offset: bigint;
  /** Broker timestamp, ms since the epoch. */
  timestamp: number;
  value: Uint8Array;
}

/** What a source calls as messages arrive. */
export interface SourceHandler {
  /**
   * Messages of one topic-partition in offset order. The source waits for the
   * returned promise before delivering more of that partition: backpressure.
   */
  onMessages(messages: SourceMessage[]): Promise<void>;
  /**
   * The partitions this process owns now, after each rebalance (all of them, the
   * ones it kept included). Resolves to where each resumes: the offset after the
   * last one durably archived, or null for where Kafka's committed offset (or
   * `kafka.start`) says. The source delivers nothing of the new assignment before.
   */
  onAssigned?(partitions: TopicPartition[]): Promise<ResumePoint[]> | void;
}

/** Where a partition resumes after an assignment. */
export interface ResumePoint extends TopicPartition {
  /** The next offset to deliver; null: where Kafka's committed offset says. */
  next: bigint | null;
}

/** Position of one partition, for lag. */
export interface PartitionPosition extends TopicPartition {
  /** Offset of the next message the broker will write (high watermark). */
  highWatermark: bigint;
}

/** This process's place in its consumer group, as its source knows it. */
export interface Membership {
  /** The consumer group id. */
  group: string;
  /** The member id the coordinator gave this process; null before it first joined. */
  memberId: string | null;
  clientId: string;
  /** The partitions this process owns now, sorted by topic then partition. */
  assigned: TopicPartition[];
  /** When the current assignment was received (ISO time), null before the first. */
  since: string | null;
}

/** Connection state of a source. */
export interface SourceHealth {
  connected: boolean;
  error: string | null;
}

/** A stream of raw alerts. */
export interface Source {
  /** Short description for logs and status (e.g. "kafka 127.0.0.1:9092 topics ztf-sim"). */
  readonly description: string;
  /** Starts delivering to the handler. */
  start(handler: SourceHandler): Promise<void>;
  /** Records that everything below `nextOffset` is durably archived. */
  commit(tp: TopicPartition, nextOffset: bigint): Promise<void>;
  /** High watermarks known so far, per partition. */
  positions(): PartitionPosition[];
  /** Whether the source is connected, and its last error while it is not. */
  health(): SourceHealth;
  /** The consumer group membership; null for a source without a group (files). */
  membership(): Membership | null;
  /** Resolves when a finite source (files) delivered everything; never for Kafka. */
  readonly finished: Promise<void>;
  /** Stops delivering; resolves once no handler call is running. */
  stop(): Promise<void>;
}
