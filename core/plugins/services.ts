/**
 * Plugins as services of the process: one plugin host follows `plugins.dir`,
 * every plugin it knows is a service of kind "plugin" (added and removed as
 * files come and go), and {@link PluginBus.dispatch} hands each archived batch
 * to the running stream plugins.
 */
import * as arrow from "apache-arrow";
import type { Config } from "../config/mod.ts";
import { decodeToTables, type EncodeOptions } from "../archive/encoder.ts";
import { hourPathStart } from "../archive/partitioner.ts";
import { logger } from "../log.ts";
import type { ServiceManager } from "../services/manager.ts";
import type { Service, ServiceState } from "../services/service.ts";
import type { SourceMessage } from "../source/source.ts";
import { openStorage } from "../storage/mod.ts";
import { createPluginHost, type PluginHost } from "./host.ts";
import { createParquetSink } from "./results.ts";
import type { PluginEvent, PluginState } from "./runner.ts";

/** The archive's way into the plugins. */
export interface PluginBus {
  host: PluginHost;
  /** Decodes a durable batch to Arrow and queues it for every running stream plugin. */
  dispatch(messages: SourceMessage[], options: EncodeOptions): Promise<void>;
  close(): Promise<void>;
}

const log = logger("plugins");
const HOUR_MS = 3_600_000;
/** How long the archive waits for a slow plugin's queue before that plugin skips a batch. */
const READY_WAIT_MS = 2000;

const STATES: Record<PluginState, ServiceState> = {
  starting: "starting",
  running: "running",
  restarting: "starting",
  stopped: "stopped",
  failed: "failed",
};

/** Starts the plugin host and registers each plugin as a service. */
export async function registerPluginServices(
  manager: ServiceManager,
  config: Config,
): Promise<PluginBus> {
  // Events arrive while the host is still loading the first plugins.
  let host: PluginHost | null = null;
  const register = (name: string) => {
    if (host !== null && !manager.has(name)) manager.register(pluginService(host, name));
  };
  const onEvent = (event: PluginEvent) => {
    if (event.event === "loaded" || event.event === "failed") register(event.plugin);
    if (event.event === "removed") manager.unregister(event.plugin).catch(() => {});
    if (event.event === "batch") return;
    const fields = { plugin: event.plugin, message: event.message };
    if (["failed", "error", "sink_error", "dropped"].includes(event.event)) {
      log.warn(event.event, fields);
    } else {
      log.info(event.event, fields);
    }
  };
  await Deno.mkdir(config.string("plugins.dir"), { recursive: true });
  host = await createPluginHost({
    dir: config.string("plugins.dir"),
    configs: config.plugins,
    budgetMs: config.number("plugins.budget_ms"),
    sink: createParquetSink({
      scienceRoot: "",
      storage: openStorage(config.string("science.root")),
    }),
    onEvent,
  });
  const ready = host;
  for (const plugin of ready.list()) register(plugin.name);
  return {
    host: ready,
    dispatch: (messages, options) => dispatchBatch(ready, messages, options),
    close: () => ready.close(),
  };
}

function pluginService(host: PluginHost, name: string): Service {
  const status = () => host.list().find((p) => p.name === name);
  return {
    name,
    kind: "plugin",
    get description() {
      return status()?.description ?? "plugin";
    },
    start: () => host.start(name),
    stop: () => Promise.resolve(host.stop(name)),
    state() {
      const s = status();
      if (s === undefined) return { state: "stopped" };
      return { state: STATES[s.state], error: s.lastError ?? undefined };
    },
    details() {
      const s = status();
      return s === undefined ? {} : { ...s, summary: host.summary(name) };
    },
  };
}

async function dispatchBatch(
  host: PluginHost,
  messages: SourceMessage[],
  options: EncodeOptions,
): Promise<void> {
  const wanted = host.list().some((p) => p.kind === "stream" && p.state === "running");
  if (!wanted || messages.length === 0) return;
  const decoded = await decodeToTables(messages, options);
  const { topic, partition } = messages[0];
  // One dispatch per schema (rows of every hour together), not per hour file: a
  // batch of late alerts spans many hours and would fill the plugins' queues.
  const bySchema = new Map<string, typeof decoded.tables>();
  for (const t of decoded.tables) {
    if (t.ids === undefined || hourPathStart(t.hour) === null) continue;
    bySchema.set(t.schemaKey, [...(bySchema.get(t.schemaKey) ?? []), t]);
  }
  for (const tables of bySchema.values()) {
    await waitForRoom(host);
    const hours = tables.flatMap((t) =>
      new Array<number>(t.rows).fill(hourPathStart(t.hour)! / HOUR_MS)
    );
    host.dispatch({
      table: new arrow.Table(tables[0].table.schema, tables.flatMap((t) => t.table.batches)),
      topic,
      partition,
      startOffset: tables.reduce(
        (m, t) => (t.startOffset < m ? t.startOffset : m),
        tables[0].startOffset,
      ),
      endOffset: tables.reduce((m, t) => (t.endOffset > m ? t.endOffset : m), tables[0].endOffset),
      ids: tables.flatMap((t) => [...t.ids!]),
      eventHours: hours,
    });
  }
}

/** Waits until every plugin has room, but not longer than a slow plugin deserves. */
async function waitForRoom(host: PluginHost): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    host.ready(),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, READY_WAIT_MS))),
  ]);
  clearTimeout(timer);
}
