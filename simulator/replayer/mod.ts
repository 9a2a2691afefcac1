/**
 * The alert replayer: produces real alert files or synthetic alerts to a Kafka topic
 * with kafkajs, in observations of N alerts separated by an interval, optionally
 * rate-limited (token bucket), with an initial burst and a late-data mode.
 *
 * Late mode (`lateDays` D): synthetic alerts are generated with event time now − D days.
 * Real files are decoded, `candidate.jd` (with `jdstarthist`, `jdendhist` and the
 * `prv_candidates`/`fp_hists` jds, so the light curve stays consistent; Rubin:
 * `diaSource.midpointMjdTai` and previous sources) is moved D days back and the records
 * are re-encoded with their own writer schema. In `container` encoding this means the
 * container is rebuilt (same schema and sync marker) instead of passed through byte for byte.
 */
import { Buffer } from "node:buffer";
import { Kafka, logLevel as KafkaLogLevel, Partitioners } from "kafkajs";
import "../../core/source/kafkajs_timer_fix.ts";
import "../../core/source/kafkajs_produce_fix.ts";
import { AlertGenerator } from "../alerts/generator.ts";
import { readCatalogPositions } from "../alerts/catalog_positions.ts";
import { SeededRandom } from "../alerts/random.ts";
import type { SkyPosition } from "../alerts/sky.ts";
import { createEncoder, type EncodedMessage, type Encoding, parseEncoding } from "./encodings.ts";
import type { ReplayStats } from "./progress.ts";
import { openFileSource } from "./sources.ts";
import { runSchedule } from "./schedule.ts";

export {
  confluentFrame,
  type EncodedMessage,
  type Encoding,
  ENCODINGS,
  parseEncoding,
  readConfluentFrame,
} from "./encodings.ts";
export {
  formatProgress,
  type ProgressOutput,
  progressPrinter,
  type ReplayStats,
} from "./progress.ts";
export { type AlertFile, type FileSource, openFileSource } from "./sources.ts";
export { TokenBucket, type TokenBucketOptions } from "./token_bucket.ts";

/** kafkajs log levels accepted by {@link ReplayOptions.logLevel}. */
export type ReplayLogLevel = "nothing" | "error" | "warn" | "info" | "debug";

/** Options of {@link replay}. */
export interface ReplayOptions {
  /** Bootstrap brokers, `host:port` (array or comma-separated). */
  brokers: string[] | string;
  /** Topic to produce to; created with `partitions` partitions when absent. */
  topic: string;
  /** `"synthetic"`, or a folder / `.tar` / `.tar.gz` / `.avro[.gz]` path of alert files. */
  source: string;
  /** Alerts per observation (default 100). */
  alertsPerObservation?: number;
  /** Observations to send (`Infinity`: until stopped), or `"all"` to replay every file once (default: "all" for files, 1 for synthetic). */
  observations?: number | "all";
  /** Pause between observations in seconds (default 0). */
  intervalSeconds?: number;
  /** Partitions of the topic if it must be created (default 4). */
  partitions?: number;
  /** Target alerts per second, 0 for as fast as possible (default 0). */
  rate?: number;
  /** Alerts sent first, at once and unthrottled, as one extra observation (default 0). */
  burst?: number;
  /** Shift event times this many days into the past (default 0); see the module doc. */
  lateDays?: number;
  /** Value encoding (default "container"). */
  encoding?: Encoding | string;
  /** Schema registry URL, required for encoding "confluent". */
  registryUrl?: string;
  /** Where encoding "schemaless" writes the `.avsc` (default: a new temporary folder). */
  schemaPath?: string;
  /** Seed of synthetic alerts (default 1). */
  seed?: number;
  /** Dotted record field used as message key, null for none (default "objectId"). */
  key?: string | null;
  /** Real source positions for a few synthetic variable stars. */
  catalogPositions?: readonly SkyPosition[];
  /** Parquet catalog (ra/dec columns) read into `catalogPositions` when synthetic. */
  catalogPath?: string;
  /** Called at least every `progressIntervalMs` and once at the end. */
  onProgress?: (stats: ReplayStats) => void;
  /** Interval of `onProgress` calls (default 1000 ms). */
  progressIntervalMs?: number;
  /** kafkajs log level (default "nothing"). */
  logLevel?: ReplayLogLevel;
  /** Most messages per produce request (default 500). */
  batchMessages?: number;
  /** Most value bytes per produce request, give or take one message (default 4 MB). */
  batchBytes?: number;
}

/** A running replay. */
export interface Replay {
  /** Resolves once connected, the topic exists and the first alert is encoded (schema registered or written). */
  ready: Promise<ReplayStats>;
  /** Resolves with the final statistics; rejects with a one-line error. */
  done: Promise<ReplayStats>;
  /** Current statistics. */
  stats(): ReplayStats;
  /** Stops after the in-flight request; resolves when everything is closed. */
  stop(): Promise<void>;
}

