/**
 * Every configuration key, with its type, default and meaning. This table is
 * the single source of truth: `conf/fink.toml` documents the same keys, the
 * loader validates against it and `FINK_*` environment variables map onto it.
 */

/** The kinds of value a key can hold. */
export type KeyType<V extends string = string> =
  /** Empty only when `emptyOk` (an unset optional path, URL or token). */
  | { kind: "string"; emptyOk?: boolean }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "number"; min?: number }
  | { kind: "bool" }
  | { kind: "list" }
  | { kind: "enum"; values: readonly V[] };

/** One documented configuration key. */
export interface KeySpec {
  type: KeyType;
  default: ConfigValue;
  doc: string;
  /** Extra check run after the type check; returns what is expected, or null when fine. */
  check?: (value: ConfigValue) => string | null;
}

/** A configuration value after parsing. */
export type ConfigValue = string | number | boolean | string[];

const str = { kind: "string" } as const;
const optionalStr = { kind: "string", emptyOk: true } as const;
const bool = { kind: "bool" } as const;
const list = { kind: "list" } as const;
function int(min?: number, max?: number): KeyType {
  return { kind: "int", min, max };
}
/** An enum key's type; its values stay a union type (see {@link EnumValue}). */
function oneOf<const V extends string>(...values: V[]): { kind: "enum"; values: readonly V[] } {
  return { kind: "enum", values };
}

function hostPorts(value: ConfigValue): string | null {
  const bad = (value as string[]).find((v) => !/^[^\s:/]+:\d{1,5}$/.test(v));
  return bad === undefined ? null : `host:port entries such as 127.0.0.1:9092, found "${bad}"`;
}

function nonEmptyList(value: ConfigValue): string | null {
  return (value as string[]).length > 0 ? null : "at least one entry";
}

/** What Kafka accepts as a topic name. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Topic names as Kafka accepts them, or `/regex/flags` patterns that compile
 * (the same form core/source/kafka.ts parses).
 */
function topicNamesOrPatterns(value: ConfigValue): string | null {
  for (const topic of value as string[]) {
    if (topic.startsWith("/")) {
      const m = /^\/(.+)\/([a-z]*)$/.exec(topic);
      if (m === null) return `a /regex/ closed by a slash, found "${topic}"`;
      try {
        new RegExp(m[1], m[2]);
      } catch (e) {
        return `a valid /regex/, found "${topic}" (${(e as Error).message})`;
      }
    } else if (!TOPIC_NAME.test(topic)) {
      return `topic names of letters, digits, ".", "_" and "-", or /regex/ patterns, found "${topic}"`;
    }
  }
  return null;
}

function urlOrEmpty(value: ConfigValue): string | null {
  if (value === "") return null;
  return URL.canParse(value as string) ? null : `an http(s) URL or "", found "${value}"`;
}

