/**
 * Counts at every stage of the archive, per topic-partition, with rates over
 * the last seconds. For every partition, at every moment, `received =
 * archived + quarantined + inFlight` (one alert per message): an alert is in
 * flight from the moment the batcher takes it until its batch is committed,
 * whether it is filling a batch, being encoded or waiting for storage.
 */
import { DELIVERY_SECONDS, Histogram, type HistogramSnapshot } from "../histogram.ts";
import { type TopicPartition, TopicPartitionMap } from "../source/topic_partition.ts";
import { type StageSnapshot, StageTimes } from "./stage_times.ts";

/** Counters of one topic-partition. */
export interface PartitionCounts {
  topic: string;
  partition: number;
  received: number;
  decoded: number;
  archived: number;
  quarantined: number;
  /** Received and not yet archived or quarantined (filling, encoding, writing, retrying). */
  inFlight: number;
  bytesIn: number;
  /** Last offset durably archived, as a string (64-bit). */
  committedOffset: string | null;
  /** Messages the broker holds past the committed offset, when known. */
  lag: number | null;
}

/** Files written into one hour folder of one topic. */
export interface HourCounts {
  topic: string;
  hour: string;
  files: number;
  alerts: number;
  bytes: number;
}

/** A recent error, for the status. */
export interface RecentError {
  at: string;
  message: string;
}

/** The archive's last durable commit. */
export interface LastCommit {
  at: string;
  topic: string;
  partition: number;
  offset: string;
}

/** Alerts/s in and out, and MB/s in, over the last seconds. */
export interface ArchiveRates {
  inPerSecond: number;
  outPerSecond: number;
  mbInPerSecond: number;
}

/** Archive counts summed over every topic-partition. */
export interface ArchiveTotals {
  received: number;
  decoded: number;
  archived: number;
  quarantined: number;
  /** Received and not yet archived or quarantined: received = archived + quarantined + inFlight. */
  inFlight: number;
  /** Of those in flight, the alerts still filling a batch. */
  buffered: number;
  files: number;
  bytes: number;
}

/** p50 and p99 of a latency sample, ms (null before any). */
export interface LatencyPercentiles {
  p50: number | null;
  p99: number | null;
}

/** The latency of one topic's last alerts. */
export interface TopicLatency extends LatencyPercentiles {
  topic: string;
}

/** The figures part of the archive's status (see {@link ArchiveStats.figures}). */
export interface ArchiveFigures extends StageSnapshot {
  rates: ArchiveRates;
  /** p50 and p99 of the last alerts' broker-to-durable latency, ms. */
  latencyMs: LatencyPercentiles;
  /** The same per topic, for the topics archived most recently (tonight apart from a backlog). */
  topicLatencyMs: TopicLatency[];
  deliverySeconds: HistogramSnapshot;
  totals: ArchiveTotals;
  partitions: PartitionCounts[];
  hours: HourCounts[];
  lastCommit: LastCommit | null;
  errors: RecentError[];
}

const RATE_WINDOW_S = 10;
/** Latencies kept for percentiles: the last this many alerts. */
const LATENCY_SAMPLES = 8192;
/** Latencies kept per topic: fewer, there can be one topic per night. */
const TOPIC_LATENCY_SAMPLES = 2048;
/** Topics whose latency is kept (the most recently archived). */
const MAX_LATENCY_TOPICS = 32;
/** Hour folders kept in the live figures (the storage listing has them all). */
const MAX_HOURS = 200;

/** The last N latencies, for percentiles. */
class LatencySample {
  readonly #values: Float64Array;
  #count = 0;

  constructor(size: number) {
    this.#values = new Float64Array(size);
  }

  add(ms: number): void {
    this.#values[this.#count++ % this.#values.length] = ms;
  }

  percentiles(): LatencyPercentiles {
    const n = Math.min(this.#count, this.#values.length);
    if (n === 0) return { p50: null, p99: null };
    const sorted = this.#values.slice(0, n).sort();
    return {
      p50: round(sorted[Math.floor(n * 0.5)]),
      p99: round(sorted[Math.min(n - 1, Math.floor(n * 0.99))]),
    };
  }
}

/** Mutable counters of the archive service. */
export class ArchiveStats {
  readonly partitions = new TopicPartitionMap<PartitionCounts>();
  readonly hours = new Map<string, HourCounts>();
  readonly errors: RecentError[] = [];
  lastCommit: LastCommit | null = null;
  filesWritten = 0;
  bytesWritten = 0;
  /** Seconds from each alert's broker timestamp to its durable commit. */
  readonly deliverySeconds = new Histogram(DELIVERY_SECONDS);
  /** Time spent per stage, for "where the time goes". */
  readonly stages = new StageTimes();
  #ticks: { t: number; received: number; archived: number; bytesIn: number }[] = [];
  #latencies = new LatencySample(LATENCY_SAMPLES);
  #topicLatencies = new Map<string, LatencySample>();

