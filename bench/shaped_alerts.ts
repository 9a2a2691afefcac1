/**
 * Real ZTF alerts shaped into the streams the archive benchmark drains. The
 * shared night (fink-broker-local-20200101: 50 real alerts of one exposure)
 * is cycled, and each alert's event time (`candidate.jd`, with its history's
 * jds, as the replayer's late mode moves them) is moved by whole hours, so a
 * stream can cover a night of 8 hours in time order, the same hours
 * interleaved, or several nights. The alerts keep their real content and
 * size; only their times change.
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel, type Message } from "kafkajs";
import { ContainerWriter } from "../simulator/replayer/container.ts";
import { decodeContainer, shiftEventTime } from "../simulator/replayer/records.ts";
import { openFileSource } from "../simulator/replayer/sources.ts";
import { TokenBucket } from "../simulator/replayer/token_bucket.ts";

const JD_UNIX_EPOCH = 2440587.5;

/** The alerts of a folder, each re-encoded on demand with its event time moved. */
export class AlertVariants {
  readonly #files: Uint8Array[];
  readonly #cache = new Map<string, Buffer>();
  /** Event time of the first alert, ms since the epoch. */
  readonly firstEventMs: number;

  private constructor(files: Uint8Array[], firstEventMs: number) {
    this.#files = files;
    this.firstEventMs = firstEventMs;
  }

  /** Reads the `.avro` alerts of `folder`. */
  static async load(folder: string): Promise<AlertVariants> {
    const files: Uint8Array[] = [];
    for await (const file of (await openFileSource(folder)).files()) files.push(file.bytes);
    const first = decodeContainer(files[0], folder).records[0].value;
    return new AlertVariants(files, (first.candidate.jd - JD_UNIX_EPOCH) * 86_400_000);
  }

  /** Alerts in the folder. */
  get count(): number {
    return this.#files.length;
  }

  /** Alert `index` (cycled) with its event times moved `hours` later. */
  get(index: number, hours: number): Buffer {
    const i = index % this.#files.length;
    const key = `${i}:${hours}`;
    let value = this.#cache.get(key);
    if (value === undefined) {
      const decoded = decodeContainer(this.#files[i], `alert ${i}`);
      const bodies = decoded.records.map((r) => {
        shiftEventTime(r.value, -hours / 24, `alert ${i}`);
        return new Uint8Array(decoded.type.toBuffer(r.value));
      });
      const writer = new ContainerWriter(decoded.schemaText, { sync: decoded.sync });
      value = Buffer.from(writer.encode(bodies));
      this.#cache.set(key, value);
    }
    return value;
  }

  /** Whole hours from the first alert's event time to now (a live stream's shift). */
  hoursToNow(): number {
    return Math.floor((Date.now() - this.firstEventMs) / 3_600_000);
  }
}

/** One topic's stream of shaped alerts. */
export interface StreamPlan {
  topic: string;
  /** Alerts to send (Infinity: until `signal` aborts). */
  count: number;
  partitions: number;
  /** Hours the event time of the i-th alert is moved by. */
  hourOf(i: number): number;
}

/** Options of {@link produce}. */
export interface ProduceOptions {
  /** Alerts per second (default: as fast as the broker takes them). */
  rate?: number;
  /** Stops an endless stream. */
  signal?: AbortSignal;
}

/** Counts of a finished {@link produce}. */
export interface Produced {
  sent: number;
  bytes: number;
}

/** Creates the topics with `partitions` partitions each. */
export async function createTopics(
  brokers: string[],
  topics: string[],
  partitions: number,
): Promise<void> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: "bench" }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends a plan's alerts, the i-th to partition `i % partitions`, with a few
 * requests in flight; with `rate`, paced by a token bucket.
 */
export async function produce(
  brokers: string[],
  plan: StreamPlan,
  variants: AlertVariants,
  options: ProduceOptions = {},
): Promise<Produced> {
  const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: "bench-producer" });
  const producer = kafka.producer();
  await producer.connect();
  const bucket = options.rate ? new TokenBucket({ rate: options.rate, capacity: 1 }) : null;
  // 50 requests a second when paced, so the stream is smooth rather than bursty.
  const perSend = options.rate ? Math.max(1, Math.round(options.rate / 50)) : 200;
  const inFlight: Promise<unknown>[] = [];
  let sent = 0;
  let bytes = 0;
  try {
    while (sent < plan.count && !options.signal?.aborted) {
      const n = Math.min(perSend, plan.count - sent);
      if (bucket !== null) {
        const wait = bucket.reserve(n);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const messages: Message[] = [];
      for (let k = 0; k < n; k++) {
        const i = sent + k;
        const value = variants.get(i, plan.hourOf(i));
        bytes += value.byteLength;
        messages.push({ value, partition: i % plan.partitions });
      }
      sent += n;
      inFlight.push(producer.send({ topic: plan.topic, acks: 1, messages }));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await producer.disconnect();
  }
  return { sent, bytes };
}
