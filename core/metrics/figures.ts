/**
 * The figures of the running process, read from the services' statuses: the
 * archive's counts, rates and lag, every plugin's counters and the class
 * counts of the classifier plugin. Details are read defensively, so a service
 * reporting an unexpected shape shows zeros instead of breaking the API.
 */
import type { PartitionCounts } from "../archive/stats.ts";
import { histogramOf, type HistogramSnapshot } from "../histogram.ts";
import type { ServiceStatus } from "../services/service.ts";

/** Alerts/s in and out of the archive, and MB/s in, over the same window (see rates.ts). */
export interface Rates {
  inPerSecond: number;
  outPerSecond: number;
  mbInPerSecond: number;
  /** Seconds between the two counter samples the rates come from (up to a minute). */
  windowSeconds: number;
}

/** Archive counts summed over every topic-partition. */
export interface Totals {
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

/** Counts of one topic-partition, as the archive reports them. */
export type PartitionFigures = PartitionCounts;

/** Files written into one hour folder of one topic. */
export interface HourFigures {
  topic: string;
  hour: string;
  files: number;
  alerts: number;
  bytes: number;
}

/** A storage failure the archive keeps retrying. */
export interface StorageProblemFigures {
  /** The backend's error, on one line. */
  message: string;
  /** When it started failing. */
  since: string | null;
  /** Retries so far. */
  retries: number;
}

/** The archive's last durable commit. */
export interface CommitFigures {
  at: string;
  topic: string;
  partition: number;
  offset: string;
}

/** One plugin's counters. */
export interface PluginFigures {
  name: string;
  state: string;
  permissions: Record<string, unknown>;
  batches: number;
  rows: number;
  errors: number;
  lastError: string | null;
  avgMsPerBatch: number | null;
  /** Time per batch, or null when the plugin does not report it. */
  batchSeconds: HistogramSnapshot | null;
  restarts: number;
}

/** An error reported by a service. */
export interface ServiceError {
  service: string;
  at: string | null;
  message: string;
}

/** Which plugin classifies alerts, and the output column holding the class. */
export interface Classifier {
  plugin: string;
  column: string;
}

/** The classifier's current figures. */
export interface ClassFigures {
  plugin: string;
  state: string;
  /** Alerts per class since the plugin started. */
  counts: Record<string, number>;
  /** Most recent result rows, newest first. */
  recent: Record<string, unknown>[];
}

/** Everything the API shows, at one instant. */
export interface Figures {
  /** When the figures were read, epoch ms. */
  t: number;
  rates: Rates;
  totals: Totals;
  /** Sum of the known lags, or null when no partition reports one. */
  lag: number | null;
  partitions: PartitionFigures[];
  hours: HourFigures[];
  lastCommit: CommitFigures | null;
  /** Seconds from each alert's broker timestamp to durable, or null when the archive is not running. */
  deliverySeconds: HistogramSnapshot | null;
  /** Whether the archive's source (Kafka) is connected; storage has its own field. */
  connected: boolean;
  /** What storage is failing on while the archive retries it, or null when it works. */
  storageProblem: StorageProblemFigures | null;
  /** Current problems of the archive (source down, storage failing). */
  problems: string[];
  /** Where the archive writes, or null when it is not running. */
  storage: string | null;
  errors: ServiceError[];
  services: { name: string; kind: string; state: string; error?: string }[];
  plugins: PluginFigures[];
  classes: ClassFigures | null;
}

/** The classifier used when none is named: the `classify` plugin's `class` column. */
export const DEFAULT_CLASSIFIER: Classifier = { plugin: "classify", column: "class" };

/** Options of {@link figuresOf}. */
export interface FiguresOptions {
  /** Name of the archive service. Default `archive`. */
  archive?: string;
  classifier?: Classifier;
  /** Read time, epoch ms. Default now. */
  now?: number;
  /** The rates of the metrics recorder's window; the archive's counts alone give none. Default zeros. */
  rates?: Rates;
}

/** Reads the figures out of the services' statuses. */
export function figuresOf(services: ServiceStatus[], options: FiguresOptions = {}): Figures {
  const archiveName = options.archive ?? "archive";
  const classifier = options.classifier ?? DEFAULT_CLASSIFIER;
  const archive = services.find((s) => s.name === archiveName);
  const d = record(archive?.details);
  const partitions = array(d.partitions).map(partitionOf);
  const lags = partitions.map((p) => p.lag).filter((l): l is number => l !== null);
  const plugins = services.filter((s) => s.kind === "plugin").map(pluginOf);
  const totals = record(d.totals);
  return {
    t: options.now ?? Date.now(),
    rates: options.rates ?? { inPerSecond: 0, outPerSecond: 0, mbInPerSecond: 0, windowSeconds: 0 },
    totals: {
      received: num(totals.received),
      decoded: num(totals.decoded),
      archived: num(totals.archived),
      quarantined: num(totals.quarantined),
      inFlight: num(totals.inFlight),
      buffered: num(totals.buffered),
      files: num(totals.files),
      bytes: num(totals.bytes),
    },
    lag: lags.length === 0 ? null : lags.reduce((a, b) => a + b, 0),
    partitions,
    hours: array(d.hours).map(hourOf),
    lastCommit: commitOf(d.lastCommit),
    deliverySeconds: histogramOf(d.deliverySeconds),
    connected: d.connected === true,
    storageProblem: storageProblemOf(d.storageProblem),
    problems: array(d.problems).filter((p): p is string => typeof p === "string"),
    storage: typeof d.storage === "string" ? d.storage : null,
    errors: errorsOf(services, archiveName),
    services: services.map((s) => {
      const brief: Figures["services"][number] = { name: s.name, kind: s.kind, state: s.state };
      if (s.error !== undefined) brief.error = s.error;
      return brief;
    }),
    plugins,
    classes: classesOf(services.find((s) => s.name === classifier.plugin), classifier.column),
  };
}

function storageProblemOf(value: unknown): StorageProblemFigures | null {
  if (value === null || typeof value !== "object") return null;
  const p = record(value);
  return {
    message: String(p.message ?? ""),
    since: typeof p.since === "string" ? p.since : null,
    retries: num(p.retries),
  };
}

function partitionOf(value: unknown): PartitionFigures {
  const p = record(value);
  return {
    topic: String(p.topic ?? ""),
    partition: num(p.partition),
    received: num(p.received),
    decoded: num(p.decoded),
    archived: num(p.archived),
    quarantined: num(p.quarantined),
    inFlight: num(p.inFlight),
    bytesIn: num(p.bytesIn),
    committedOffset: p.committedOffset === null || p.committedOffset === undefined
      ? null
      : String(p.committedOffset),
    lag: typeof p.lag === "number" && Number.isFinite(p.lag) ? p.lag : null,
  };
}

function hourOf(value: unknown): HourFigures {
  const h = record(value);
  return {
    topic: String(h.topic ?? ""),
    hour: String(h.hour ?? ""),
    files: num(h.files),
    alerts: num(h.alerts),
    bytes: num(h.bytes),
  };
}

function commitOf(value: unknown): CommitFigures | null {
  if (value === null || typeof value !== "object") return null;
  const c = record(value);
  return {
    at: String(c.at ?? ""),
    topic: String(c.topic ?? ""),
    partition: num(c.partition),
    offset: String(c.offset ?? ""),
  };
}

function pluginOf(service: ServiceStatus): PluginFigures {
  const d = record(service.details);
  return {
    name: service.name,
    state: typeof d.state === "string" && service.state === "running" ? d.state : service.state,
    permissions: record(d.permissions),
    batches: num(d.batches),
    rows: num(d.rows),
    errors: num(d.errors),
    lastError: typeof d.lastError === "string" ? d.lastError : service.error ?? null,
    avgMsPerBatch: typeof d.avgMsPerBatch === "number" ? d.avgMsPerBatch : null,
    batchSeconds: histogramOf(d.batchSeconds),
    restarts: num(d.restarts),
  };
}

function errorsOf(services: ServiceStatus[], archiveName: string): ServiceError[] {
  const errors: ServiceError[] = [];
  for (const s of services) {
    if (s.error !== undefined) errors.push({ service: s.name, at: null, message: s.error });
    const d = record(s.details);
    if (s.name === archiveName) {
      for (const e of array(d.errors)) {
        const r = record(e);
        if (typeof r.message === "string") {
          errors.push({
            service: s.name,
            at: typeof r.at === "string" ? r.at : null,
            message: r.message,
          });
        }
      }
    } else if (typeof d.lastError === "string" && d.lastError !== s.error) {
      errors.push({ service: s.name, at: null, message: d.lastError });
    }
  }
  return errors;
}

function classesOf(service: ServiceStatus | undefined, column: string): ClassFigures | null {
  if (service === undefined) return null;
  const summary = record(record(service.details).summary);
  const counts: Record<string, number> = {};
  for (const [value, n] of Object.entries(record(record(summary.counts)[column]))) {
    counts[value] = num(n);
  }
  return {
    plugin: service.name,
    state: service.state,
    counts,
    recent: array(summary.recent).map(record).reverse(),
  };
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : {};
}

function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function num(value: unknown): number {
  if (typeof value === "bigint") return Number(value);
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}
