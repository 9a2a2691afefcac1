/**
 * The `distribute` service: the filters (SQL and plugins), the transactional
 * publisher and the distribution loop, woken by every batch the archive
 * commits (whose bytes it keeps, within `distribution.buffer_mb`) and every
 * `distribution.poll_ms`. With `distribution.brokers` empty it publishes to
 * the embedded broker at `simulator.host:port`, starting one there when none
 * answers. It distributes the source partitions this process's archive owns
 * (every one when the process has no archive); at each change it takes them
 * over again (each partition's transactional id initialized anew, fencing the
 * process that had it) and reads their progress again.
 */
import { join } from "node:path";
import { availableParallelism } from "node:os";
import type { Config } from "../config/mod.ts";
import { logger } from "../log.ts";
import type { ArchiveConsumer } from "../archive/consumers.ts";
import { listArchivedFiles, listTopics } from "../archive/reader.ts";
import type { PluginBus } from "../plugins/bus.ts";
import { ProgressStore } from "../plugins/progress.ts";
import type { Service } from "../services/service.ts";
import { LocalStorage, openStorage } from "../storage/mod.ts";
import type { Storage } from "../storage/storage.ts";
import type { PublishedAlert } from "./alert_encoder.ts";
import { Distributor } from "./distributor.ts";
import { AlertEncoderPool } from "./encoder_pool.ts";
import { FilterEngine, parquetSource } from "./filter_engine.ts";
import { FilterRegistry } from "./filter_registry.ts";
import { pluginFilters } from "./plugin_filter_host.ts";
import {
  EMBEDDED_REQUEST_BYTES,
  PartitionFencedError,
  TransactionalPublisher,
} from "./publisher.ts";
import { RecentFiles } from "./recent_files.ts";
import { scienceFilesFor, sciencePlugins } from "./science_files.ts";
import { type FilterDefinition, parseDefinition } from "./sql_filter.ts";
import { FilterCounters, type FilterFigures } from "./status.ts";
import { Ownership } from "../archive/ownership.ts";

const log = logger("distribution");

/** The distribution's details. */
export interface DistributionDetails {
  /** Archived alerts not yet distributed, over every topic-partition; null when it is not running. */
  lag: number | null;
  /** The last round's error, null when it went through. */
  error: string | null;
  filters: FilterFigures[];
}

/**
 * The distribution service, with what the API needs of it; one of the archive's
 * consumers: each committed batch wakes its loop, and the batch's bytes are kept
 * for it when the archive is not on local disk (see {@link ArchiveConsumer.onArchived}).
 */
export interface DistributionService extends Service<DistributionDetails>, ArchiveConsumer {
  readonly name: "distribute";
  details(): DistributionDetails;
  /** Figures of every filter (empty before the first start). */
  figures(): FilterFigures[];
  /** Checks and adds (or replaces) a filter; throws FilterError naming it and the reason. */
  define(name: string, body: unknown): Promise<FilterDefinition>;
  /** Removes a filter; false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Last alerts published per filter. */
  recent(): Record<string, PublishedAlert[]>;
}

/** Declared science columns as DuckDB struct types per plugin. */
export function declaredScience(columns: string[]): Record<string, string> {
  const byPlugin = new Map<string, string[]>();
  for (const entry of columns) {
    const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+)\s+(.+)$/.exec(entry.trim());
    if (m === null) {
      throw new Error(
        `distribution.science_columns entry ${
          JSON.stringify(entry)
        } is invalid: expected "<plugin>.<column> <SQL type>"`,
      );
    }
    byPlugin.set(m[1], [...byPlugin.get(m[1]) ?? [], `"${m[2]}" ${m[3]}`]);
  }
  return Object.fromEntries([...byPlugin].map(([p, cols]) => [p, `STRUCT(${cols.join(", ")})`]));
}

/** Options of {@link createDistributionService}. */
export interface DistributionServiceOptions {
  /** The source partitions to distribute (the archive's); default every one. */
  ownership?: Ownership;
}