const LOG_LEVELS: Record<ReplayLogLevel, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

const JD_UNIX_EPOCH = 2440587.5;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

function currentJd(): number {
  return Date.now() / 86_400_000 + JD_UNIX_EPOCH;
}

function checkNumber(name: string, value: number, rule: { integer?: boolean; min: number }) {
  const ok = Number.isFinite(value) && value >= rule.min &&
    (!rule.integer || Number.isInteger(value));
  if (!ok) {
    throw new Error(
      `Option ${name} must be ${
        rule.integer ? "an integer" : "a number"
      } >= ${rule.min}; found ${value}`,
    );
  }
  return value;
}

interface Settings {
  brokers: string[];
  topic: string;
  source: string;
  encoding: Encoding;
  alertsPerObservation: number;
  observations: number | "all";
  intervalSeconds: number;
  partitions: number;
  rate: number;
  burst: number;
  lateDays: number;
  seed: number;
  key: string | null;
  batchMessages: number;
  batchBytes: number;
}

function settingsOf(options: ReplayOptions): Settings {
  const brokers =
    (Array.isArray(options.brokers) ? options.brokers : String(options.brokers ?? "").split(","))
      .map((broker) => broker.trim()).filter((broker) => broker !== "");
  if (brokers.length === 0) {
    throw new Error('Option brokers is empty; give at least one "host:port"');
  }
  if (!TOPIC_NAME.test(options.topic ?? "")) {
    throw new Error(
      `Option topic "${options.topic}" is not a valid Kafka topic name; use 1-249 letters, digits, ".", "_" or "-"`,
    );
  }
  if (!options.source) {
    throw new Error('Option source is empty; give "synthetic" or a folder/.tar.gz of .avro files');
  }
  const synthetic = options.source === "synthetic";
  const observations = options.observations ?? (synthetic ? 1 : "all");
  if (observations === "all" && synthetic) {
    throw new Error(
      'Option observations "all" needs a file source; synthetic alerts never run out, give a number',
    );
  }
  if (observations !== "all" && observations !== Infinity) {
    checkNumber("observations", observations, { integer: true, min: 0 });
  }
  const encoding = parseEncoding(options.encoding ?? "container");
  if (encoding === "confluent" && !options.registryUrl) {
    throw new Error(
      "Encoding confluent needs option registryUrl (a Confluent-compatible schema registry)",
    );
  }
  return {
    brokers,
    topic: options.topic,
    source: options.source,
    encoding,
    alertsPerObservation: checkNumber("alertsPerObservation", options.alertsPerObservation ?? 100, {
      integer: true,
      min: 1,
    }),
    observations,
    intervalSeconds: checkNumber("intervalSeconds", options.intervalSeconds ?? 0, { min: 0 }),
    partitions: checkNumber("partitions", options.partitions ?? 4, { integer: true, min: 1 }),
    rate: checkNumber("rate", options.rate ?? 0, { min: 0 }),
    burst: checkNumber("burst", options.burst ?? 0, { integer: true, min: 0 }),
    lateDays: checkNumber("lateDays", options.lateDays ?? 0, { min: 0 }),
    seed: checkNumber("seed", options.seed ?? 1, { integer: true, min: 0 }),
    key: options.key === undefined ? "objectId" : options.key,
    batchMessages: checkNumber("batchMessages", options.batchMessages ?? 500, {
      integer: true,
      min: 1,
    }),
    batchBytes: checkNumber("batchBytes", options.batchBytes ?? 4_000_000, { min: 1 }),
  };
}

