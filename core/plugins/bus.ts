/**
 * Plugins as services of the process: one plugin host follows `plugins.dir`,
 * every plugin it knows is a service of kind "plugin" (added and removed as
 * files come and go). Stream plugins are fed from the archive (feed.ts): each
 * batch the archive commits is read back from its Parquet files, and a plugin
 * that is behind catches up from them. Batch plugins run over archived hours
 * on demand and, while started, on a schedule (hour_runs.ts).
 */
import { resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import { type Fields, logger } from "../log.ts";
import type { ServiceManager } from "../services/manager.ts";
import type { Service, ServiceState } from "../services/service.ts";
import { openStorage } from "../storage/mod.ts";
import type { ArchiveConsumer, ArchivedBatch } from "../archive/consumers.ts";
import { BUILT_IN_NAMES } from "./consent.ts";
import { type FeedStatus, StreamFeed } from "./feed.ts";
import { createPluginHost, type PluginHost } from "./host.ts";
import type { HourRange } from "../archive/hour_range.ts";
import { type HourJobStatus, HourRuns } from "./hour_runs.ts";
import { ProgressStore } from "./progress.ts";
import type { Ownership } from "../archive/ownership.ts";
import { createParquetSink } from "./results.ts";
import type { PluginState } from "./lifecycle.ts";
import type { PluginEvent, PluginStatus } from "./runner.ts";
import type { PluginSummary } from "./summary.ts";

/** A plugin service's details: the host's status of the plugin, its results' summary, its runs. */
export interface PluginDetails extends PluginStatus {
  summary: PluginSummary;
  /** How the archive feeds it (stream plugins, while fed). */
  feed?: FeedStatus;
  /** Its current or last run over hours (batch plugins). */
  hours?: HourJobStatus;
}

/** The archive's way into the plugins: one of the archive's consumers. */
export interface PluginBus extends ArchiveConsumer {
  readonly name: "plugins";
  host: PluginHost;
  /** The plugin services registered with the manager, for their typed details. */
  services(): Service<PluginDetails>[];
  /** Hands a batch the archive has just committed to the stream plugins; never waits for them. */
  onArchived(batch: ArchivedBatch): Promise<void>;
  /** Runs a batch plugin over archived hours, starting it for the run when it is stopped. */
  runHours(name: string, range: HourRange): Promise<HourJobStatus>;
  /** The plugin's current or last run over hours, if any. */
  hoursStatus(name: string): HourJobStatus | undefined;
  /** Calls `listener` with every plugin event from now on; the returned function stops it. */
  subscribe(listener: (event: PluginEvent) => void): () => void;
  /**
   * The process is stopping: the stream plugins stopped from now on share one wait of
   * `plugins.stop_wait_s` (from the first of them) instead of one each.
   */
  shutdown(): void;
  close(): Promise<void>;
}

/** Options of {@link startPluginBus}. */
export interface PluginBusOptions {
  /** Start stream plugins as they are found and follow the folder. Default true. */
  live?: boolean;
  /** Names no plugin may take; default the built-in services of consent.ts. */
  reservedNames?(): readonly string[];
  /** The plugin services registered for the bus (see {@link registerPluginServices}); default none. */
  services?(): Service<PluginDetails>[];
  /** The partitions whose batches stream plugins are fed (the archive's); default every one. */
  ownership?: Ownership;
}

const log = logger("plugins");

const STATES: Record<PluginState, ServiceState> = {
  starting: "starting",
  running: "running",
  restarting: "starting",
  stopped: "stopped",
  failed: "failed",
};

/** Starts the plugin bus and registers each plugin as a service of `manager`. */
export async function registerPluginServices(
  manager: ServiceManager,
  config: Config,
  options: Pick<PluginBusOptions, "ownership"> = {},
): Promise<PluginBus> {
  // Events arrive while the host is still loading the first plugins.
  let bus: (PluginBus & Internals) | null = null;
  // Only services registered here are ever unregistered here: removing a plugin file can
  // stop that plugin and nothing else, whatever name it claims.
  const ours = new Map<string, Service<PluginDetails>>();
  const register = (name: string) => {
    // A file named like a built-in (archive.ts) is refused; it must not take the name either,
    // even before the built-in service is registered.
    if (bus === null || manager.has(name) || BUILT_IN_NAMES.includes(name)) return;
    const service = pluginService(bus, name);
    manager.register(service);
    ours.set(name, service);
  };
  const reservedNames = () => [
    ...BUILT_IN_NAMES,
    ...manager.names().filter((name) => !ours.has(name)),
  ];
  const services = () => [...ours.values()];
  bus = await startPluginBus(
    config,
    { reservedNames, services, ownership: options.ownership },
    (event) => {
      if (event.event === "loaded" || event.event === "failed") register(event.plugin);
      if (event.event === "removed" && ours.delete(event.plugin)) {
        manager.unregister(event.plugin).catch(() => {});
      }
    },
  );
  for (const plugin of bus.host.list()) register(plugin.name);
  return bus;
}

interface Internals {
  feed: StreamFeed;
  hours: HourRuns;
  /** Whether stopping the plugin should wait for it: it runs and has not failed since its last batch. */
  progressing(name: string): boolean;
  /** Until when stopping a stream plugin may wait for it to catch up (epoch ms). */
  stopDeadline(): number;
}

/**
 * Starts the plugin host with its archive feed and hour runs. `onEvent` sees
 * every host event after the bus did.
 */
export async function startPluginBus(
  config: Config,
  options: PluginBusOptions = {},
  onEvent: (event: PluginEvent) => void = () => {},
): Promise<PluginBus & Internals> {
  const archive = openStorage(config.string("archive.root"));
  const science = openStorage(config.string("science.root"));
  const progress = new ProgressStore(science);
  const feedLog = (message: string, fields: Fields) => log.info(message, fields);
  let feed: StreamFeed | null = null;
  let hours: HourRuns | null = null;
  const early: PluginEvent[] = [];
  // Plugins whose last outcome was a failure: a stop never waits for them to catch up.
  const failing = new Set<string>();
  const listeners = new Set<(event: PluginEvent) => void>();
  const handle = (event: PluginEvent) => {
    if (feed === null || hours === null) {
      early.push(event);
      return;
    }
    if (event.event === "error" || event.event === "failed") failing.add(event.plugin);
    if (["batch", "loaded", "removed"].includes(event.event)) failing.delete(event.plugin);
    feed.onEvent(event);
    hours.onEvent(event);
    onEvent(event);
    for (const listener of listeners) listener(event);
    logEvent(event);
  };
  await Deno.mkdir(config.string("plugins.dir"), { recursive: true });
  const host = await createPluginHost({
    dir: config.string("plugins.dir"),
    configs: config.plugins,
    budgetMs: config.number("plugins.budget_ms"),
    memoryMb: config.number("plugins.memory_mb"),
    maxResultMb: config.number("plugins.max_result_mb"),
    reservedNames: options.reservedNames,
    // The control token lives in the state folder and may be in the config file (ui.token).
    deny: [
      resolve(config.string("process.state_dir")),
      ...(config.file === null ? [] : [resolve(config.file)]),
    ],
    queueLimit: config.number("plugins.queue_limit"),
    autoStart: options.live !== false,
    watch: options.live !== false,
    sink: createParquetSink({
      storage: science,
      // Results sit in the same hour folders as the archive files their rows come from.
      layout: config.choice("archive.layout"),
    }),
    onEvent: handle,
  });
  const chunkRows = config.number("plugins.chunk_alerts");
  feed = new StreamFeed({
    host,
    archive,
    progress,
    chunkRows,
    log: feedLog,
    ownership: options.ownership,
  });
  hours = new HourRuns({
    host,
    archive,
    progress,
    chunkRows,
    closedAfterMs: config.number("archive.compact_after_minutes") * 60_000,
    everyMs: config.number("plugins.batch_every_s") * 1000,
    schedule: options.live !== false,
    log: feedLog,
  });
  for (const event of early.splice(0)) handle(event);
  const ready = { host, feed, hours };
  const stopWaitMs = config.number("plugins.stop_wait_s") * 1000;
  let shutdownDeadline: number | null = null;
  let shuttingDown = false;
  return {
    ...ready,
    progressing(name) {
      const state = host.list().find((p) => p.name === name)?.state;
      return (state === "running" || state === "starting") && !failing.has(name);
    },
    stopDeadline() {
      if (!shuttingDown) return Date.now() + stopWaitMs;
      shutdownDeadline ??= Date.now() + stopWaitMs;
      return shutdownDeadline;
    },
    shutdown() {
      shuttingDown = true;
    },
    name: "plugins",
    services: () => options.services?.() ?? [],
    onArchived: (batch) => ready.feed.onArchived(batch),
    runHours: (name, range) => runHours(ready, name, range),
    hoursStatus: (name) => ready.hours.status(name),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      await ready.feed.close();
      await ready.hours.close();
      await ready.host.close();
    },
  };
}