/** The `distribute` service built from the configuration; filter plugins come from `bus`. */
export function createDistributionService(
  config: Config,
  bus?: PluginBus,
  options: DistributionServiceOptions = {},
): DistributionService {
  const ownership = options.ownership ?? new Ownership();
  const archive = openStorage(config.string("archive.root"));
  const science = openStorage(config.string("science.root"));
  const progress = new ProgressStore(science);
  const counters = new FilterCounters();
  const prefix = config.string("distribution.topic_prefix");
  const survey = config.string("distribution.survey");
  const topicOf = (name: string) => `${prefix}${name}_${survey}`;
  const declared = declaredScience(config.list("distribution.science_columns"));
  let registry: FilterRegistry | null = null;
  let publisher: TransactionalPublisher | null = null;
  let embedded: { close(): Promise<void> } | null = null;
  let distributor: Distributor | null = null;
  let engine: FilterEngine | null = null;
  let encoders: AlertEncoderPool | null = null;
  // A local archive is read where it lies (DuckDB links its files, the Workers read them);
  // another one (WebHDFS) would be read over the network, so the archive's bytes are kept.
  const held = archive instanceof LocalStorage
    ? undefined
    : new RecentFiles(config.number("distribution.buffer_mb") * 1_048_576);
  let loop: Promise<void> | null = null;
  let running = false;
  let stopping: AbortController | null = null;
  let wake: (() => void) | null = null;
  let lastError: string | null = null;
  /** Ownership changed: the producers are initialized again before the next round. */
  let reassigned = false;
  ownership.onChange(() => {
    distributor?.reassign();
    reassigned = true;
    wake?.();
  });
  const recent = new Map<string, PublishedAlert[]>();
  const plugins = bus === undefined
    ? undefined
    : pluginFilters(bus, config.number("distribution.plugin_wait_s") * 1000);

  const openRegistry = async () =>
    registry ??= await FilterRegistry.open({
      defaults: config.bool("distribution.default_filters"),
      configured: config.filters,
      file: join(config.string("process.state_dir"), "filters.json"),
    });

  async function brokers(): Promise<string[]> {
    const listed = config.list("distribution.brokers");
    if (listed.length > 0) return listed;
    const host = config.string("simulator.host");
    const port = config.number("simulator.port");
    try {
      (await Deno.connect({ hostname: host, port })).close();
    } catch {
      const { startBroker } = await import("../../simulator/broker/mod.ts");
      embedded = await startBroker({
        host,
        port,
        dataDir: config.bool("simulator.in_memory") ? null : config.string("simulator.data_dir"),
      });
      log.info("embedded broker started for the distribution", { address: `${host}:${port}` });
    }
    return [`${host}:${port}`];
  }

  async function run(signal: AbortSignal): Promise<void> {
    while (running) {
      try {
        if (reassigned) {
          reassigned = false;
          await publisher!.release();
        }
        await distributor!.round(signal);
        lastError = null;
      } catch (error) {
        if (error instanceof PartitionFencedError) {
          // Another node distributes that partition now; this one goes on with the others.
          log.warn("fenced: cannot publish this round", { error: error.message });
        } else {
          lastError = (error as Error).message;
          log.error("distribution round failed; retrying", { error: lastError });
        }
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, config.number("distribution.poll_ms"));
        function done() {
          clearTimeout(timer);
          wake = null;
          resolve();
        }
        wake = done;
      });
    }
  }

  return {
    name: "distribute",
    kind: "builtin",
    description: "Publishes the alerts each filter passes to Kafka, exactly once",
    async start() {
      const filters = await openRegistry();
      publisher = await TransactionalPublisher.connect({
        brokers: await brokers(),
        requestBytes: config.list("distribution.brokers").length === 0
          ? EMBEDDED_REQUEST_BYTES
          : config.number("distribution.request_kb") * 1000,
        transactionalId: config.string("distribution.transactional_id"),
        group: config.string("distribution.group"),
        progressTopic: config.string("distribution.progress_topic"),
        partitions: config.number("distribution.partitions"),
      });
      await publisher.ensureTopics(filters.list().map((f) => topicOf(f.name)));
      engine = await FilterEngine.open(config.string("process.state_dir"));
      encoders = new AlertEncoderPool(
        config.number("distribution.workers") || availableParallelism(),
      );
      distributor = new Distributor({
        engine,
        encoders,
        recent: held,
        pluginFilters: plugins,
        archive,
        science,
        sink: publisher,
        filters: () => filters.list(),
        counters,
        topicOf,
        absent: declared,
        scienceWaitMs: config.number("distribution.science_wait_s") * 1000,
        scienceProgress: (plugin) => progress.streamProgress(plugin),
        owns: (tp) => ownership.owns(tp),
        inPlace: (tp) => ownership.inPlace(tp),
        onPublished: (filter, alerts) => {
          const list = [...alerts, ...recent.get(filter) ?? []].slice(0, 10);
          recent.set(filter, list);
        },
        log: (message, fields) => log.warn(message, fields),
      });
      running = true;
      stopping = new AbortController();
      loop = run(stopping.signal);
      log.info("distribution started", {
        filters: filters.list().map((f) => f.name),
        plugins: plugins?.().map((p) => p.name) ?? [],
      });
    },
    async stop() {
      running = false;
      stopping?.abort();
      wake?.();
      await loop;
      loop = null;
      await publisher?.close();
      publisher = null;
      encoders?.close();
      encoders = null;
      held?.clear();
      await engine?.close();
      engine = null;
      await embedded?.close();
      embedded = null;
    },
    details() {
      const lag = [...distributor?.lag.values() ?? []].reduce((a, b) => a + b, 0n);
      return { lag: running ? Number(lag) : null, error: lastError, filters: this.figures() };
    },
    figures() {
      const sql = registry?.list().map((f) => ({ name: f.name, where: f.where })) ?? [];
      const running = plugins?.().map((p) => ({ name: p.name, where: `plugin ${p.name}` })) ?? [];
      return counters.figures([...sql, ...running].map((f) => ({ ...f, topic: topicOf(f.name) })));
    },
    async define(name, body) {
      const filter = parseDefinition(name, body);
      await checkAgainstArchive({ archive, science, filter, declared, engine });
      await (await openRegistry()).put(filter);
      await publisher?.ensureTopics([topicOf(filter.name)]);
      return filter;
    },
    async remove(name) {
      return await (await openRegistry()).remove(name);
    },
    recent: () => Object.fromEntries(recent),
    onArchived(batch) {
      if (running) held?.offer(batch);
      wake?.();
    },
  };
}