/** Every key, typed as written (enum values as their unions). */
const SPECS = {
  "kafka.brokers": {
    type: list,
    default: ["127.0.0.1:9092"],
    doc: "Kafka bootstrap servers, host:port",
    check: (v) => nonEmptyList(v) ?? hostPorts(v),
  },
  "kafka.topics": {
    type: list,
    default: ["ztf-sim"],
    doc: 'Topics to consume: names, or patterns written /regex/ (e.g. "/^ztf_.*/")',
    check: (v) => nonEmptyList(v) ?? topicNamesOrPatterns(v),
  },
  "kafka.group": { type: str, default: "fink-archive", doc: "Consumer group id" },
  "kafka.start": {
    type: oneOf("earliest", "latest"),
    default: "earliest",
    doc: "Where a new group starts reading a partition",
  },
  "kafka.client_id": { type: str, default: "fink-deno", doc: "Kafka client id" },
  "kafka.session_timeout_ms": {
    type: int(6000, 300000),
    default: 6000,
    doc: "A member silent this long is dropped from the group and its partitions move to the " +
      "others: with kafka.heartbeat_ms and batch.max_ms it sets the failover time (under 10 s " +
      "with the defaults); Kafka accepts 6 s to 30 min by default (group.min/max.session.timeout.ms)",
  },
  "kafka.heartbeat_ms": {
    type: int(100, 100000),
    default: 1000,
    doc: "How often a member tells the coordinator it is alive, and so how soon it hears of a " +
      "rebalance; at most a third of kafka.session_timeout_ms",
  },
  "kafka.rebalance_timeout_ms": {
    type: int(1000, 600000),
    default: 20000,
    doc: "How long a rebalance waits for every member to rejoin; a member busy longer (a slow " +
      "storage write) is dropped, and rejoins once it is done",
  },
  "kafka.topic_refresh_ms": {
    type: int(100, 3600000),
    default: 30000,
    doc: "How often the topic list is read for new topics matching a /regex/ of kafka.topics",
  },
  "decode.mode": {
    type: oneOf("auto", "container", "confluent", "schemaless"),
    default: "auto",
    doc: "How alerts are encoded: Avro container per message (ZTF), Confluent wire format " +
      "(Rubin), schemaless with decode.schema, or auto-detect",
  },
  "decode.schema": {
    type: optionalStr,
    default: "",
    doc: "Path of the .avsc used in schemaless mode",
  },
  "decode.registry": {
    type: optionalStr,
    default: "",
    doc: "Schema registry URL for the Confluent wire format",
    check: urlOrEmpty,
  },
  "archive.root": {
    type: str,
    default: "data/archive",
    doc: "Where the archive goes: a local path or webhdfs://host:port/path",
    check: (v) =>
      /^(s?webhdfs|file):\/\//.test(v as string) || !(v as string).includes("://")
        ? null
        : `a local path or webhdfs://host:port/path, found "${v}"`,
  },
  "archive.layout": {
    type: oneOf("plain", "hive"),
    default: "plain",
    doc: "Hour folders as YYYY/MM/dd/hh (plain) or year=YYYY/month=MM/day=dd/hour=hh (hive), " +
      "for the archive and the science results alike",
  },
  "archive.event_time": {
    type: str,
    default: "auto",
    doc: "Field holding the event time (auto: candidate.jd for ZTF, diaSource.midpointMjdTai " +
      "for Rubin)",
  },
  "archive.event_time_unit": {
    type: oneOf("auto", "jd", "mjd_tai", "mjd", "unix_ms"),
    default: "auto",
    doc: "Unit of archive.event_time",
  },
  "archive.compact_target_mb": {
    type: int(1),
    default: 128,
    doc: "Closed hours are compacted into files of about this size",
  },
  "archive.compact_after_minutes": {
    type: int(0),
    default: 60,
    doc: "An hour counts as closed this long after the newest event time passed its end",
  },
  "archive.compact_grace_minutes": {
    type: int(0),
    default: 10,
    doc: "Files a merge replaced stay this long beside the merged file, so readers that " +
      "listed them before finish reading them (see core/archive/README.md)",
  },
  "science.root": {
    type: str,
    default: "data/science",
    doc: "Where plugin results go: science/<plugin>/YYYY/MM/dd/hh/",
  },
  "batch.max_alerts": { type: int(1), default: 500, doc: "A batch closes at this many alerts" },
  "batch.max_mb": { type: int(1), default: 16, doc: "... or at this many megabytes" },
  "batch.max_ms": { type: int(1), default: 1000, doc: "... or this long after its first alert" },
  "batch.buffer_mb": {
    type: int(1),
    default: 96,
    doc: "Megabytes of alerts held over all partitions before the consumer pauses (bounds memory)",
  },
  "ui.host": { type: str, default: "127.0.0.1", doc: "Address the API and dashboard bind to" },
  "ui.port": { type: int(0, 65535), default: 5000, doc: "Port of the API and dashboard" },
  "ui.token": {
    type: optionalStr,
    default: "",
    doc: "Bearer token for control endpoints; required when ui.host is not loopback",
  },
  "plugins.dir": { type: str, default: "plugins", doc: "Folder watched for plugin files" },
  "plugins.budget_ms": {
    type: int(1),
    default: 5000,
    doc: "CPU time a plugin may spend on a batch before its process is killed and restarted",
  },
  "plugins.memory_mb": {
    type: int(16),
    default: 2048,
    doc: "Heap cap of each plugin process in MB; [plugins.<name>] memory_mb overrides it",
  },
  "plugins.max_result_mb": {
    type: int(1),
    default: 64,
    doc: "Largest result one batch may return, in MB; a plugin returning more is killed",
  },
  "plugins.queue_limit": {
    type: int(1),
    default: 4,
    doc: "Batches queued per plugin; a plugin whose queue is full catches up from the archive",
  },
  "plugins.chunk_alerts": {
    type: int(1),
    default: 5000,
    doc: "Alerts per batch at most when plugins read archived files (catch-up, batch runs)",
  },
  "plugins.batch_every_s": {
    type: int(1),
    default: 60,
    doc: "How often a running batch plugin looks for closed hours it has not processed",
  },
  "plugins.stop_wait_s": {
    type: int(0),
    default: 10,
    doc:
      "How long stopping a stream plugin waits for it to finish what is archived (not for a failing one; at process stop all plugins share it)",
  },
  "distribution.brokers": {
    type: list,
    default: [],
    doc: "Kafka brokers the filters publish to; empty: the embedded broker at simulator.host:port",
    check: hostPorts,
  },
  "distribution.topic_prefix": {
    type: str,
    default: "fink_",
    doc: "Topics are <prefix><filter>_<survey>",
  },
  "distribution.survey": { type: str, default: "ztf", doc: "Survey name ending each topic name" },
  "distribution.partitions": {
    type: int(1, 10_000),
    default: 1,
    doc: "Partitions of the topics the distribution creates",
  },
  "distribution.transactional_id": {
    type: str,
    default: "fink-distribution",
    doc: "Prefix of the Kafka transactional ids, one per source partition " +
      "(<id>.<topic>.<partition>): the node that takes a partition over fences the one that had it",
  },
  "distribution.group": {
    type: str,
    default: "fink-distribution",
    doc: "Prefix of the groups holding the progress (<group>.<source topic>.<partition>)",
  },
  "distribution.progress_topic": {
    type: str,
    default: "fink_distribution_progress",
    doc: "Topic whose partition 0 carries the progress offsets, committed in each transaction",
  },
  "distribution.poll_ms": {
    type: int(10),
    default: 1000,
    doc: "How often the archive is checked for batches to distribute (also woken by each batch)",
  },
  "distribution.science_wait_s": {
    type: int(0),
    default: 30,
    doc: "How long a batch waits for a science plugin that is behind before going out without it",
  },
  "distribution.request_kb": {
    type: int(1),
    default: 900,
    doc:
      "Largest produce request to distribution.brokers, in kB (Kafka's default message.max.bytes is 1 MB); the embedded broker gets 2 MB",
  },
  "distribution.plugin_wait_s": {
    type: int(1),
    default: 30,
    doc:
      "How long a batch waits for a filter plugin's answer before going out without its alerts (reported)",
  },
  "distribution.buffer_mb": {
    type: int(0),
    default: 128,
    doc:
      "Megabytes of the archive's newest batches held in memory for the distribution (beyond, they are read back)",
  },
  "distribution.workers": {
    type: int(0, 64),
    default: 0,
    doc: "Workers encoding the published alerts as Avro; 0: one per core",
  },
  "distribution.science_columns": {
    type: list,
    default: [
      "anomaly.anomaly_score DOUBLE",
      "classify.class VARCHAR",
      "classify.gcvs_name VARCHAR",
      "classify.spicy_name VARCHAR",
      "classify.3hsp_name VARCHAR",
      "classify.4lac_name VARCHAR",
      "classify.tns_name VARCHAR",
    ],
    doc:
      "Science columns filters may use before their plugin has results (<plugin>.<column> <SQL type>)",
  },
  "distribution.default_filters": {
    type: bool,
    default: true,
    doc: "Ship the built-in filters (catalog_match, anomalies, bright_transients)",
  },
  "distribution.with_archive": {
    type: bool,
    default: true,
    doc:
      "Start the distribution with the archive when filters exist and a broker is set (--simulator or distribution.brokers)",
  },
  "classification.plugin": {
    type: str,
    default: "classify",
    doc: "Plugin whose results feed the classification views (dashboard, API, Prometheus)",
  },
  "classification.column": {
    type: str,
    default: "class",
    doc: "Output column of classification.plugin that holds the class",
  },
  "process.state_dir": {
    type: str,
    default: ".fink",
    doc: "Where the running process leaves its address and control token (and the query " +
      "engine its local copies of WebHDFS files, in query_cache/)",
  },
  "log.level": {
    type: oneOf("debug", "info", "warn", "error"),
    default: "info",
    doc: "Lowest level of the log lines printed on stderr",
  },
  "simulator.host": { type: str, default: "127.0.0.1", doc: "Embedded broker address" },
  "simulator.port": { type: int(0, 65535), default: 9092, doc: "Embedded broker port" },
  "simulator.data_dir": { type: str, default: "data/broker", doc: "Embedded broker log folder" },
  "simulator.in_memory": { type: bool, default: false, doc: "Keep the broker log in memory only" },
  "simulator.retention_mb": {
    type: int(-1),
    default: -1,
    doc: "Per-partition size retention of the embedded broker (-1: none)",
  },
  "simulator.retention_hours": {
    type: int(-1),
    default: 168,
    doc: "Age retention of the embedded broker (-1: none)",
  },
  "simulator.max_connections": {
    type: int(1),
    default: 1000,
    doc: "Connections the embedded broker keeps open at once; more are closed as they arrive",
  },
  "simulator.max_inflight_mb": {
    type: int(1),
    default: 256,
    doc: "Memory for large requests being read or answered at once; past it, senders wait",
  },
  "simulator.frame_timeout_s": {
    type: int(1),
    default: 30,
    doc: "A client silent this long in the middle of a request is disconnected",
  },
  "simulator.topic": {
    type: str,
    default: "ztf-sim",
    doc: "Topic the replayer sends to",
    check: (v) =>
      TOPIC_NAME.test(v as string)
        ? null
        : `a topic name of letters, digits, ".", "_" and "-", found "${v}"`,
  },
  "simulator.source": {
    type: str,
    default: "synthetic",
    doc: "synthetic, or a folder / .tar / .tar.gz of .avro and .avro.gz files",
  },
  "simulator.encoding": {
    type: oneOf("container", "confluent", "schemaless"),
    default: "container",
    doc: "Avro container per message (ZTF), Confluent wire format (Rubin), or schemaless",
  },
  "simulator.alerts_per_observation": {
    type: int(1),
    default: 100,
    doc: "Alerts sent per observation",
  },
  "simulator.observations": {
    type: int(0),
    default: 0,
    doc: "Observations to send (0: synthetic runs until stopped, files are sent once)",
  },
  "simulator.interval_s": {
    type: { kind: "number", min: 0 },
    default: 5,
    doc: "Seconds between observations",
  },
  "simulator.partitions": { type: int(1), default: 4, doc: "Partitions of a new topic" },
  "simulator.rate": { type: int(0), default: 0, doc: "Target alerts/s (0: as fast as possible)" },
  "simulator.burst": { type: int(0), default: 0, doc: "Send this many alerts at once first" },
  "simulator.late_days": {
    type: { kind: "number", min: 0 },
    default: 0,
    doc: "Shift event times this many days into the past",
  },
  "simulator.registry_port": {
    type: int(0, 65535),
    default: 8081,
    doc: "Schema registry port (confluent encoding)",
  },
  "simulator.seed": { type: int(0), default: 42, doc: "Seed of the synthetic alerts" },
} satisfies Record<string, KeySpec>;

/** All keys, by dotted name. */
export const KEYS: Readonly<Record<string, KeySpec>> = SPECS;

type Specs = typeof SPECS;

/** The keys whose value is one of a fixed set. */
export type EnumKey = {
  [K in keyof Specs]: Specs[K]["type"] extends { kind: "enum" } ? K : never;
}[keyof Specs];

/** The values an enum key takes, as a union (`"plain" | "hive"` for `archive.layout`). */
export type EnumValue<K extends EnumKey> = Specs[K]["type"] extends {
  values: readonly (infer V)[];
} ? V
  : never;

/** A configuration key's name. */
export type KeyName = keyof Specs;

/**
 * A key's default, for modules whose options fall back on the configuration's
 * when a caller (a test, a benchmark) leaves them out: the value has one home.
 */
export function keyDefault<K extends KeyName>(key: K): Specs[K]["default"] {
  return SPECS[key].default;
}

/** The environment variable that overrides a key: FINK_ + key in capitals, dots as `_`. */
export function envName(key: string): string {
  return "FINK_" + key.toUpperCase().replaceAll(".", "_");
}