async function runHours(
  bus: { host: PluginHost; hours: HourRuns },
  name: string,
  range: HourRange,
): Promise<HourJobStatus> {
  const status = bus.host.list().find((p) => p.name === name);
  if (status === undefined) {
    const known = bus.host.list().map((p) => p.name).join(", ") || "none";
    throw new Error(`No plugin named "${name}" (known: ${known})`);
  }
  if (status.kind !== "batch") {
    throw new Error(
      `Plugin ${name} is a ${status.kind || "not loaded"} plugin; ` +
        `hour ranges run batch plugins (kind: "batch")`,
    );
  }
  const wasRunning = status.state === "running" || status.state === "starting";
  const job = await bus.hours.run(name, range, {
    async before() {
      if (wasRunning) return;
      bus.hours.oneOff(name);
      await bus.host.start(name);
      const after = bus.host.list().find((p) => p.name === name);
      if (after?.state !== "running") {
        throw new Error(`Plugin ${name} did not start: ${after?.lastError ?? after?.state}`);
      }
    },
  });
  if (!wasRunning) {
    // Started for this run only: stopped again once it is over.
    bus.hours.finished(name).then(() => {
      if (bus.host.list().some((p) => p.name === name)) bus.host.stop(name);
    });
  }
  return job;
}

/**
 * Runs a batch plugin over archived hours in this process (no running process
 * needed), reporting progress through `report`; resolves to the final status.
 */