/** What {@link checkAgainstArchive} checks a filter against. */
interface CheckSources {
  archive: Storage;
  science: Storage;
  filter: FilterDefinition;
  declared: Record<string, string>;
  /** The running distribution's engine; a short-lived one otherwise. */
  engine: FilterEngine | null;
}

/**
 * Checks a filter against the columns of the most recent archived file and
 * its science results; an empty archive accepts it unchecked (it is checked
 * on the first batch, and reported by name if it fails there).
 */
async function checkAgainstArchive(sources: CheckSources): Promise<void> {
  const { archive, science, filter, declared } = sources;
  let latest = null;
  for (const topic of await listTopics(archive)) {
    const files = await listArchivedFiles(archive, topic);
    const last = files[files.length - 1];
    if (last !== undefined && (latest === null || last.hour >= latest.hour)) latest = last;
  }
  if (latest === null) return;
  const found = await scienceFilesFor(science, await sciencePlugins(science), latest);
  const results = [];
  for (const { plugin, paths } of found) {
    if (paths.length === 0) continue;
    results.push({ plugin, files: await Promise.all(paths.map((p) => parquetSource(science, p))) });
  }
  const absent = { ...declared };
  for (const r of results) delete absent[r.plugin];
  const engine = sources.engine ?? await FilterEngine.open();
  try {
    await engine.check(filter, {
      parquet: await parquetSource(archive, latest.path),
      results,
      absent,
      fromOffset: 0n,
      toOffset: 0n,
    });
  } finally {
    if (engine !== sources.engine) await engine.close();
  }
}