  /**
   * Records alerts of `topic` made durable at `durable` (ms since the epoch):
   * each one's time from its broker timestamp (`timestamps`, ms) to then.
   */
  recordLatencies(topic: string, durable: number, timestamps: ArrayLike<number>): void {
    let sample = this.#topicLatencies.get(topic);
    if (sample === undefined) {
      sample = new LatencySample(TOPIC_LATENCY_SAMPLES);
      if (this.#topicLatencies.size >= MAX_LATENCY_TOPICS) {
        this.#topicLatencies.delete(this.#topicLatencies.keys().next().value!);
      }
    }
    // Re-inserting keeps the map in order of last use, so the idlest topic goes first.
    this.#topicLatencies.delete(topic);
    this.#topicLatencies.set(topic, sample);
    for (let i = 0; i < timestamps.length; i++) {
      const ms = durable - timestamps[i];
      this.#latencies.add(ms);
      this.deliverySeconds.observe(ms / 1000);
      sample.add(ms);
    }
  }

  /** p50 and p99 of the last alerts' broker-to-durable latency, ms (null before any). */
  latency(): LatencyPercentiles {
    return this.#latencies.percentiles();
  }

  /** The same per topic, for the topics archived most recently, the idlest first. */
  latencyByTopic(): TopicLatency[] {
    return [...this.#topicLatencies].map(([topic, s]) => ({ topic, ...s.percentiles() }));
  }

  /** The counters of a partition, created at zero. */
  partition(tp: TopicPartition): PartitionCounts {
    return this.partitions.getOrCreate(tp, ({ topic, partition }) => ({
      topic,
      partition,
      received: 0,
      decoded: 0,
      archived: 0,
      quarantined: 0,
      inFlight: 0,
      bytesIn: 0,
      committedOffset: null,
      lag: null,
    }));
  }

  /** Records a file written into an hour folder. */
  addFile(topic: string, hour: string, alerts: number, bytes: number): void {
    const k = `${topic}/${hour}`;
    const h = this.hours.get(k) ?? { topic, hour, files: 0, alerts: 0, bytes: 0 };
    h.files++;
    h.alerts += alerts;
    h.bytes += bytes;
    // Re-inserting keeps the map in order of last write, so the oldest go first.
    this.hours.delete(k);
    this.hours.set(k, h);
    if (this.hours.size > MAX_HOURS) this.hours.delete(this.hours.keys().next().value!);
    this.filesWritten++;
    this.bytesWritten += bytes;
  }

  /** Keeps the last errors (at most 20). */
  addError(message: string): void {
    this.errors.push({ at: new Date().toISOString(), message });
    if (this.errors.length > 20) this.errors.shift();
  }

  /** Sum of a counter over every partition. */
  total(
    field: "received" | "decoded" | "archived" | "quarantined" | "inFlight" | "bytesIn",
  ): number {
    let sum = 0;
    for (const c of this.partitions.values()) sum += c[field];
    return sum;
  }

  /** Samples the totals; call once a second so `rates` can compare. */
  tick(now = Date.now()): void {
    this.#ticks.push({
      t: now,
      received: this.total("received"),
      archived: this.total("archived") + this.total("quarantined"),
      bytesIn: this.total("bytesIn"),
    });
    if (this.#ticks.length > RATE_WINDOW_S + 1) this.#ticks.shift();
  }

  /**
   * The figures part of the archive's status document: rates, latency, totals
   * (with the `buffered` alerts the caller holds), partitions, hours, last
   * commit, recent errors, and the time per stage with the bytes written to disk.
   */
  figures(buffered: number): ArchiveFigures {
    return {
      rates: this.rates(),
      latencyMs: this.latency(),
      topicLatencyMs: this.latencyByTopic(),
      deliverySeconds: this.deliverySeconds.snapshot(),
      totals: {
        received: this.total("received"),
        decoded: this.total("decoded"),
        archived: this.total("archived"),
        quarantined: this.total("quarantined"),
        inFlight: this.total("inFlight"),
        buffered,
        files: this.filesWritten,
        bytes: this.bytesWritten,
      },
      partitions: [...this.partitions.values()],
      hours: [...this.hours.values()],
      lastCommit: this.lastCommit,
      errors: this.errors,
      ...this.stages.snapshot(),
    };
  }

  /** Alerts/s in and out, and MB/s in, over the last seconds (by the last two ticks when few). */
  rates(): ArchiveRates {
    if (this.#ticks.length < 2) return { inPerSecond: 0, outPerSecond: 0, mbInPerSecond: 0 };
    const a = this.#ticks[Math.max(0, this.#ticks.length - 6)];
    const b = this.#ticks[this.#ticks.length - 1];
    const s = (b.t - a.t) / 1000 || 1;
    return {
      inPerSecond: round((b.received - a.received) / s),
      outPerSecond: round((b.archived - a.archived) / s),
      mbInPerSecond: round((b.bytesIn - a.bytesIn) / s / 1e6),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