export async function runBatchPlugin(
  config: Config,
  name: string,
  range: HourRange,
  report: (status: HourJobStatus) => void,
): Promise<HourJobStatus> {
  const bus = await startPluginBus(config, { live: false });
  const timer = setInterval(() => {
    const status = bus.hours.status(name);
    if (status !== undefined) report(status);
  }, 1000);
  try {
    await runHours(bus, name, range);
    return (await bus.hours.finished(name))!;
  } finally {
    clearInterval(timer);
    await bus.close();
  }
}

function pluginService(bus: PluginBus & Internals, name: string): Service<PluginDetails> {
  const { host } = bus;
  const status = () => host.list().find((p) => p.name === name);
  return {
    name,
    kind: "plugin",
    get description() {
      return status()?.description ?? "plugin";
    },
    start: () => host.start(name),
    async stop() {
      // A stream plugin finishes what the archive committed, within a bound; one still
      // loading its process (a short job can end before it is up) is waited for as well.
      // One that is failing (restarting, refused, or failed since its last batch) may never
      // catch up: it is not waited for, and its progress says where the next run resumes.
      if (status()?.kind === "stream" && bus.progressing(name)) {
        const waitMs = Math.max(0, bus.stopDeadline() - Date.now());
        const caughtUp = await bus.feed.drain(waitMs, name, { while: () => bus.progressing(name) });
        if (!caughtUp) {
          log.warn("stopping a plugin that has not caught up; its next run resumes there", {
            plugin: name,
            waitedMs: waitMs,
            behind: bus.feed.status(name)?.behind,
          });
        }
      }
      host.stop(name);
    },
    state() {
      const s = status();
      if (s === undefined) return { state: "stopped" };
      return { state: STATES[s.state], error: s.lastError ?? undefined };
    },
    details(): PluginDetails | undefined {
      const s = status();
      if (s === undefined) return undefined;
      const feed = bus.feed.status(name);
      const hours = bus.hours.status(name);
      return {
        ...s,
        summary: host.summary(name),
        ...(feed === undefined ? {} : { feed }),
        ...(hours === undefined ? {} : { hours }),
      };
    },
  };
}

function logEvent(event: PluginEvent): void {
  if (event.event === "batch") return;
  const fields = { plugin: event.plugin, message: event.message };
  if (["failed", "error", "sink_error", "dropped"].includes(event.event)) {
    log.warn(event.event, fields);
  } else {
    log.info(event.event, fields);
  }
}
