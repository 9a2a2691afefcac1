/**
 * The long-running process: registers the services, serves the API, leaves
 * its address in the state file, starts what was asked and runs until stopped
 * by a signal or by `deno task stop`.
 */
import { join } from "node:path";
import { type Config, ConfigError } from "../config/mod.ts";
import { createApiApp } from "../api/app.ts";
import { QueryEngine } from "../query/engine.ts";
import { createArchiveIndexer } from "../api/archive_index.ts";
import { classifierOf, figureSourcesOf } from "../metrics/figures.ts";
import { MetricsRecorder } from "../metrics/recorder.ts";
import type { PluginBus, PluginDetails } from "../plugins/bus.ts";
import type { ServiceStatus } from "../services/service.ts";
import { openStorage } from "../storage/mod.ts";
import { logger } from "../log.ts";
import { ServiceManager, type ServiceStatuses } from "../services/manager.ts";
import { ProgressStore } from "../plugins/progress.ts";
import { GroupDescriber } from "../source/group_view.ts";
import { type FilesJobSummary, filesJobSummary, waitForStreamPlugins } from "./files_job.ts";
import { registerServices } from "./service_catalog.ts";
import { clearProcessState, writeProcessState } from "./state_file.ts";

/** Options of {@link runProcess}. */
export interface RunOptions {
  /** Services to start, in order. */
  start: string[];
  /** `--source files:PATH` given to the archive. */
  source?: string;
}

const log = logger("process");

/**
 * Runs the process until it is asked to stop; resolves when everything
 * stopped, to the job's summary with a files source (null when it was
 * stopped before the end, or without one).
 */
export async function runProcess(
  config: Config,
  options: RunOptions,
): Promise<FilesJobSummary | null> {
  const host = config.string("ui.host");
  const configuredToken = config.string("ui.token");
  if (!isLoopback(host) && configuredToken === "") {
    throw new ConfigError(
      `ui.host is ${host}, which is not loopback, and ui.token is empty: ` +
        `set ui.token (or FINK_UI_TOKEN) before exposing the control API`,
    );
  }
  const token = configuredToken || crypto.randomUUID();
  const manager = new ServiceManager();
  const startedAt = new Date();
  const stopping = Promise.withResolvers<void>();
  const shutdown = () => stopping.resolve();

  const stateDir = config.string("process.state_dir");
  const { bus, archive, distribution } = await registerServices(manager, {
    config,
    source: options.source,
    archiveStarts: options.start.includes("archive"),
  });
  const metrics = await MetricsRecorder.open({
    dir: stateDir,
    read: () => figureSourcesOf(manager.statuses(), { archive, plugins: bus.services() }),
    classifier: classifierOf(config),
  });
  metrics.start();
  const archiveIndex = createArchiveIndexer(openStorage(config.string("archive.root")));
  // A files job is in no consumer group; a Kafka archive's group is described by Kafka itself.
  const describer = options.source !== undefined ? null : new GroupDescriber({
    brokers: config.list("kafka.brokers"),
    group: config.string("kafka.group"),
    clientId: config.string("kafka.client_id"),
  });
  const app = createApiApp({
    config,
    manager,
    token,
    startedAt,
    shutdown,
    metrics,
    archiveIndex,
    plugins: bus,
    query: lazyQueryEngine(config),
    distribution,
    group: describer === null ? undefined : {
      membership: () => archive.membership(),
      describe: (self) => describer.describe(self),
    },
  });
  const server = serve(app.fetch, host, config.number("ui.port"));
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${server.addr.port}`;
  await writeProcessState(stateDir, {
    pid: Deno.pid,
    url,
    token,
    startedAt: startedAt.toISOString(),
  });
  log.info("process started", { pid: Deno.pid, api: url, dashboard: `${url}/` });

  let jobError: Error | null = null;
  let summary: FilesJobSummary | null = null;
  // A signal during the stop is ignored, or it would end the process half-way: Ctrl-C under
  // `deno task` reaches it twice, from the terminal and forwarded by the task runner.
  let stoppingSince: Date | null = null;
  const onSignal = () => {
    if (stoppingSince === null) return shutdown();
    log.warn("already stopping; send SIGKILL to end the process at once", {
      since: stoppingSince.toISOString(),
    });
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await manager.start("ui");
    for (const name of options.start) {
      await manager.start(name);
      log.info("service started", { name });
    }
    if (options.source !== undefined) {
      // Archiving a folder is a job: the process ends once every file is durable and every
      // stream plugin has its results for them.
      const source = `files:${options.source}`;
      const inputs = {
        stats: archive.stats,
        progress: new ProgressStore(openStorage(config.string("science.root"))),
        plugins: () => pluginStatuses(manager.statuses(), bus),
      };
      const aborted = new AbortController();
      stopping.promise.then(() => aborted.abort());
      archive.idle().then(async () => {
        log.info("every file of the source is archived", { source: options.source });
        await waitForStreamPlugins(inputs, {
          signal: aborted.signal,
          report: (line) => log.info(line),
        });
        summary = await filesJobSummary(source, inputs);
        shutdown();
      }).catch((e) => {
        jobError = e as Error;
        shutdown();
      });
    }
    await stopping.promise;
  } finally {
    stoppingSince = new Date();
    log.info("stopping");
    try {
      bus.shutdown();
      await manager.stopAll();
      await bus.close();
      // Ends the live streams, which the server's shutdown would otherwise wait for.
      await metrics.close();
      await describer?.close();
      await server.shutdown();
      await clearProcessState(stateDir, Deno.pid);
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
    log.info("process stopped");
  }
  if (jobError !== null) throw jobError;
  return summary;
}

/** The statuses of the plugin services, with their details typed. */
function pluginStatuses(statuses: ServiceStatuses, bus: PluginBus): ServiceStatus<PluginDetails>[] {
  return bus.services().flatMap((service) => statuses.of(service) ?? []);
}

function serve(
  handler: Deno.ServeHandler,
  hostname: string,
  port: number,
): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve({ hostname, port, onListen: () => {} }, handler);
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new ConfigError(
        `Port ${port} on ${hostname} is already in use: another program holds it; ` +
          `choose another with --set ui.port=PORT`,
      );
    }
    throw e;
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

/**
 * Opens the query engine on first use, over the configured roots (local or WebHDFS; the local
 * copies of remote files go under the state folder).
 */
function lazyQueryEngine(config: Config): () => Promise<QueryEngine | null> {
  let engine: Promise<QueryEngine | null> | undefined;
  return () => {
    engine ??= QueryEngine.open({
      archiveRoot: config.string("archive.root"),
      scienceRoot: config.string("science.root"),
      cacheDir: join(config.string("process.state_dir"), "query_cache"),
    }).then((opened) => {
      opened.warm();
      return opened;
    }, (error) => {
      // Opened again on the next request rather than failing every one until a restart.
      engine = undefined;
      throw error;
    });
    return engine;
  };
}