/** Connects an admin client and creates the topic when absent; errors name the option at fault. */
async function ensureTopic(kafka: Kafka, settings: Settings): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Cannot reach Kafka broker(s) ${settings.brokers.join(",")} (option brokers): ${
        (error as Error).message
      }; start the simulator broker or point brokers at a running Kafka`,
    );
  }
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(settings.topic)) {
      await admin.createTopics({
        topics: [{ topic: settings.topic, numPartitions: settings.partitions }],
        waitForLeaders: true,
      });
    }
  } catch (error) {
    throw new Error(
      `Cannot create topic ${settings.topic} with ${settings.partitions} partitions (options topic, partitions): ${
        (error as Error).message
      }`,
    );
  } finally {
    await admin.disconnect();
  }
}

function syncMarker(seed: number): Uint8Array {
  const random = new SeededRandom(seed ^ 0x5f3759df);
  return Uint8Array.from({ length: 16 }, () => random.int(256));
}

/**
 * Starts replaying. Invalid options throw at once (one line naming the option); problems
 * found while running (bad path, unreachable broker or registry) reject `ready` and `done`.
 */
export function replay(options: ReplayOptions): Replay {
  const settings = settingsOf(options);
  const controller = new AbortController();
  let started = performance.now();
  const stats: ReplayStats = {
    topic: settings.topic,
    encoding: settings.encoding,
    sent: 0,
    total: 0,
    bytes: 0,
    observations: 0,
    elapsedSeconds: 0,
    alertsPerSecond: 0,
    megabytesPerSecond: 0,
    schemaId: null,
    schemaPath: null,
    finished: false,
    stopped: false,
  };
  const snapshot = (): ReplayStats => {
    const elapsed = (performance.now() - started) / 1000;
    if (!stats.finished) stats.elapsedSeconds = elapsed;
    const seconds = stats.elapsedSeconds;
    return {
      ...stats,
      alertsPerSecond: seconds > 0 ? stats.sent / seconds : 0,
      megabytesPerSecond: seconds > 0 ? stats.bytes / 1e6 / seconds : 0,
    };
  };
  const readiness = Promise.withResolvers<ReplayStats>();
  readiness.promise.catch(() => {});

  const run = async (): Promise<ReplayStats> => {
    const synthetic = settings.source === "synthetic";
    const source = synthetic ? null : await openFileSource(settings.source);
    const schemaPath = options.schemaPath ??
      (settings.encoding === "schemaless"
        ? `${await Deno.makeTempDir({ prefix: "fink-sim-" })}/${settings.topic}.avsc`
        : undefined);
    const encoder = createEncoder({
      encoding: settings.encoding,
      topic: settings.topic,
      registryUrl: options.registryUrl,
      schemaPath,
      lateDays: synthetic ? 0 : settings.lateDays,
      key: settings.key,
      sync: syncMarker(settings.seed),
    });
    const catalog = options.catalogPositions ??
      (synthetic && options.catalogPath ? await readCatalogPositions(options.catalogPath) : []);
    const generator = synthetic
      ? new AlertGenerator({ seed: settings.seed, catalogPositions: catalog })
      : null;
    const cycle = settings.observations !== "all";
    stats.total = settings.observations === "all"
      ? source!.count
      : settings.burst + settings.observations * settings.alertsPerObservation;
    let eventJd = currentJd() - settings.lateDays;

    const messages = async function* (): AsyncGenerator<EncodedMessage> {
      if (generator) {
        for (;;) yield await encoder.encodeAlert(generator.next(eventJd));
      }
      do {
        for await (const file of source!.files()) {
          const encoded = await encoder.encodeFile(file);
          if (!cycle) stats.total += encoded.length - 1;
          yield* encoded;
        }
      } while (cycle);
    };

    const kafka = new Kafka({
      clientId: "fink-simulator",
      brokers: settings.brokers,
      logLevel: LOG_LEVELS[options.logLevel ?? "nothing"],
      connectionTimeout: 3000,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    await ensureTopic(kafka, settings);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const stream = messages();
    try {
      const first = await stream.next();
      stats.schemaId = encoder.schemaId;
      stats.schemaPath = encoder.schemaPath;
      started = performance.now();
      readiness.resolve(snapshot());
      await runSchedule(stream, {
        send: async (batch, bytes) => {
          const timestamp = String(Date.now());
          await producer.send({
            topic: settings.topic,
            acks: -1,
            messages: batch.map((message) => ({
              key: message.key,
              value: Buffer.from(
                message.value.buffer,
                message.value.byteOffset,
                message.value.byteLength,
              ),
              timestamp,
            })),
          }).catch((error: Error) => {
            throw new Error(
              `Kafka refused a batch of ${batch.length} alerts (${bytes} bytes) for topic ${settings.topic}: ${error.message}; lower option batchBytes if the broker's size limit is the cause`,
            );
          });
          stats.sent += batch.length;
          stats.bytes += bytes;
          stats.schemaId = encoder.schemaId;
        },
        startObservation: () => {
          eventJd = currentJd() - settings.lateDays;
        },
        endObservation: () => {
          stats.observations++;
        },
      }, { ...settings, endless: synthetic, signal: controller.signal, first });
    } finally {
      await stream.return(undefined);
      await producer.disconnect();
    }
    return snapshot();
  };

  const timer = options.onProgress
    ? setInterval(() => options.onProgress!(snapshot()), options.progressIntervalMs ?? 1000)
    : null;
  const finish = (): ReplayStats => {
    if (timer !== null) clearInterval(timer);
    stats.elapsedSeconds = (performance.now() - started) / 1000;
    stats.finished = true;
    stats.stopped = controller.signal.aborted;
    const final = snapshot();
    options.onProgress?.(final);
    return final;
  };
  const done = run().then(
    () => finish(),
    (error) => {
      finish();
      readiness.reject(error);
      throw error;
    },
  );
  // A caller may await only `ready`; an unobserved rejection must not end the process.
  done.catch(() => {});
  return {
    ready: readiness.promise,
    done,
    stats: snapshot,
    async stop() {
      controller.abort();
      await done.catch(() => {});
    },
  };
}
