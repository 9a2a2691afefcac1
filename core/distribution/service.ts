/**
 * The `distribute` service: the filters, the transactional publisher and the
 * distribution loop, woken by every batch the archive commits and every
 * `distribution.poll_ms`. With `distribution.brokers` empty it publishes to
 * the embedded broker at `simulator.host:port`, starting one there when none
 * answers. It distributes the source partitions this process's archive owns
 * (every one when the process has no archive); at each change it takes them
 * over again (each partition's transactional id initialized anew, fencing the
 * process that had it) and reads their progress again.
 */
import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { logger } from "../log.ts";
import { listArchivedFiles, listTopics } from "../archive/reader.ts";
import { ProgressStore } from "../plugins/progress.ts";
import type { Service } from "../services/service.ts";
import { openStorage } from "../storage/mod.ts";
import type { Storage } from "../storage/storage.ts";
import { openBatchTable } from "./batch_table.ts";
import { Distributor } from "./distributor.ts";
import { FilterRegistry } from "./filter_registry.ts";
import { PartitionFencedError, TransactionalPublisher } from "./publisher.ts";
import { scienceFilesFor, sciencePlugins } from "./science_files.ts";
import { checkFilter, type FilterDefinition, parseDefinition } from "./sql_filter.ts";
import { FilterCounters, type FilterFigures } from "./status.ts";
import { Ownership } from "../archive/ownership.ts";

const log = logger("distribution");

/** The distribution service, with what the API needs of it. */
export interface DistributionService extends Service {
  /** Figures of every filter (empty before the first start). */
  figures(): FilterFigures[];
  /** Checks and adds (or replaces) a filter; throws FilterError naming it and the reason. */
  define(name: string, body: unknown): Promise<FilterDefinition>;
  /** Removes a filter; false when unknown. */
  remove(name: string): Promise<boolean>;
  /** Last alerts published per filter. */
  recent(): Record<string, Record<string, unknown>[]>;
  /** Wakes the loop: the archive committed a batch. */
  wake(): void;
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

/** The `distribute` service built from the configuration. */
export function createDistributionService(
  config: Config,
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
  const recent = new Map<string, Record<string, unknown>[]>();

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
        transactionalId: config.string("distribution.transactional_id"),
        group: config.string("distribution.group"),
        progressTopic: config.string("distribution.progress_topic"),
        partitions: config.number("distribution.partitions"),
      });
      await publisher.ensureTopics(filters.list().map((f) => topicOf(f.name)));
      distributor = new Distributor({
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
        onPublished: (filter, alerts) => {
          const list = [...alerts, ...recent.get(filter) ?? []].slice(0, 10);
          recent.set(filter, list);
        },
        log: (message, fields) => log.warn(message, fields),
      });
      running = true;
      stopping = new AbortController();
      loop = run(stopping.signal);
      log.info("distribution started", { filters: filters.list().map((f) => f.name) });
    },
    async stop() {
      running = false;
      stopping?.abort();
      wake?.();
      await loop;
      loop = null;
      await publisher?.close();
      publisher = null;
      await embedded?.close();
      embedded = null;
    },
    details() {
      const lag = [...distributor?.lag.values() ?? []].reduce((a, b) => a + b, 0n);
      return { lag: running ? Number(lag) : null, error: lastError, filters: this.figures() };
    },
    figures() {
      return counters.figures(
        registry?.list().map((f) => ({ name: f.name, where: f.where, topic: topicOf(f.name) })) ??
          [],
      );
    },
    async define(name, body) {
      const filter = parseDefinition(name, body);
      await checkAgainstArchive(archive, science, filter, declared);
      await (await openRegistry()).put(filter);
      await publisher?.ensureTopics([topicOf(filter.name)]);
      return filter;
    },
    async remove(name) {
      return await (await openRegistry()).remove(name);
    },
    recent: () => Object.fromEntries(recent),
    wake: () => wake?.(),
  };
}

/**
 * Checks a filter against the columns of the most recent archived file and
 * its science results; an empty archive accepts it unchecked (it is checked
 * on the first batch, and reported by name if it fails there).
 */
async function checkAgainstArchive(
  archive: Storage,
  science: Storage,
  filter: FilterDefinition,
  declared: Record<string, string>,
): Promise<void> {
  let latest = null;
  for (const topic of await listTopics(archive)) {
    const files = await listArchivedFiles(archive, topic);
    const last = files[files.length - 1];
    if (last !== undefined && (latest === null || last.hour >= latest.hour)) latest = last;
  }
  if (latest === null) return;
  const results = await scienceFilesFor(science, await sciencePlugins(science), latest);
  const absent = { ...declared };
  for (const r of results) if (r.paths.length > 0) delete absent[r.plugin];
  const table = await openBatchTable({
    archive,
    file: latest.path,
    science,
    results,
    absent,
    fromOffset: 0n,
    toOffset: 0n,
  });
  try {
    await checkFilter(filter, table);
  } finally {
    table.close();
  }
}
