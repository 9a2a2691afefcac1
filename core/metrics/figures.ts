/**
 * The figures of the running process, read from the services' typed
 * snapshots: the archive's counts, rates and lag, every plugin's counters and
 * the class counts of the classifier plugin (which plugin and column:
 * `classification.plugin` and `classification.column`).
 */
import type { ArchiveSnapshot, StorageProblem } from "../archive/service.ts";
import type { ArchiveTotals, HourCounts, LastCommit, PartitionCounts } from "../archive/stats.ts";
import type { Config } from "../config/mod.ts";
import { keyDefault } from "../config/keys.ts";
import type { HistogramSnapshot } from "../histogram.ts";
import type { PluginPermissions } from "../plugins/define.ts";
import type { PluginDetails } from "../plugins/bus.ts";
import type { RecentRow } from "../plugins/summary.ts";
import type { ServiceStatuses } from "../services/manager.ts";
import type { Service, ServiceStatus } from "../services/service.ts";

/** Alerts/s in and out of the archive, and MB/s in, over the same window (see rates.ts). */
export interface Rates {
  inPerSecond: number;
  outPerSecond: number;
  mbInPerSecond: number;
  /** Seconds between the two counter samples the rates come from (up to a minute). */
  windowSeconds: number;
}

/** Archive counts summed over every topic-partition. */
export type Totals = ArchiveTotals;

/** Counts of one topic-partition, as the archive reports them. */
export type PartitionFigures = PartitionCounts;

/** Files written into one hour folder of one topic. */
export type HourFigures = HourCounts;

/** A storage failure the archive keeps retrying. */
export type StorageProblemFigures = StorageProblem;

/** The archive's last durable commit. */
export type CommitFigures = LastCommit;

/** One plugin's counters. */
export interface PluginFigures {
  name: string;
  state: string;
  permissions: PluginPermissions;
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
  recent: RecentRow[];
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

/** The classifier of the configuration's `classification.plugin` and `classification.column`. */
export function classifierOf(config: Config): Classifier {
  return {
    plugin: config.string("classification.plugin"),
    column: config.string("classification.column"),
  };
}

/** The classifier used when none is named: the configuration keys' defaults. */
export const DEFAULT_CLASSIFIER: Classifier = {
  plugin: keyDefault("classification.plugin"),
  column: keyDefault("classification.column"),
};

/** What a plugin's figures are read from: its service's details. */
export type PluginFigureSource = Pick<
  PluginDetails,
  | "name"
  | "state"
  | "permissions"
  | "batches"
  | "rows"
  | "errors"
  | "lastError"
  | "avgMsPerBatch"
  | "batchSeconds"
  | "restarts"
  | "summary"
>;

/** What the figures are read from, at one instant. */
export interface FigureSources {
  /** Every service's status; only names, kinds, states and errors are read. */
  services: ServiceStatus[];
  /** The archive's details, when it is not stopped. */
  archive?: ArchiveSnapshot;
  /** The details of the plugin services that are not stopped. */
  plugins: PluginFigureSource[];
}

/**
 * The figure sources of one pass over the services (`manager.statuses()`): the
 * archive's and the plugins' details, typed by their services.
 */
export function figureSourcesOf(
  statuses: ServiceStatuses,
  of: { archive?: Service<ArchiveSnapshot>; plugins: Service<PluginFigureSource>[] },
): FigureSources {
  return {
    services: statuses.list,
    archive: of.archive === undefined ? undefined : statuses.of(of.archive)?.details,
    plugins: of.plugins.flatMap((service) => statuses.of(service)?.details ?? []),
  };
}

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

const NO_TOTALS: Totals = {
  received: 0,
  decoded: 0,
  archived: 0,
  quarantined: 0,
  inFlight: 0,
  buffered: 0,
  files: 0,
  bytes: 0,
};

/** Reads the figures out of the services' snapshots. */
export function figuresOf(sources: FigureSources, options: FiguresOptions = {}): Figures {
  const { services, archive } = sources;
  const archiveName = options.archive ?? "archive";
  const classifier = options.classifier ?? DEFAULT_CLASSIFIER;
  const details = new Map(sources.plugins.map((p) => [p.name, p]));
  // Copies: the archive's counters go on changing after this instant.
  const partitions = (archive?.partitions ?? []).map((p) => ({ ...p }));
  const lags = partitions.map((p) => p.lag).filter((l): l is number => l !== null);
  const plugins = services.filter((s) => s.kind === "plugin").map((s) =>
    pluginOf(s, details.get(s.name))
  );
  const classifierStatus = services.find((s) => s.name === classifier.plugin);
  return {
    t: options.now ?? Date.now(),
    rates: options.rates ?? { inPerSecond: 0, outPerSecond: 0, mbInPerSecond: 0, windowSeconds: 0 },
    totals: { ...(archive?.totals ?? NO_TOTALS) },
    lag: lags.length === 0 ? null : lags.reduce((a, b) => a + b, 0),
    partitions,
    hours: (archive?.hours ?? []).map((h) => ({ ...h })),
    lastCommit: archive?.lastCommit ?? null,
    deliverySeconds: archive?.deliverySeconds ?? null,
    connected: archive?.connected ?? false,
    storageProblem: archive?.storageProblem ?? null,
    problems: [...(archive?.problems ?? [])],
    storage: archive?.storage ?? null,
    errors: errorsOf(sources, { archiveName, details }),
    services: services.map((s) => {
      const brief: Figures["services"][number] = { name: s.name, kind: s.kind, state: s.state };
      if (s.error !== undefined) brief.error = s.error;
      return brief;
    }),
    plugins,
    classes: classifierStatus === undefined ? null : classesOf(
      classifierStatus,
      details.get(classifier.plugin),
      classifier.column,
    ),
  };
}

function pluginOf(service: ServiceStatus, d: PluginFigureSource | undefined): PluginFigures {
  return {
    name: service.name,
    state: d !== undefined && service.state === "running" ? d.state : service.state,
    permissions: d?.permissions ?? {},
    batches: d?.batches ?? 0,
    rows: d?.rows ?? 0,
    errors: d?.errors ?? 0,
    lastError: d?.lastError ?? service.error ?? null,
    avgMsPerBatch: d?.avgMsPerBatch ?? null,
    batchSeconds: d?.batchSeconds ?? null,
    restarts: d?.restarts ?? 0,
  };
}

function errorsOf(
  sources: FigureSources,
  of: { archiveName: string; details: Map<string, PluginFigureSource> },
): ServiceError[] {
  const errors: ServiceError[] = [];
  for (const s of sources.services) {
    if (s.error !== undefined) errors.push({ service: s.name, at: null, message: s.error });
    if (s.name === of.archiveName) {
      for (const e of sources.archive?.errors ?? []) {
        errors.push({ service: s.name, at: e.at, message: e.message });
      }
      continue;
    }
    const lastError = of.details.get(s.name)?.lastError;
    if (typeof lastError === "string" && lastError !== s.error) {
      errors.push({ service: s.name, at: null, message: lastError });
    }
  }
  return errors;
}

function classesOf(
  service: ServiceStatus,
  details: PluginFigureSource | undefined,
  column: string,
): ClassFigures {
  return {
    plugin: service.name,
    state: service.state,
    counts: { ...details?.summary.counts[column] },
    recent: [...(details?.summary.recent ?? [])].reverse(),
  };
}
